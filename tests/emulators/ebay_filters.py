"""The Browse API ``filter`` parameter, parsed the way the live service treats it.

Kept apart from the HTTP emulator so the grammar reads on its own. eBay does not fail a call
over a filter it cannot use: it drops the filter and says so in ``warnings[]`` of a 200 answer.
The parser mirrors that on purpose, because that is the silent failure a client must notice:
a misspelt filter still returns results, just unfiltered ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .catalogue import SearchFilters

# Condition groups behind ``conditions:{...}``. eBay's exact grouping is unconfirmed (reference
# section 2.3); refurbished ids (2000-2500) belong to neither group here.
NEW_IDS = frozenset({"1000", "1500", "1750"})
USED_IDS = frozenset({"2750", "3000", "4000", "5000", "6000", "7000"})
CONDITION_GROUPS: dict[str, frozenset[str]] = {
    "NEW": NEW_IDS,
    "USED": USED_IDS,
    "UNSPECIFIED": frozenset(),
}
BUYING_OPTIONS = frozenset({"FIXED_PRICE", "AUCTION", "BEST_OFFER", "CLASSIFIED_AD"})
CURRENCIES = frozenset({"USD"})  # every catalogue offer is priced in dollars

_SET = re.compile(r"^\{([^{}\[\]]*)\}$")
_AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def browse_error(
    error_id: int,
    message: str,
    *,
    category: str = "REQUEST",
    long_message: str | None = None,
    parameters: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """One eBay ``Error`` object (the spec's schema), used for both errors and warnings."""
    error: dict[str, Any] = {
        "errorId": error_id,
        "domain": "API_BROWSE",
        "subdomain": "Browsing",
        "category": category,
        "message": message,
        "longMessage": long_message or message,
    }
    if parameters:
        error["parameters"] = [{"name": n, "value": v} for n, v in parameters]
    return error


def invalid_filter(name: str, raw: str) -> dict[str, Any]:
    """Warning 12002: eBay's answer to an unknown filter name and to an unusable value alike."""
    return browse_error(12002, f"The {name} value is invalid.", parameters=[("filter", raw)])


PRICE_NEEDS_CURRENCY = (
    "A valid 'price' filter and a valid 'priceCurrency' filter is necessary to filter based on "
    "price."
)


@dataclass
class ParsedFilter:
    """What one ``filter`` string asks for, plus the warnings eBay would attach."""

    condition_ids: frozenset[str] | None = None
    free_shipping: bool = False
    country: str | None = None
    price_low: Decimal | None = None
    price_high: Decimal | None = None
    currency: str | None = None
    delivery_country: str | None = None
    buying_options: frozenset[str] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def search_filters(self) -> SearchFilters:
        """The catalogue's view: ``None`` (or ``False``) wherever no filter applies."""
        return SearchFilters(
            self.condition_ids, self.free_shipping, self.country, self.price_low, self.price_high
        )

    @property
    def excludes_fixed_price(self) -> bool:
        """Every catalogue listing is Buy It Now, so e.g. ``{AUCTION}`` alone matches nothing."""
        return self.buying_options is not None and "FIXED_PRICE" not in self.buying_options


def split_filters(text: str) -> list[str]:
    """Split on top-level commas: ``{a,b}`` and ``[a,b]`` keep theirs."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _value_set(value: str) -> list[str] | None:
    """``{a|b}`` → ``["a", "b"]``; anything else (or an empty member) → ``None``."""
    match = _SET.match(value)
    if not match:
        return None
    members = [m.strip() for m in match.group(1).split("|")]
    return members if all(members) else None


def _price_range(value: str) -> tuple[Decimal | None, Decimal | None] | None:
    """``[a..b]``, ``[a]`` (at least a), ``[a..]`` or ``[..b]`` (at most b); else ``None``."""
    if not (value.startswith("[") and value.endswith("]")):
        return None
    inner = value[1:-1].strip()
    low_text, _, high_text = inner.partition("..")
    bounds: list[Decimal | None] = []
    for text in (low_text.strip(), high_text.strip()):
        if not text:
            bounds.append(None)
        elif _AMOUNT.match(text):
            bounds.append(Decimal(text))
        else:
            return None
    low, high = bounds
    if low is None and high is None:
        return None
    if low is not None and high is not None and low > high:
        return None
    return low, high


def parse_filter(text: str | None) -> ParsedFilter:
    """Parse a whole ``filter`` parameter; bad parts become warnings, never exceptions."""
    result = ParsedFilter()
    price: tuple[Decimal | None, Decimal | None] | None = None
    conditions: list[frozenset[str]] = []
    location_filters = 0
    for part in split_filters(text or ""):
        name, colon, value = part.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not value:
            result.warnings.append(invalid_filter(name, part))
            continue
        members = _value_set(value)
        if name == "conditionIds" and members and all(m.isdigit() for m in members):
            conditions.append(frozenset(members))
        elif name == "conditions" and members and all(m in CONDITION_GROUPS for m in members):
            conditions.append(frozenset().union(*(CONDITION_GROUPS[m] for m in members)))
        elif name == "price" and (bounds := _price_range(value)) is not None:
            price = bounds
        elif name == "priceCurrency" and value in CURRENCIES:
            result.currency = value
        elif name == "itemLocationCountry" and _COUNTRY.match(value):
            result.country = value
            location_filters += 1
        elif name == "maxDeliveryCost" and _AMOUNT.match(value) and Decimal(value) == 0:
            result.free_shipping = True  # 0 is the only value eBay is known to honour
        elif name == "deliveryCountry" and _COUNTRY.match(value):
            result.delivery_country = value
        elif name == "buyingOptions" and members and set(members) <= BUYING_OPTIONS:
            result.buying_options = frozenset(members)
        else:
            result.warnings.append(invalid_filter(name, part))
    if conditions:
        result.condition_ids = frozenset.intersection(*conditions)
    if price is not None:
        if result.currency is None:
            result.warnings.append(browse_error(12012, PRICE_NEEDS_CURRENCY))
        else:
            result.price_low, result.price_high = price
    if location_filters > 1:
        result.errors.append(
            browse_error(12517, "Only one item location filter can be used at a time.")
        )
    return result
