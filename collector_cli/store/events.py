"""Events table: the per-run activity feed and failure log."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.store.db import Store


class EventRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        run_id: int | None,
        level: str,
        kind: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Record one event; joins the caller's transaction if one is open."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO events (run_id, at, level, kind, message, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, utcnow(), level, kind, message, json.dumps(data) if data else None),
            )

    def for_run(self, run_id: int, *, level: str | None = None) -> list[sqlite3.Row]:
        if level:
            return self.store.query(
                "SELECT * FROM events WHERE run_id = ? AND level = ? ORDER BY id", (run_id, level)
            )
        return self.store.query("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,))
