"""The one table style of the CLI: borderless, left-aligned unless a column holds numbers;
tables that fit the terminal by leaving columns out, never by cutting values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text


def plain_table(
    columns: Iterable[str], *, right: Iterable[str] = (), title: str | None = None
) -> Table:
    """A table with ``columns``; those named in ``right`` (numbers) are right-aligned."""
    right_aligned = set(right)
    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right_aligned else "left")
    return table


@dataclass(frozen=True, slots=True)
class Col:
    """A column of a table that fits the terminal.

    ``drop`` orders what goes first when the terminal is narrow: 0 is never dropped (ids,
    statuses, names a user copies), higher numbers go earlier. ``wrap`` marks prose that may
    wrap onto several lines instead of being dropped (descriptions); nothing else is ever cut.
    """

    header: str
    drop: int = 0
    right: bool = False
    wrap: bool = False


def print_fitted(
    console: Console,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str | Text]],
    *,
    wide: bool = False,
    title: str | None = None,
) -> int:
    """Print the table that fits ``console``'s width; returns how many columns were left out.

    Every column when ``wide`` or when the output is not a terminal (scripts see stable
    columns). Otherwise the columns in order of ``drop`` while they fit; if even the columns
    that are never dropped do not fit, one block of "header  value" lines per row instead,
    so values are never cut to "…".
    """
    widths = [
        max([cell_len(col.header), *(_width(row[i]) for row in rows)]) for i, col in enumerate(cols)
    ]
    keep = list(range(len(cols)))
    if not wide and console.is_terminal:
        budget = console.width
        keep = []
        used = 0
        for i in sorted(range(len(cols)), key=lambda i: (cols[i].drop, i)):
            need = (min(widths[i], 12) if cols[i].wrap else widths[i]) + (2 if keep else 0)
            if used + need <= budget:
                keep.append(i)
                used += need
            elif cols[i].drop == 0:
                console.print(_records(cols, rows, title))
                return 0
        keep.sort()
    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for i in keep:
        col = cols[i]
        table.add_column(
            col.header,
            justify="right" if col.right else "left",
            no_wrap=not col.wrap,
            overflow="fold",
            min_width=None if col.wrap else widths[i],
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    # Every column asked for (--wide) may be wider than the terminal: print it whole and let
    # the terminal wrap the lines, rather than squeezing values into "…".
    natural = sum(widths[i] for i in keep) + 2 * (len(keep) - 1)
    narrow = console.width
    if wide and natural > narrow:
        console.width = natural
    try:
        console.print(table)
    finally:
        console.width = narrow
    return len(cols) - len(keep)


def _width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def _records(
    cols: Sequence[Col], rows: Sequence[Sequence[str | Text]], title: str | None
) -> RenderableType:
    label = max(cell_len(col.header) for col in cols)
    lines: list[RenderableType] = [Text(title)] if title else []
    for n, row in enumerate(rows):
        if n:
            lines.append(Text(""))
        for col, cell in zip(cols, row, strict=True):
            line = Text(f"{col.header:<{label}}  ")
            line.append(cell if isinstance(cell, Text) else Text(cell))
            lines.append(line)
    return Group(*lines)
