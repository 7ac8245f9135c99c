"""Ranked sellers and their evidence on screen: the shortlist, the evidence table, small charts.

The shortlist is two lines per seller (rank, name, score; then the "why"), so nothing is cut
at 80 columns, however long a name is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from collector_cli.insight.figures import SellerFigures
from collector_cli.models import format_money
from collector_cli.ui.fmt import num
from collector_cli.ui.sellers import display_name
from collector_cli.ui.tables import plain_table

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | int | None], *, from_zero: bool = False) -> str:
    """One block character per value, scaled between the smallest (or zero) and the largest;
    gaps as ' '. Counts read truer from zero; a feedback score's growth from its minimum."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = (0 if from_zero else min(known)), max(known)
    span = high - low
    marks = []
    for value in values:
        if value is None:
            marks.append(" ")
        elif span == 0:
            marks.append(BARS[len(BARS) // 2])
        else:
            marks.append(BARS[round((value - low) / span * (len(BARS) - 1))])
    return "".join(marks)


def print_ranking(console: Console, ranked: Sequence[SellerFigures], scope_text: str) -> None:
    console.print(f"Top {len(ranked)} sellers by score ({scope_text})")
    width = len(str(len(ranked)))
    for position, seller in enumerate(ranked, 1):
        head = Text(f"{position:>{width}}  ")
        head.append(display_name(seller.name), style="bold")
        head.append(f"  {seller.platform}  score {seller.score:.1f}")
        if seller.flagged:
            head.append("  flagged", style="yellow")
        console.print(head)
        console.print(Text(" " * (width + 2) + seller.why), overflow="fold")


def markup_text(price: int | None, low: int | None) -> str:
    if not price or low is None:
        return "—"
    return f"{low / price:.2f}×"


def price_range(low: int | None, high: int | None) -> str:
    if low is None:
        return "—"
    if high is None or high == low:
        return format_money(low)
    return f"{format_money(low)}–{format_money(high)}"


def print_evidence(
    console: Console, figures: SellerFigures | None, rows: list[sqlite3.Row], shown: int
) -> None:
    """The figures and the products behind them (newest run first, ``shown`` rows at most)."""
    if figures is None:
        console.print("evidence: none recorded (runs before evidence was kept, or added by hand)")
        return
    console.print(f"  score       {figures.score:.1f}")
    console.print(Text(f"  why         {figures.why}"), overflow="fold")
    console.print()
    table = plain_table(
        ("run", "category", "product", "amazon", "listed", "markup"),
        right=("run", "amazon", "listed", "markup"),
        title=f"products matched ({len(rows)} in all, {figures.products} distinct)",
    )
    for row in rows[:shown]:
        table.add_row(
            f"#{row['run_id']}",
            row["category_id"],
            Text(display_name(row["title"])),
            format_money(row["product_price_micros"]),
            price_range(row["price_min_micros"], row["price_max_micros"]),
            markup_text(row["product_price_micros"], row["price_min_micros"]),
        )
    console.print(table)
    if len(rows) > shown:
        console.print(f"  … and {num(len(rows) - shown)} more (--all shows every product)")


def print_feedback_chart(console: Console, history: list[sqlite3.Row]) -> None:
    scores = [h["feedback_score"] for h in history if h["feedback_score"] is not None]
    if len(scores) < 2:
        return
    change = scores[-1] - scores[0]
    approx = any(h["feedback_score_approx"] for h in history)
    console.print(
        f"  feedback    {sparkline(scores)}  {num(scores[0])} → {num(scores[-1])}"
        f" ({'+' if change >= 0 else '−'}{num(abs(change))} over {len(scores)} records"
        f"{', some approximate' if approx else ''})"
    )
