"""A preset resolved once, at the edge, into the one value a run is made of (DESIGN §4).

``resolve`` is the only place that turns a preset into something runnable: it applies the
one-off run flags, looks the sources up in the registry, merges their options with the config
file's ``[sources.NAME]``, asks each source to check those options and its credentials, expands
departments into categories and settles the limits. Everything after it (the dry-run estimate,
a new run, a resume, a scheduled fire) receives the resulting ``ResolvedRun`` and never reads
the config, the registry or the taxonomy again, so what was checked is exactly what runs, even
when a queued run starts hours after it was resolved.

A resume resolves the run's stored preset snapshot, not the preset as it is now.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from collector_cli import config, taxonomy
from collector_cli.engine.limits import RunLimits
from collector_cli.errors import UsageError
from collector_cli.models import Category, Filters, Preset
from collector_cli.presets import validate_filters
from collector_cli.sources.base import (
    SourceContext,
    check_names,
    source_class,
    validate_credentials,
    validate_options,
)
from collector_cli.sources.usage import UsageMeter

DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """One stage's source: its class, looked up once, and its final options."""

    name: str
    kind: str  # "product" or "listing"
    factory: Callable[[SourceContext], Any]
    options: Mapping[str, Any]  # the preset's, overridden by the config file; read-only
    credentials: str  # "ok", "not needed" or "missing: what to set" (dry run only)

    def open(self, epoch: int, meter: UsageMeter, categories: tuple[str, ...]) -> Any:
        """A live source for one attempt; each gets its own copy of the options."""
        return self.factory(SourceContext(epoch, dict(self.options), meter, categories))


@dataclass(frozen=True, slots=True)
class ResolvedRun:
    """What to run and how: dry run, run, resume and scheduled fire all receive this."""

    preset: Preset  # as it runs (``--max-products`` applied); ``snapshot()`` is what is stored
    categories: tuple[Category, ...]
    product: ResolvedSource
    listing: ResolvedSource
    limits: RunLimits = field(default_factory=RunLimits)
    concurrency: int = DEFAULT_CONCURRENCY
    trigger: str = "manual"

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def filters(self) -> Filters:
        return self.preset.filters

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    def snapshot(self) -> dict[str, Any]:
        """The preset as the run records it: its own limits, never the one-off run flags."""
        return self.preset.to_dict()


def resolve(
    preset: Preset,
    *,
    max_products: int | None = None,
    limit_flags: Mapping[str, int | None] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    trigger: str = "manual",
    require_credentials: bool = True,
) -> ResolvedRun:
    """Check and settle everything a run of ``preset`` depends on, before any run row exists.

    Problems are usage or config errors, raised in the order a user fixes them: run flags,
    source names, then each source's options and credentials (product before listing), then
    limits. ``require_credentials=False`` (the dry run) reports missing credentials instead.
    ``limit_flags`` are this attempt's limits (already parsed), applied over the preset's.
    """
    preset = copy.deepcopy(preset)  # the caller's object may change; this value must not
    if max_products is not None:
        filters = dataclasses.replace(preset.filters, max_products=max_products)
        validate_filters(filters)
        preset = dataclasses.replace(preset, filters=filters)
    check_names(preset.product_source, preset.listing_source)
    product = _source(preset, preset.product_source, "product", require_credentials)
    listing = _source(preset, preset.listing_source, "listing", require_credentials)
    categories = tuple(taxonomy.expand(preset.departments, preset.categories))
    limits = RunLimits.from_dict(preset.limits).merged(**dict(limit_flags or {})).validate()
    return ResolvedRun(preset, categories, product, listing, limits, concurrency, trigger)


def _source(preset: Preset, name: str, kind: str, require_credentials: bool) -> ResolvedSource:
    factory = source_class(name, kind)
    options = config.source_options(name, preset.source_options.get(name))
    validate_options(factory, options)
    try:
        credentials = "ok" if validate_credentials(factory) else "not needed"
    except UsageError as exc:
        if require_credentials:
            raise
        credentials = "missing: " + str(exc).partition(": ")[2]
    return ResolvedSource(name, kind, factory, MappingProxyType(options), credentials)
