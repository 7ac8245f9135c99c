"""What the engine needs from a source, and the registry that maps names to modules.

Modules are imported only when a run uses them, so `collector --help` never pays for an HTTP
client it does not need.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from collector_cli.errors import UsageError
from collector_cli.models import Category, ListingPage, ListingQuery, ProductPage


@dataclass(frozen=True, slots=True)
class SourceContext:
    """Everything a source may depend on besides the query itself."""

    epoch: int
    options: dict[str, Any] = field(default_factory=dict)


class ProductSource(Protocol):
    name: str

    async def product_page(self, category: Category, page: int) -> ProductPage: ...

    async def aclose(self) -> None: ...


class ListingSource(Protocol):
    name: str
    platform: str

    async def search(self, query: ListingQuery) -> ListingPage: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceInfo:
    name: str
    target: str  # "module:factory"
    description: str
    needs: str
    cost: str


PRODUCT_SOURCES: dict[str, SourceInfo] = {}
LISTING_SOURCES: dict[str, SourceInfo] = {}


def register(registry: dict[str, SourceInfo], info: SourceInfo) -> None:
    registry[info.name] = info


def _load(registry: dict[str, SourceInfo], kind: str, name: str, ctx: SourceContext) -> Any:
    info = registry.get(name)
    if info is None:
        raise UsageError(
            f"unknown {kind} source {name!r} (available: {', '.join(sorted(registry))})"
        )
    module_name, factory = info.target.split(":")
    return getattr(importlib.import_module(module_name), factory)(ctx)


def product_source(name: str, ctx: SourceContext) -> ProductSource:
    return _load(PRODUCT_SOURCES, "product", name, ctx)


def listing_source(name: str, ctx: SourceContext) -> ListingSource:
    return _load(LISTING_SOURCES, "listing", name, ctx)


def check_options(name: str, registry_kind: str, options: dict[str, Any]) -> None:
    """Let a source reject bad settings before a run row exists (no I/O happens here)."""
    registry = PRODUCT_SOURCES if registry_kind == "product" else LISTING_SOURCES
    module_name, factory = registry[name].target.split(":")
    check = getattr(getattr(importlib.import_module(module_name), factory), "check_options", None)
    if check is not None:
        check(options)


def check_names(product: str, listing: str) -> None:
    for registry, kind, name in (
        (PRODUCT_SOURCES, "product", product),
        (LISTING_SOURCES, "listing", listing),
    ):
        if name not in registry:
            raise UsageError(
                f"unknown {kind} source {name!r} (available: {', '.join(sorted(registry))})"
            )


register(
    PRODUCT_SOURCES,
    SourceInfo(
        "sample",
        "collector_cli.sources.sample:SampleMarketplace",
        "built-in offline marketplace: deterministic best-seller lists",
        "nothing",
        "free",
    ),
)
register(
    LISTING_SOURCES,
    SourceInfo(
        "sample",
        "collector_cli.sources.sample:SampleMarketplace",
        "built-in offline marketplace: deterministic listing search with filters",
        "nothing",
        "free",
    ),
)
