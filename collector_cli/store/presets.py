"""Presets table: named run definitions."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from collector_cli.errors import NotFoundError, UsageError
from collector_cli.models import Preset
from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.store.db import Store


def _from_row(row: sqlite3.Row) -> Preset:
    return Preset.from_dict(
        {
            "name": row["name"],
            "description": row["description"],
            "departments": json.loads(row["departments"]),
            "categories": json.loads(row["categories"]),
            "filters": json.loads(row["filters"]),
            "product_source": row["product_source"],
            "listing_source": row["listing_source"],
            "source_options": json.loads(row["source_options"]),
            "limits": json.loads(row["limits"]),
            "builtin": row["builtin"],
        }
    )


class PresetRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def ensure_builtins(self, builtins: list[Preset]) -> None:
        """Put back any built-in preset that is missing; never touches an existing row."""
        names = {row[0] for row in self.store.query("SELECT name FROM presets")}
        missing = [p for p in builtins if p.name not in names]
        if missing:
            with self.store.transaction():
                for preset in missing:
                    self._insert(preset, if_absent=True)  # another process may be first

    def list(self) -> list[Preset]:
        return [_from_row(r) for r in self.store.query("SELECT * FROM presets ORDER BY name")]

    def exists(self, name: str) -> bool:
        return self.store.query_one("SELECT 1 FROM presets WHERE name = ?", (name,)) is not None

    def get(self, name: str) -> Preset:
        row = self.store.query_one("SELECT * FROM presets WHERE name = ?", (name,))
        if row is None:
            raise NotFoundError(f"no preset named {name!r} (see `collector preset list`)")
        return _from_row(row)

    def add(self, preset: Preset, *, replace: bool = False) -> bool:
        """Insert the preset; with ``replace`` overwrite one of the same name. True if replaced."""
        with self.store.transaction():
            existing = self.store.query_one("SELECT id FROM presets WHERE name = ?", (preset.name,))
            if existing and not replace:
                raise UsageError(
                    f"preset {preset.name!r} already exists (use --replace to overwrite it)"
                )
            if existing:
                self.store.conn.execute("DELETE FROM presets WHERE name = ?", (preset.name,))
            self._insert(preset)
        return existing is not None

    def remove(self, name: str) -> None:
        with self.store.transaction():
            cur = self.store.conn.execute("DELETE FROM presets WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFoundError(f"no preset named {name!r} (see `collector preset list`)")

    def _insert(self, preset: Preset, *, if_absent: bool = False) -> None:
        now = utcnow()
        self.store.conn.execute(
            "INSERT INTO presets (name, builtin, description, departments, categories, filters,"
            " product_source, listing_source, source_options, limits, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            + (" ON CONFLICT (name) DO NOTHING" if if_absent else ""),
            (
                preset.name,
                int(preset.builtin),
                preset.description,
                json.dumps(preset.departments),
                json.dumps(preset.categories),
                json.dumps(preset.filters.to_dict()),
                preset.product_source,
                preset.listing_source,
                json.dumps(preset.source_options),
                json.dumps(preset.limits),
                now,
                now,
            ),
        )
