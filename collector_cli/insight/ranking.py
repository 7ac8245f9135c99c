"""Ranking sellers over a scope of evidence: the one path every surface uses.

`sellers rank`, `sellers show`, `export --sort score` and the report all come through here, so
a seller has the same score wherever it is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector_cli.insight.figures import SellerFigures, figures, growth_by_seller

if TYPE_CHECKING:
    from collector_cli.store.evidence import EvidenceRepo, Scope

# Above this many sellers, one pass over the whole feedback table beats chunked look-ups.
_CHUNKED_FEEDBACK_MAX = 5000


def rank(
    repo: EvidenceRepo, scope: Scope, min_products: int = 1, seller_id: int | None = None
) -> list[SellerFigures]:
    """Every seller with at least ``min_products`` products in scope, best first."""
    summaries = list(repo.summaries(scope, min_products, seller_id))
    if not summaries:
        return []
    ids = [row["seller_id"] for row in summaries]
    points = repo.feedback_points(ids if len(ids) <= _CHUNKED_FEEDBACK_MAX else None)
    wanted = set(ids)
    growth = growth_by_seller(p for p in points if p["seller_id"] in wanted)
    return figures(summaries, repo.runs_with_evidence(scope), growth)


def figures_of(repo: EvidenceRepo, scope: Scope, seller_id: int) -> SellerFigures | None:
    """One seller's figures, as the ranking over the same scope computes them."""
    found = rank(repo, scope, seller_id=seller_id)
    return found[0] if found else None
