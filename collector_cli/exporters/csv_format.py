"""CSV: RFC 4180 quoting via the csv module; `--excel` makes it safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from typing import Any, TextIO

from collector_cli.exporters.base import Exporter, LineFormat, TextRule

# A cell starting with one of these is taken as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """Prefix a would-be formula with an apostrophe so a spreadsheet shows it as text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


class _LineFeedRows:
    """Turns the CRLF that ends each row into LF; CRs inside quoted fields stay."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, row: str) -> int:
        if row.endswith("\r\n"):
            row = row[:-2] + "\n"
        return self.out.write(row)


class CsvExporter(Exporter):
    """Plain CSV keeps values verbatim (UTF-8, LF). `--excel`: UTF-8 with BOM, CRLF line ends,
    and every text cell (headers too) that a spreadsheet would run as a formula neutralized."""

    newline = ""  # the csv module writes the line ends itself

    def __init__(self, out: TextIO, fields: list[str], *, excel: bool = False) -> None:
        super().__init__(out, fields, excel=excel)
        # The csv module quotes a field only for characters of the line terminator, so it
        # always writes CRLF (a lone CR in a name gets quoted); plain CSV then ends rows in LF.
        self.writer = csv.writer(out if excel else _LineFeedRows(out), lineterminator="\r\n")

    def begin(self, meta: dict[str, Any]) -> None:
        if self.excel:
            self.out.write("\ufeff")
        self.writer.writerow([self._cell(name) for name in self.fields])

    def write(self, seller: dict[str, Any]) -> None:
        self.writer.writerow([self._cell(seller[name]) for name in self.fields])

    def _cell(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if self.excel and isinstance(value, str):
            return neutralize(value)
        return value

    def line_format(self) -> LineFormat | None:
        """The same cells as ``write``, stated from the csv writer's own dialect: with
        QUOTE_MINIMAL and doubled quotes it quotes a field holding the delimiter, the quote
        character or a character of the line end, and nothing else."""
        dialect = self.writer.dialect
        quote = dialect.quotechar
        if dialect.quoting != csv.QUOTE_MINIMAL or not dialect.doublequote or not quote:
            return None  # not stated here: write only
        if dialect.escapechar is not None:
            return None
        return LineFormat(
            fields=tuple(self.fields),
            text=TextRule(
                formula_starts=_FORMULA_START if self.excel else (),
                formula_prefix="'" if self.excel else "",
                quote_when=(dialect.delimiter, quote, *dialect.lineterminator),
                quote=quote,
            ),
            separator=dialect.delimiter,
            end="\r\n" if self.excel else "\n",
            lone_empty=quote * 2,
        )
