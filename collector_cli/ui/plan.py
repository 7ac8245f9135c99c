"""The ``run --dry-run`` plan as text."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from collector_cli.engine.plan import EBAY_DAILY_QUOTA, RunPlan
from collector_cli.models import format_money
from collector_cli.ui.fmt import num


def render_plan(console: Console, plan: RunPlan) -> None:
    lines = [
        f"Plan for preset {plan.preset} (dry run: nothing was sent)",
        f"  categories   {num(plan.categories)}",
        f"  products     at most {num(plan.products)}",
        f"  requests     at most {num(plan.requests)}",
    ]
    for source in plan.sources:
        if source.stage == "products":
            what = f"{num(source.requests)} best-seller pages"
        else:
            what = (
                f"{num(source.requests - source.token_requests)} searches"
                f" ({plan.pages_per_product} pages per product)"
            )
            if source.token_requests:
                what += f" + {source.token_requests} token request"
        lines.append(f"    {source.source:<13}{what}")
    lines.append(f"  cost         at most {format_money(plan.cost_micros)}")
    if plan.quota_calls:
        share = plan.quota_calls / EBAY_DAILY_QUOTA
        lines.append(
            f"  eBay quota   at most {num(plan.quota_calls)} of {EBAY_DAILY_QUOTA:,} calls a day"
            f" ({share:.0%})" + ("  — more than one day's quota" if share > 1 else "")
        )
    for source in plan.sources:
        if source.credentials not in ("ok", "not needed"):
            lines.append(f"  credentials  {source.source}: {source.credentials}")
        elif source.credentials == "ok":
            lines.append(f"  credentials  {source.source}: set")
    for line in lines:
        console.print(escape(line), highlight=False)
