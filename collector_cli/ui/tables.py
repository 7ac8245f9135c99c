"""The one table style of the CLI: borderless, left-aligned unless a column holds numbers."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table


def plain_table(
    columns: Iterable[str], *, right: Iterable[str] = (), title: str | None = None
) -> Table:
    """A table with ``columns``; those named in ``right`` (numbers) are right-aligned."""
    right_aligned = set(right)
    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right_aligned else "left")
    return table
