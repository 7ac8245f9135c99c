"""What a run would do and cost, worked out without sending a request (``run --dry-run``).

Every figure is an upper bound: a search stops paging when results run out, and products
without a price may be skipped, so a real run makes at most this many requests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from collector_cli import config, taxonomy
from collector_cli.errors import UsageError
from collector_cli.models import Preset
from collector_cli.sources.base import check_credentials, source_class

EBAY_DAILY_QUOTA = 5_000
BEST_SELLERS_PER_CATEGORY = 100


@dataclass(frozen=True, slots=True)
class SourcePlan:
    source: str
    stage: str  # "products" or "listings"
    requests: int
    cost_micros: int
    quota_calls: int = 0
    token_requests: int = 0  # included in ``requests``
    credentials: str = "not needed"  # "ok", "not needed" or what to set


@dataclass(frozen=True, slots=True)
class RunPlan:
    preset: str
    categories: int
    products: int
    pages_per_product: int
    sources: list[SourcePlan] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.sources)

    @property
    def cost_micros(self) -> int:
        return sum(s.cost_micros for s in self.sources)

    @property
    def quota_calls(self) -> int:
        return sum(s.quota_calls for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "categories": self.categories,
            "products_max": self.products,
            "pages_per_product": self.pages_per_product,
            "requests_max": self.requests,
            "cost_usd_max": round(self.cost_micros / 1_000_000, 6),
            "ebay_quota_calls_max": self.quota_calls,
            "ebay_daily_quota": EBAY_DAILY_QUOTA,
            "sources": [asdict(s) for s in self.sources],
        }


def estimate(preset: Preset) -> RunPlan:
    categories = taxonomy.expand(preset.departments, preset.categories)
    filters = preset.filters
    per_category = min(filters.max_products or BEST_SELLERS_PER_CATEGORY, 10_000)
    product_cls = source_class(preset.product_source, "product")
    product_options = _options(preset, preset.product_source)
    listing_cls = source_class(preset.listing_source, "listing")
    listing_options = _options(preset, preset.listing_source)

    counted = getattr(product_cls, "expected_products", None)
    if counted is not None:
        products = counted(product_options, [c.id for c in categories], filters.max_products)
    else:
        products = per_category * len(categories)
    calls, cost = product_cls.plan_products(product_options, per_category)
    product_plan = SourcePlan(
        preset.product_source,
        "products",
        calls * len(categories),
        cost * len(categories),
        credentials=_credentials(preset.product_source, "product"),
    )
    calls, cost, quota = listing_cls.plan_search(listing_options, filters.pages)
    token = int(bool(getattr(listing_cls, "token_requests", 0))) if products else 0
    listing_plan = SourcePlan(
        preset.listing_source,
        "listings",
        calls * products + token,
        cost * products,
        quota * products,
        token,
        credentials=_credentials(preset.listing_source, "listing"),
    )
    return RunPlan(preset.name, len(categories), products, filters.pages,
                   [product_plan, listing_plan])  # fmt: skip


def _options(preset: Preset, name: str) -> dict[str, Any]:
    return config.source_options(name, preset.source_options.get(name))


def _credentials(name: str, kind: str) -> str:
    if not hasattr(source_class(name, kind), "check_credentials"):
        return "not needed"
    try:
        check_credentials(name, kind)
    except UsageError as exc:
        return "missing: " + str(exc).partition(": ")[2]
    return "ok"
