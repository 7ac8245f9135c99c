"""Plain data shared by sources, engine and store. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CONDITIONS = ("new", "used", "refurbished", "any")
UNKNOWN_PRICE = ("skip", "search")  # a product without a price: skip it, or search unbanded


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: str
    node_id: str
    department_id: str
    department_name: str


@dataclass(frozen=True, slots=True)
class Product:
    """A best-selling product; ``price_micros`` is None when the source does not know it."""

    key: str
    title: str
    price_micros: int | None
    rank: int


@dataclass(frozen=True, slots=True)
class ProductPage:
    products: list[Product]
    has_more: bool


@dataclass(frozen=True, slots=True)
class Listing:
    listing_id: str
    title: str
    price_micros: int
    condition: str
    free_shipping: bool
    country: str
    seller_name: str
    feedback_score: int | None
    feedback_score_approx: bool
    feedback_percent: float | None
    url: str | None = None  # the listing's page, when the source gives one


@dataclass(frozen=True, slots=True)
class ListingPage:
    listings: list[Listing]
    has_more: bool
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """Search filters of a preset. Price ratios are relative to the product's price."""

    condition: str = "new"
    free_shipping: bool = True
    domestic_only: bool = True
    country: str = "US"
    price_min_ratio: float = 0.8
    price_max_ratio: float = 1.2
    pages: int = 2
    max_products: int | None = None
    unknown_price: str = "skip"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Filters:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class ListingQuery:
    product: Product
    filters: Filters
    page: int
    price_min_micros: int | None
    price_max_micros: int | None


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    departments: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)
    product_source: str = "sample"
    listing_source: str = "sample"
    source_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    description: str = ""
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "departments": list(self.departments),
            "categories": list(self.categories),
            "filters": self.filters.to_dict(),
            "product_source": self.product_source,
            "listing_source": self.listing_source,
            "source_options": self.source_options,
            "limits": dict(self.limits),
            "builtin": self.builtin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preset:
        return cls(
            name=data["name"],
            description=data.get("description") or "",
            departments=list(data.get("departments") or []),
            categories=list(data.get("categories") or []),
            filters=Filters.from_dict(data.get("filters") or {}),
            product_source=data.get("product_source") or "sample",
            listing_source=data.get("listing_source") or "sample",
            source_options=dict(data.get("source_options") or {}),
            limits=dict(data.get("limits") or {}),
            builtin=bool(data.get("builtin")),
        )


def to_micros(amount: float) -> int:
    return round(amount * 1_000_000)


def format_money(micros: int | None) -> str:
    """Dollars with cents; sub-cent amounts (a few billed results) keep four decimals."""
    if micros is None:
        return "?"
    text = f"{micros / 1_000_000:,.4f}"
    if text.endswith("00"):
        text = text[:-2]
    return f"${text}"


@dataclass(slots=True)
class ProductOutcome:
    """What searching one product produced; committed whole or not at all."""

    row_id: int
    status: str  # 'done' or 'failed'
    listings: list[Listing] = field(default_factory=list)
    pages: int = 0
    error: str | None = None
