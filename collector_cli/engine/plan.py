"""What a run would do and cost, worked out without sending a request (``run --dry-run``).

Every figure is an upper bound: a search stops paging when results run out, and products
without a price may be skipped, so a real run makes at most this many requests. The estimate
reads only the resolved run (engine/resolve.py), so it describes exactly what ``run`` would do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from collector_cli.engine.resolve import ResolvedRun

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


def estimate(run: ResolvedRun) -> RunPlan:
    filters = run.filters
    per_category = min(filters.max_products or BEST_SELLERS_PER_CATEGORY, 10_000)
    product_cls, product_options = run.product.factory, dict(run.product.options)
    listing_cls, listing_options = run.listing.factory, dict(run.listing.options)
    categories = len(run.categories)

    counted = getattr(product_cls, "expected_products", None)
    if counted is not None:
        products = counted(product_options, list(run.category_ids), filters.max_products)
    else:
        products = per_category * categories
    calls, cost = product_cls.plan_products(product_options, per_category)
    product_plan = SourcePlan(
        run.product.name,
        "products",
        calls * categories,
        cost * categories,
        credentials=run.product.credentials,
    )
    calls, cost, quota = listing_cls.plan_search(listing_options, filters.pages)
    token = int(bool(getattr(listing_cls, "token_requests", 0))) if products else 0
    listing_plan = SourcePlan(
        run.listing.name,
        "listings",
        calls * products + token,
        cost * products,
        quota * products,
        token,
        credentials=run.listing.credentials,
    )
    return RunPlan(run.name, categories, products, filters.pages, [product_plan, listing_plan])
