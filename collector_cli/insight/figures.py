"""Per-seller figures derived from evidence, and the score that ranks sellers.

Nothing here reads the store: the store hands over rows (``store.evidence``), this module turns
them into figures, so the same code ranks for `sellers rank`, `sellers show`, exports and the
HTML report. The score and the reason for each term are documented in the README
("Ranking sellers"); keep the two in step.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Feedback growth needs observations at least this far apart: two runs a minute apart would
# turn a change of 3 into "+130,000 per 30 days".
MIN_GROWTH_SPAN_DAYS = 1.0
# How much an inconsistent markup costs: a spread of 10 % of the markup halves the score.
SPREAD_WEIGHT = 10.0
GROWTH_FACTOR_CAP = 1.5


@dataclass(frozen=True, slots=True)
class Growth:
    per_30_days: float
    approx: bool  # rests on approximate ("154.8K") scores
    span_days: float


@dataclass(frozen=True, slots=True)
class SellerFigures:
    seller_id: int
    name: str
    platform: str
    feedback_score: int | None
    feedback_percent: float | None
    flagged: bool
    products: int
    categories: int
    departments: int
    listings: int
    markup: float | None  # median of lowest listing price ÷ product price
    markup_spread: float | None  # median absolute deviation of the same ratios
    markup_samples: int
    runs_seen: int
    runs_possible: int
    growth: Growth | None
    score: float

    @property
    def persistence(self) -> float:
        return self.runs_seen / self.runs_possible if self.runs_possible else 0.0

    @property
    def why(self) -> str:
        """The figures behind the score in one line a person can check."""
        parts = [
            f"{self.products} product{'s' * (self.products != 1)} in {self.categories}"
            f" categor{'ies' if self.categories != 1 else 'y'}"
        ]
        if self.markup is not None:
            spread = self.markup_spread or 0
            shown = f"{spread:.2f}" if spread >= 0.005 else "<0.01"
            parts.append(f"markup {self.markup:.2f}× ± {shown}")
        else:
            parts.append("markup unknown (no product prices)")
        parts.append(f"seen in {self.runs_seen} of {self.runs_possible} runs")
        if self.growth is not None:
            sign = "+" if self.growth.per_30_days >= 0 else "−"
            approx = "≈" if self.growth.approx else ""
            parts.append(f"{approx}{sign}{abs(self.growth.per_30_days):,.0f} feedback/30 d")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seller_id": self.seller_id,
            "name": self.name,
            "platform": self.platform,
            "score": round(self.score, 2),
            "products": self.products,
            "categories": self.categories,
            "departments": self.departments,
            "listings": self.listings,
            "markup": None if self.markup is None else round(self.markup, 4),
            "markup_spread": None if self.markup_spread is None else round(self.markup_spread, 4),
            "runs_seen": self.runs_seen,
            "runs_possible": self.runs_possible,
            "feedback_score": self.feedback_score,
            "feedback_percent": self.feedback_percent,
            "feedback_growth_30d": None if self.growth is None else round(self.growth.per_30_days),
            "feedback_growth_approx": None if self.growth is None else self.growth.approx,
            "flagged": self.flagged,
            "why": self.why,
        }


def score(
    products: int,
    categories: int,
    markup: float | None,
    spread: float | None,
    persistence: float,
    growth: Growth | None,
) -> float:
    """breadth × consistency × persistence × growth (README: "Ranking sellers")."""
    breadth = math.log1p(products) * (1 + 0.3 * math.log(max(categories, 1)))
    if markup is None or markup <= 0 or spread is None:
        consistency = 0.5  # unknown: neither rewarded nor ruled out
    else:
        consistency = 1 / (1 + SPREAD_WEIGHT * spread / markup)
    growth_factor = 1.0
    if growth is not None and growth.per_30_days > 0:
        growth_factor = min(GROWTH_FACTOR_CAP, 1 + 0.1 * math.log1p(growth.per_30_days / 100))
    return 10 * breadth * consistency * (0.5 + 0.5 * persistence) * growth_factor


def growth_by_seller(points: Iterable[Mapping[str, Any]]) -> dict[int, Growth]:
    """Feedback growth per 30 days from each seller's first and last observation.

    Exact scores only when there are two exact ones far enough apart; otherwise approximate
    ones are used too and the figure says so; otherwise there is no figure.
    """
    firsts: dict[int, tuple[Any, Any]] = {}  # seller → (first exact, first any)
    lasts: dict[int, tuple[Any, Any]] = {}
    for point in points:
        seller = point["seller_id"]
        entry = (point["recorded_at"], point["feedback_score"])
        first_exact, first_any = firsts.get(seller, (None, None))
        last_exact, _ = lasts.get(seller, (None, None))
        if not point["approx"]:
            first_exact = first_exact or entry
            last_exact = entry
        firsts[seller] = (first_exact, first_any or entry)
        lasts[seller] = (last_exact, entry)
    found = {}
    for seller, (first_exact, first_any) in firsts.items():
        last_exact, last_any = lasts[seller]
        growth = _growth(first_exact, last_exact, approx=False) or _growth(
            first_any, last_any, approx=True
        )
        if growth is not None:
            found[seller] = growth
    return found


def _growth(first: Any, last: Any, *, approx: bool) -> Growth | None:
    if first is None or last is None:
        return None
    days = (_when(last[0]) - _when(first[0])).total_seconds() / 86400
    if days < MIN_GROWTH_SPAN_DAYS:
        return None
    return Growth((last[1] - first[1]) / days * 30, approx, days)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def figures(
    summaries: Iterable[Mapping[str, Any]],
    runs: list[int],
    growth: Mapping[int, Growth],
) -> list[SellerFigures]:
    """Figures for every summarised seller, best score first (ties: more products, name)."""
    found = []
    for row in summaries:
        markups = [float(x) for x in (row["markups"] or "").split(",") if x]
        markup = spread = None
        if markups:
            markup = statistics.median(markups)
            spread = statistics.median(abs(x - markup) for x in markups)
        possible = len(runs) - bisect_left(runs, row["first_run"])
        runs_seen = row["runs_seen"]
        grown = growth.get(row["seller_id"])
        persistence = runs_seen / possible if possible else 0.0
        found.append(
            SellerFigures(
                seller_id=row["seller_id"],
                name=row["name"],
                platform=row["platform"],
                feedback_score=row["feedback_score"],
                feedback_percent=row["feedback_percent"],
                flagged=bool(row["flagged"]),
                products=row["products"],
                categories=row["categories"],
                departments=row["departments"],
                listings=row["listings"],
                markup=markup,
                markup_spread=spread,
                markup_samples=len(markups),
                runs_seen=runs_seen,
                runs_possible=max(possible, runs_seen),
                growth=grown,
                score=score(row["products"], row["categories"], markup, spread, persistence, grown),
            )
        )
    found.sort(key=lambda f: (-f.score, -f.products, f.name.casefold(), f.seller_id))
    return found
