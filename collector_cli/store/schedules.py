"""Schedules table: recurring runs of a preset, the source of truth for our crontab lines."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collector_cli.errors import NotFoundError, UsageError
from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.store.db import Store


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    name: str
    preset_name: str
    cron: str
    timezone: str
    enabled: bool
    notify: list[str] = field(default_factory=list)  # masked: the URLs live in the config file
    grace_seconds: int = 21600
    wait_seconds: int = 21600
    last_fire_at: str | None = None
    last_run_id: int | None = None
    python: str = ""  # the interpreter and config file the crontab line uses, fixed at `add`
    config_path: str | None = None
    created_at: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Schedule:
        return cls(
            id=row["id"],
            name=row["name"],
            preset_name=row["preset_name"],
            cron=row["cron"],
            timezone=row["timezone"],
            enabled=bool(row["enabled"]),
            notify=json.loads(row["notify"]),
            grace_seconds=row["grace_seconds"],
            wait_seconds=row["wait_seconds"],
            last_fire_at=row["last_fire_at"],
            last_run_id=row["last_run_id"],
            python=row["python"],
            config_path=row["config_path"],
            created_at=row["created_at"],
        )


class ScheduleRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, *, name: str, preset_name: str, cron: str, timezone: str,
            notify: list[str], grace_seconds: int, wait_seconds: int, last_fire_at: str | None,
            python: str, config_path: str | None) -> Schedule:  # fmt: skip
        """A new schedule; ``last_fire_at`` = now, so fires before it was added are not 'missed'."""
        now = utcnow()
        self.store.presets.get(preset_name)  # NotFoundError names the preset
        try:
            with self.store.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO schedules (name, preset_name, cron, timezone, notify,"
                    " grace_seconds, wait_seconds, last_fire_at, python, config_path,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, preset_name, cron, timezone, json.dumps(notify), grace_seconds,
                     wait_seconds, last_fire_at, python, config_path, now, now),
                )  # fmt: skip
        except sqlite3.IntegrityError:
            raise UsageError(f"a schedule named {name!r} already exists") from None
        return self.get(int(cur.lastrowid or 0))

    def list(self) -> list[Schedule]:
        return [
            Schedule.from_row(r) for r in self.store.query("SELECT * FROM schedules ORDER BY id")
        ]

    def find(self, ref: str) -> Schedule:
        """By id or by name: what users type."""
        row = None
        if ref.isdigit() and len(ref) < 19:
            row = self.store.query_one("SELECT * FROM schedules WHERE id = ?", (int(ref),))
        if row is None:
            row = self.store.query_one("SELECT * FROM schedules WHERE name = ?", (ref,))
        if row is None:
            raise NotFoundError(f"no schedule {ref!r} (see `collector schedule list`)")
        return Schedule.from_row(row)

    def get(self, schedule_id: int) -> Schedule:
        row = self.store.query_one("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        if row is None:
            raise NotFoundError(f"no schedule {schedule_id} (see `collector schedule list`)")
        return Schedule.from_row(row)

    def get_or_none(self, schedule_id: int) -> Schedule | None:
        row = self.store.query_one("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
        return Schedule.from_row(row) if row else None

    def remove(self, schedule_id: int) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))

    def set_enabled(self, schedule_id: int, enabled: bool, last_fire_at: str | None) -> bool:
        """True if the flag changed. Enabling sets ``last_fire_at`` (now's fire), so fires
        from the disabled period are not caught up."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE schedules SET enabled = ?, updated_at = ?,"
                " last_fire_at = coalesce(?, last_fire_at) WHERE id = ? AND enabled != ?",
                (int(enabled), utcnow(), last_fire_at, schedule_id, int(enabled)),
            )
        return cur.rowcount == 1

    def active_run(self, schedule_id: int) -> int | None:
        """A run of this schedule that is running or waiting, if any."""
        row = self.store.query_one(
            "SELECT id FROM runs WHERE trigger = ? AND status IN ('running', 'waiting')"
            " ORDER BY id LIMIT 1",
            (f"schedule:{schedule_id}",),
        )
        return int(row[0]) if row else None

    def using_preset(self, preset_name: str) -> list[Schedule]:
        rows = self.store.query(
            "SELECT * FROM schedules WHERE preset_name = ? ORDER BY id", (preset_name,)
        )
        return [Schedule.from_row(r) for r in rows]

    def claim_fire(self, schedule_id: int, fire_at: str) -> bool:
        """Mark ``fire_at`` handled; False if this fire (or a later one) was already claimed."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE schedules SET last_fire_at = ?, updated_at = ? WHERE id = ? AND enabled = 1"
                " AND (last_fire_at IS NULL OR last_fire_at < ?)",
                (fire_at, utcnow(), schedule_id, fire_at),
            )
        return cur.rowcount == 1

    def set_last_run(self, schedule_id: int, run_id: int) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE schedules SET last_run_id = ?, updated_at = ? WHERE id = ?",
                (run_id, utcnow(), schedule_id),
            )

    def last_run(self, schedule: Schedule) -> dict[str, Any] | None:
        """The newest run this schedule started, with its outcome."""
        row = self.store.query_one(
            "SELECT id, status, finish_reason, started_at, finished_at, sellers_found, sellers_new"
            " FROM runs WHERE trigger = ? ORDER BY id DESC LIMIT 1",
            (f"schedule:{schedule.id}",),
        )
        return dict(row) if row else None
