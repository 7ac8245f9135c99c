"""What every export format does: a header, one seller at a time, a footer.

Rows arrive one by one from a cursor and are written at once, so memory stays flat however
many sellers there are.
"""

from __future__ import annotations

from typing import Any, TextIO

# The documented field order (README). A run export adds the two RUN_FIELDS.
FIELDS = (
    "name",
    "platform",
    "feedback_score",
    "feedback_score_approx",
    "feedback_percent",
    "times_seen",
    "sightings",
    "first_seen_run",
    "first_seen_at",
    "last_seen_run",
    "last_seen_at",
    "flagged",
    "exported_at",
)
RUN_FIELDS = ("run_sightings", "new_in_run")
# Figures derived from seller evidence (insight/figures.py): asked for by name with --fields,
# never part of the default set; empty for sellers without evidence.
INSIGHT_FIELDS = (
    "score",
    "products",
    "categories",
    "departments",
    "listings",
    "markup",
    "markup_spread",
    "runs_seen",
    "runs_possible",
    "feedback_growth_30d",
    "feedback_growth_approx",
    "why",
)
BOOLEAN_FIELDS = frozenset({"feedback_score_approx", "flagged", "new_in_run"})


class Exporter:
    """Base class: formats override ``begin``, ``write`` and ``end``."""

    newline: str | None = None  # what open() should use for the output file

    def __init__(self, out: TextIO, fields: list[str], *, excel: bool = False) -> None:
        self.out = out
        self.fields = fields
        self.excel = excel

    def begin(self, meta: dict[str, Any]) -> None:
        """``meta``: exported_at, filters and count of the export."""

    def write(self, seller: dict[str, Any]) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Finish the document."""
