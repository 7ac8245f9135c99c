"""The end-of-run summary, the same text for the live, plain and cron outputs."""

from __future__ import annotations

from collector_cli.engine.events import RunSummary
from collector_cli.models import format_money
from collector_cli.ui.fmt import duration, num


def summary_lines(summary: RunSummary) -> list[str]:
    c = summary.counters
    attempts = f" over {summary.attempts} attempts" if summary.attempts > 1 else ""
    lines = [
        f"Run #{summary.run_id} ({summary.preset}) {summary.status} in "
        f"{duration(summary.duration_s)}{attempts}: {summary.finish_reason}",
        f"  categories  {num(c.get('categories_done'))} listed, "
        f"{num(c.get('categories_failed'))} failed of {num(c.get('categories_total'))}",
        f"  products    {num(c.get('products_done'))} searched, "
        f"{num(c.get('products_failed'))} failed, "
        f"{num(c.get('products_skipped'))} skipped (price unknown) of "
        f"{num(c.get('products_total'))}",
        f"  listings    {num(c.get('listings_seen'))}",
        f"  sellers     {num(c.get('sellers_found'))} found, {num(c.get('sellers_new'))} new",
        f"  requests    {num(c.get('requests'))} ({num(c.get('retries'))} retries, "
        f"{num(c.get('request_failures'))} failed), errors {num(c.get('errors'))}",
    ]
    if c.get("cost_micros") or c.get("billed_results"):
        lines.append(
            f"  cost        {format_money(c.get('cost_micros'))}"
            f" ({num(c.get('billed_results'))} billed results)"
        )
    if c.get("quota_calls"):
        lines.append(f"  eBay quota  {num(c.get('quota_calls'))} of 5,000 calls a day")
    if summary.status != "completed" and (
        summary.products_remaining or summary.categories_remaining
    ):
        lines.append(
            f"  remaining   {num(summary.products_remaining)} products not searched"
            + (
                f", {summary.categories_remaining} categories not listed"
                if summary.categories_remaining
                else ""
            )
        )
    failures = (c.get("products_failed") or 0) + (c.get("categories_failed") or 0)
    if summary.status != "completed" or failures:
        retry = " --retry-failed" if failures else ""
        if summary.products_remaining or summary.categories_remaining or failures:
            lines.append(f"  resume with: collector resume {summary.run_id}{retry}")
    return lines
