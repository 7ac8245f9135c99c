"""Cheap read-only look-ups for shell completion: never create, migrate or lock a store.

Completion runs on every <TAB>; it must answer fast and quietly, so it opens the file
read-only (absent or unreadable → no suggestions) and asks for a few names at most.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

LIMIT = 50


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection | None]:
    if not path.is_file():
        yield None
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        yield None
        return
    try:
        yield conn
    finally:
        conn.close()


def _strings(path: Path, sql: str, params: tuple = ()) -> list[str]:
    with _read_only(path) as conn:
        if conn is None:
            return []
        try:
            return [str(row[0]) for row in conn.execute(sql, params)]
        except sqlite3.Error:  # an older schema, a locked file: no suggestions
            return []


def preset_names(path: Path, prefix: str) -> list[str]:
    return _strings(path, "SELECT name FROM presets WHERE name LIKE ? || '%' ORDER BY name"
                    " LIMIT ?", (prefix, LIMIT))  # fmt: skip


def run_ids(path: Path, prefix: str) -> list[str]:
    return _strings(path, "SELECT id FROM runs WHERE CAST(id AS TEXT) LIKE ? || '%'"
                    " ORDER BY id DESC LIMIT ?", (prefix, LIMIT))  # fmt: skip


def schedule_names(path: Path, prefix: str) -> list[str]:
    return _strings(
        path,
        "SELECT name FROM schedules WHERE name LIKE ? || '%' UNION ALL SELECT CAST(id AS TEXT)"
        " FROM schedules WHERE CAST(id AS TEXT) LIKE ? || '%' LIMIT ?",
        (prefix, prefix, LIMIT),
    )


def seller_names(path: Path, key_prefix: str) -> list[str]:
    """Names whose normalized key starts with ``key_prefix`` (an index range scan)."""
    upper = key_prefix + "\U0010ffff"
    return _strings(path, "SELECT name FROM sellers WHERE name_key >= ? AND name_key < ?"
                    " ORDER BY name_key LIMIT ?", (key_prefix, upper, LIMIT))  # fmt: skip
