"""Preset rules: name validation, building from CLI values, and the built-in demo."""

from __future__ import annotations

import re
from typing import Any

from collector_cli import taxonomy
from collector_cli.errors import UsageError
from collector_cli.models import CONDITIONS, UNKNOWN_PRICE, Filters, Preset
from collector_cli.sources.base import check_names, check_options

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

DEMO = Preset(
    name="demo",
    description="Built-in sample marketplace: 4 categories, 25 products each",
    categories=[
        "electronics-headphones",
        "home-kitchen-dining",
        "toys-building-toys",
        "sports-exercise-fitness",
    ],
    filters=Filters(max_products=25),
    product_source="sample",
    listing_source="sample",
    source_options={"sample": {"latency_ms": 700}},
    builtin=True,
)

BUILTINS = [DEMO]


def validate_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid preset name {name!r}: use 1-64 characters a-z, 0-9, '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def build(
    name: str,
    *,
    departments: list[str],
    categories: list[str],
    filters: Filters,
    product_source: str,
    listing_source: str,
    description: str = "",
    source_options: dict[str, dict[str, Any]] | None = None,
) -> Preset:
    """Validate everything a user typed and return the preset; nothing is stored here."""
    validate_name(name)
    if not departments and not categories:
        raise UsageError("a preset needs at least one --department or --category")
    taxonomy.expand(departments, categories)  # raises on unknown ids
    validate_filters(filters)
    check_names(product_source, listing_source)
    source_options = source_options or {}
    for unknown in set(source_options) - {product_source, listing_source}:
        raise UsageError(f"--source-option {unknown}.…: the preset does not use source {unknown}")
    check_options(product_source, "product", source_options.get(product_source, {}))
    check_options(listing_source, "listing", source_options.get(listing_source, {}))
    return Preset(
        name=name,
        description=description,
        departments=list(dict.fromkeys(departments)),
        categories=list(dict.fromkeys(categories)),
        filters=filters,
        product_source=product_source,
        listing_source=listing_source,
        source_options=source_options,
    )


SECRET_WORDS = ("password", "secret", "username", "client_id", "token", "key")


def parse_source_options(items: list[str], products_file: str | None) -> dict[str, dict[str, Any]]:
    """``SOURCE.KEY=VALUE`` items as nested options; credentials are refused (they belong in
    the environment or the 0600 config file, never in a preset stored in the database)."""
    from pathlib import Path

    from collector_cli.config import parse_value

    options: dict[str, dict[str, Any]] = {}
    for item in items:
        name, equals, value = item.partition("=")
        source, _, key = name.strip().partition(".")
        if not (source and key and equals):
            raise UsageError(f"invalid --source-option {item!r}: use SOURCE.KEY=VALUE")
        if any(word in key.lower() for word in SECRET_WORDS):
            raise UsageError(
                f"--source-option {source}.{key}: credentials are not stored in presets;"
                " use environment variables or `collector config set`"
            )
        options.setdefault(source, {})[key] = parse_value(value)
    if products_file is not None:
        path = Path(products_file).expanduser()
        options.setdefault("file", {})["path"] = str(path.resolve())
    return options


def validate_filters(f: Filters) -> None:
    if f.condition not in CONDITIONS:
        raise UsageError(f"invalid condition {f.condition!r}: use one of {', '.join(CONDITIONS)}")
    if not (0 < f.price_min_ratio <= f.price_max_ratio):
        raise UsageError(
            f"invalid price band {f.price_min_ratio}-{f.price_max_ratio}:"
            " need 0 < --price-min <= --price-max"
        )
    if f.price_max_ratio > 100:
        raise UsageError(f"invalid --price-max {f.price_max_ratio}: at most 100")
    if not 1 <= f.pages <= 100:
        raise UsageError(f"invalid --pages {f.pages}: use 1-100")
    if f.max_products is not None and not 1 <= f.max_products <= 10_000:
        raise UsageError(f"invalid --max-products {f.max_products}: use 1-10000")
    if f.unknown_price not in UNKNOWN_PRICE:
        raise UsageError(
            f"invalid --unknown-price {f.unknown_price!r}: use one of {', '.join(UNKNOWN_PRICE)}"
        )
    if not re.fullmatch(r"[A-Z]{2}", f.country):
        raise UsageError(f"invalid --country {f.country!r}: use a two-letter code such as US")
