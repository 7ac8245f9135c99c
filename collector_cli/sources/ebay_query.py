"""What both eBay routes send: the keywords, the condition ids and the price band.

The Browse API and the search page take the same filters in different spellings, so they
are derived here once from a ``ListingQuery``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from collector_cli.models import ListingQuery

MAX_QUERY_CHARS = 100  # Browse API `q` limit; the search page gets the same keywords

# eBay condition ids per preset condition ("any" sends no condition filter).
CONDITION_IDS = {
    "new": ("1000",),
    "refurbished": ("2000", "2010", "2020", "2030", "2500"),
    "used": ("3000", "4000", "5000", "6000"),
}

_CENT = Decimal("0.01")


def keywords(title: str, limit: int = MAX_QUERY_CHARS) -> str:
    """The title cut to ``limit`` characters on a word boundary (a cut word matches nothing)."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    head = title[: limit + 1]
    space = head.rfind(" ")
    return (head[:space] if space > 0 else title[:limit]).rstrip()


def price_band(query: ListingQuery) -> tuple[str | None, str | None]:
    """The band in dollars with cents: the low end rounded down and the high end up, so a
    listing priced exactly at a ratio's edge is never lost to rounding."""
    low = high = None
    if query.price_min_micros is not None:
        low = str((Decimal(query.price_min_micros) / 1_000_000).quantize(_CENT, ROUND_FLOOR))
    if query.price_max_micros is not None:
        high = str((Decimal(query.price_max_micros) / 1_000_000).quantize(_CENT, ROUND_CEILING))
    return low, high


def condition_ids(condition: str) -> tuple[str, ...]:
    return CONDITION_IDS.get(condition, ())
