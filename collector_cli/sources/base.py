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
from collector_cli.sources.usage import UsageMeter


@dataclass(frozen=True, slots=True)
class SourceContext:
    """Everything a source may depend on besides the query itself."""

    epoch: int
    options: dict[str, Any] = field(default_factory=dict)
    meter: UsageMeter | None = None  # where requests and cost are counted
    categories: tuple[str, ...] = ()  # the run's category ids, in the preset's order


class ProductSource(Protocol):
    name: str
    call_cost_micros: int  # the most one call can cost: --max-cost reserves it beforehand

    async def product_page(self, category: Category, page: int) -> ProductPage: ...

    async def aclose(self) -> None: ...


class ListingSource(Protocol):
    name: str
    platform: str
    call_cost_micros: int

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


def _info(registry: dict[str, SourceInfo], kind: str, name: str) -> SourceInfo:
    """The registration of ``name``; an unknown name is the user's typo (exit 2)."""
    info = registry.get(name)
    if info is None:
        raise UsageError(
            f"unknown {kind} source {name!r} (available: {', '.join(sorted(registry))})"
        )
    return info


def _factory(registry: dict[str, SourceInfo], kind: str, name: str) -> Any:
    """The class registered as ``name``, imported only now (no HTTP client at start-up)."""
    module_name, factory = _info(registry, kind, name).target.split(":")
    return getattr(importlib.import_module(module_name), factory)


def check_options(name: str, registry_kind: str, options: dict[str, Any]) -> None:
    """Let a source reject bad settings before a run row exists (no I/O happens here)."""
    validate_options(source_class(name, registry_kind), options)


def validate_options(factory: Any, options: dict[str, Any]) -> None:
    """``check_options`` for a class already looked up (a run resolves each source once)."""
    check = getattr(factory, "check_options", None)
    if check is not None:
        check(options)


def check_credentials(name: str, registry_kind: str) -> None:
    """Missing credentials are named before a run row exists (a usage error, exit 2)."""
    validate_credentials(source_class(name, registry_kind))


def validate_credentials(factory: Any) -> bool:
    """Raise the source's usage error for missing credentials; False if it needs none."""
    check = getattr(factory, "check_credentials", None)
    if check is None:
        return False
    check()
    return True


def credentials_status(name: str, registry_kind: str) -> str:
    """'set', 'not needed' or 'missing' for `collector sources` (never the values)."""
    if not hasattr(source_class(name, registry_kind), "check_credentials"):
        return "not needed"
    try:
        check_credentials(name, registry_kind)
    except UsageError:
        return "missing"
    return "set"


def source_class(name: str, registry_kind: str) -> Any:
    registry = PRODUCT_SOURCES if registry_kind == "product" else LISTING_SOURCES
    return _factory(registry, registry_kind, name)


def check_names(product: str, listing: str) -> None:
    _info(PRODUCT_SOURCES, "product", product)
    _info(LISTING_SOURCES, "listing", listing)


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
    PRODUCT_SOURCES,
    SourceInfo(
        "oxylabs",
        "collector_cli.sources.oxylabs:OxylabsBestSellers",
        "Amazon Best Sellers (top 100 per category) through the Oxylabs Web Scraper API",
        "COLLECTOR_OXYLABS_USERNAME, COLLECTOR_OXYLABS_PASSWORD",
        "Oxylabs: 1 billed result per 50 products (default $0.40 per 1,000)",
    ),
)
register(
    PRODUCT_SOURCES,
    SourceInfo(
        "file",
        "collector_cli.sources.file:FileProducts",
        "your own CSV or JSON product list (title, price, optional id and category)",
        "a file: preset add --products-file FILE",
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
register(
    LISTING_SOURCES,
    SourceInfo(
        "ebay",
        "collector_cli.sources.ebay:EbayBrowse",
        "eBay Buy Browse API search with exact feedback scores",
        "COLLECTOR_EBAY_CLIENT_ID, COLLECTOR_EBAY_CLIENT_SECRET",
        "free; each result page is 1 of eBay's 5,000 calls a day",
    ),
)
register(
    LISTING_SOURCES,
    SourceInfo(
        "oxylabs-ebay",
        "collector_cli.sources.oxylabs_ebay:OxylabsEbay",
        "eBay search pages through Oxylabs, parsed from HTML (feedback counts may be rounded)",
        "COLLECTOR_OXYLABS_USERNAME, COLLECTOR_OXYLABS_PASSWORD",
        "Oxylabs: 1 billed result per page (default $1.10 per 1,000)",
    ),
)
