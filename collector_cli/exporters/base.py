"""What every export format does: a header, one seller at a time, a footer.

Rows arrive one by one from a cursor and are written at once, so memory stays flat however
many sellers there are.

A format may also describe its rows as data (``LineFormat``): the store can then have SQLite
build every line itself, which is several times faster than fetching each seller's values into
Python and formatting them here. The description says *what* a line is, in this module's terms
(how a value becomes text, what separates cells, what ends a line); the store alone turns it
into SQL. ``write`` stays the reference: the store hands back, as a row for ``write``, any
seller whose line SQL could not build exactly as ``write`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class TextRule:
    """How a text value becomes output text; the steps apply in this order.

    1. ``escapes``: each (old, new) pair replaced, in order (the text format's CR and LF).
    2. ``formula_prefix`` put before a value whose first character is one of
       ``formula_starts`` (spreadsheet formula neutralizing).
    3. either ``json_string`` (a JSON string literal exactly as ``json.dumps`` with
       ``ensure_ascii=False`` writes it), or quoting in ``quote`` (doubled inside) when the
       value holds any character of ``quote_when`` (the csv module's QUOTE_MINIMAL).
    """

    escapes: tuple[tuple[str, str], ...] = ()
    formula_starts: tuple[str, ...] = ()
    formula_prefix: str = ""
    json_string: bool = False
    quote_when: tuple[str, ...] = ()
    quote: str = '"'


@dataclass(frozen=True, slots=True)
class LineFormat:
    """One seller as one line: ``start``, then per field its label and its value as text,
    ``separator`` between fields, then ``end`` (the line break included).

    Values become text as Python's ``str`` makes them (integers in decimal, floats as their
    shortest ``repr``), except None (``null``), booleans (``true`` / ``false``) and text
    (``text``). A line of a single field whose text is empty is written as ``lone_empty``
    instead, when that is set (the csv module quotes such a row so that it is not blank).
    """

    fields: tuple[str, ...]
    text: TextRule
    null: str = ""
    true: str = "true"
    false: str = "false"
    labels: tuple[str, ...] = ()  # empty, or text before each field's value (JSON keys)
    start: str = ""
    separator: str = ","
    end: str = "\n"
    lone_empty: str | None = None


class Exporter:
    """Base class: formats override ``begin``, ``write`` and ``end``; a format whose lines
    SQLite can build also returns a ``line_format``."""

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

    def line_format(self) -> LineFormat | None:
        """How SQLite may build this format's lines; None: only ``write`` can."""
        return None

    def write_lines(self, block: bytes) -> None:
        """Whole lines, UTF-8, built from ``line_format`` (in order with ``write``).

        ``out`` must take bytes as well as text here (the CLI's destination does): the lines
        go out without being decoded and encoded again."""
        self.out.write(block)  # type: ignore[arg-type]
