"""Runs ledger and its checkpoints (run_categories, run_products)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector_cli.errors import NotFoundError, RunActiveError, UsageError
from collector_cli.models import Category, Product
from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.store.db import Store

FINISHED = ("completed", "cancelled", "interrupted", "failed")
STATUSES = ("waiting", "running", *FINISHED)
RESUMABLE = ("interrupted", "cancelled", "failed")

__all__ = ["FINISHED", "RESUMABLE", "STATUSES", "PendingProduct", "RunActiveError", "RunRepo"]


def describe(run: sqlite3.Row) -> str:
    """One line naming a run for messages: id, preset, start (local time), progress."""
    from datetime import datetime

    started = datetime.fromisoformat(run["started_at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    finished = run["products_done"] + run["products_failed"] + run["products_skipped"]
    total = max(run["products_total"], run["products_expected"], finished)
    return (
        f"run #{run['id']} ({run['preset_name']}, started {started}, "
        f"{finished}/{total} products, pid {run['pid']})"
    )


@dataclass(frozen=True, slots=True)
class PendingProduct:
    row_id: int
    category_id: str
    department_id: str
    product: Product


class RunRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- lifecycle ---------------------------------------------------------------------------

    def create(
        self,
        *,
        preset_name: str,
        snapshot: dict[str, Any],
        categories: list[Category],
        pid: int,
        pid_started_at: float,
        hostname: str,
        trigger: str = "manual",
        status: str = "running",
    ) -> int:
        """Insert the run with its category checkpoints, in one transaction.

        The partial unique index on status turns a second concurrent run into an
        IntegrityError, which is reported as RunActiveError. A 'waiting' run holds its place
        in the queue and becomes 'running' through ``promote``.
        """
        now = utcnow()
        try:
            with self.store.transaction() as conn:
                epoch = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()[0]
                cur = conn.execute(
                    "INSERT INTO runs (preset_name, preset, trigger, status, epoch, pid,"
                    " pid_started_at, hostname, heartbeat_at, started_at, attempt_started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        preset_name,
                        json.dumps(snapshot),
                        trigger,
                        status,
                        epoch,
                        pid,
                        pid_started_at,
                        hostname,
                        now,
                        now,
                        now,
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                conn.executemany(
                    "INSERT INTO run_categories (run_id, category_id, department_id, position)"
                    " VALUES (?, ?, ?, ?)",
                    [(run_id, c.id, c.department_id, i) for i, c in enumerate(categories)],
                )
                self.store.events.add(
                    run_id,
                    "info",
                    "run_created",
                    f"run {run_id} created for {preset_name} ({status}, trigger {trigger})",
                )
        except sqlite3.IntegrityError as exc:
            self._raise_active(exc)
        return run_id

    def _raise_active(self, exc: sqlite3.IntegrityError) -> None:
        if "runs.status" not in str(exc):
            raise exc
        active = self.active()
        label = describe(active) if active else "another run"
        raise RunActiveError(
            f"{label} is already running in this store", active["id"] if active else None
        ) from exc

    def promote(self, run_id: int) -> bool:
        """Turn a waiting run into the running one if the slot is free and it is first in line."""
        try:
            with self.store.transaction() as conn:
                mine = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
                if mine is None or mine[0] != "waiting":
                    raise RunActiveError(
                        f"run {run_id} stopped waiting: it is now {mine[0] if mine else 'gone'}",
                        run_id,
                    )
                first = conn.execute(
                    "SELECT min(id) FROM runs WHERE status = 'waiting'"
                ).fetchone()[0]
                if first != run_id:
                    return False
                now = utcnow()
                conn.execute(
                    "UPDATE runs SET status = 'running', started_at = ?, attempt_started_at = ?,"
                    " heartbeat_at = ? WHERE id = ? AND status = 'waiting'",
                    (now, now, now, run_id),
                )
        except sqlite3.IntegrityError as exc:
            if "runs.status" not in str(exc):
                raise
            return False
        return True

    def begin_attempt(
        self,
        run_id: int,
        *,
        pid: int,
        pid_started_at: float,
        hostname: str,
        retry_failed: bool = False,
    ) -> None:
        """Make a resumable run 'running' again for a new attempt, keeping its checkpoints.

        With ``retry_failed`` a completed run with failed products may be taken up again too.
        """
        now = utcnow()
        allowed = (*RESUMABLE, "completed") if retry_failed else RESUMABLE
        try:
            with self.store.transaction() as conn:
                cur = conn.execute(
                    "UPDATE runs SET status = 'running', attempts = attempts + 1, pid = ?,"
                    " pid_started_at = ?, hostname = ?, heartbeat_at = ?, attempt_started_at = ?,"
                    " finish_reason = NULL, finished_at = NULL, stop_requested_at = NULL"
                    f" WHERE id = ? AND status IN ({','.join('?' * len(allowed))})",
                    (pid, pid_started_at, hostname, now, now, run_id, *allowed),
                )
                if cur.rowcount != 1:  # lost a race with another resume or run
                    row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
                    if row and row[0] in ("running", "waiting"):
                        raise RunActiveError(f"run {run_id} is already {row[0]}", run_id)
                    raise UsageError(
                        f"run {run_id} cannot be resumed (it is {row[0] if row else 'gone'})"
                    )
                attempt = conn.execute(
                    "SELECT attempts FROM runs WHERE id = ?", (run_id,)
                ).fetchone()[0]
                self.store.events.add(
                    run_id,
                    "info",
                    "run_resumed",
                    f"run {run_id} resumed (attempt {attempt})"
                    + (", retrying failed products" if retry_failed else ""),
                )
                if retry_failed:
                    conn.execute(
                        "UPDATE run_products SET status = 'pending', updated_at = ?"
                        " WHERE run_id = ? AND status = 'failed'",
                        (now, run_id),
                    )
                    conn.execute(
                        "UPDATE run_categories SET status = 'pending', updated_at = ?"
                        " WHERE run_id = ? AND status = 'failed'",
                        (now, run_id),
                    )
        except sqlite3.IntegrityError as exc:
            self._raise_active(exc)

    def request_stop(self, run_id: int) -> bool:
        """Set the stop flag; True only the first time (so a stop is signalled once)."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET stop_requested_at = ?"
                " WHERE id = ? AND status IN ('running', 'waiting') AND stop_requested_at IS NULL",
                (utcnow(), run_id),
            )
        return cur.rowcount > 0

    def stop_requested(self, run_id: int) -> bool:
        row = self.store.query_one("SELECT stop_requested_at FROM runs WHERE id = ?", (run_id,))
        return bool(row and row[0])

    def abandon(self, run_id: int, status: str, reason: str) -> None:
        """End a run that never started (it gave up waiting, or was stopped while waiting)."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finish_reason = ?, finished_at = ?"
                " WHERE id = ? AND status = 'waiting'",
                (status, reason, utcnow(), run_id),
            )

    def finish(self, run_id: int, status: str, reason: str, active_seconds: float) -> bool:
        """End the attempt. False if the run is no longer ours (another process reaped it)."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, finish_reason = ?, finished_at = ?,"
                " active_seconds = active_seconds + ? WHERE id = ? AND status = 'running'",
                (status, reason, utcnow(), active_seconds, run_id),
            )
        return cur.rowcount == 1

    def heartbeat(
        self, run_id: int, current_category: str | None = None, products_expected: int = 0
    ) -> bool:
        """Prove liveness and publish what `watch` shows.

        True if the run should stop: a stop was requested, or the row is no longer 'running'
        (another process judged this one dead), so two runs can never go on side by side.
        """
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET heartbeat_at = ?,"
                " current_category = coalesce(?, current_category), products_expected = ?"
                " WHERE id = ? AND status = 'running'",
                (utcnow(), current_category, products_expected, run_id),
            )
        return cur.rowcount == 0 or self.stop_requested(run_id)

    def mark_interrupted(
        self,
        run_id: int,
        reason: str,
        *,
        pid: int | None = None,
        pid_started_at: float | None = None,
    ) -> bool:
        """Mark a live run whose process is gone. With ``pid``, only if the row still names
        that process: a resume may have started a new attempt since it was checked. The
        attempt's time up to its last heartbeat is added to the run's active time."""
        sql = (
            "UPDATE runs SET status = 'interrupted', finish_reason = ?,"
            " finished_at = coalesce(heartbeat_at, started_at),"
            " active_seconds = active_seconds + CASE WHEN status = 'running' THEN max(0,"
            " (julianday(coalesce(heartbeat_at, attempt_started_at))"
            " - julianday(attempt_started_at)) * 86400) ELSE 0 END"
            " WHERE id = ? AND status IN ('running', 'waiting')"
        )
        params: tuple = (reason, run_id)
        if pid is not None:
            sql += " AND pid IS ? AND pid_started_at IS ?"
            params += (pid, pid_started_at)
        with self.store.transaction() as conn:
            cur = conn.execute(sql, params)
        return cur.rowcount > 0

    # -- checkpoints ---------------------------------------------------------------------------

    def pending_categories(self, run_id: int) -> list[str]:
        return [
            row[0]
            for row in self.store.query(
                "SELECT category_id FROM run_categories WHERE run_id = ? AND status = 'pending'"
                " ORDER BY position",
                (run_id,),
            )
        ]

    def save_category(
        self,
        run_id: int,
        category: Category,
        products: list[Product],
        skipped: dict[str, str],
    ) -> list[PendingProduct]:
        """Store a category's product list and mark the category done, atomically.

        ``skipped`` maps product keys to the reason they will not be searched.
        """
        now = utcnow()
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO run_products (run_id, category_id, department_id, product_key,"
                " rank, title, price_micros, status, error, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, category_id, product_key) DO NOTHING",
                [
                    (
                        run_id,
                        category.id,
                        category.department_id,
                        p.key,
                        p.rank,
                        p.title,
                        p.price_micros,
                        "skipped" if p.key in skipped else "pending",
                        skipped.get(p.key),
                        now,
                    )
                    for p in products
                ],
            )
            conn.execute(
                "UPDATE run_categories SET status = 'done', products_found = ?, error = NULL,"
                " attempts = attempts + 1, updated_at = ? WHERE run_id = ? AND category_id = ?",
                (len(products), now, run_id, category.id),
            )
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (now, run_id))
        return self.pending_products(run_id, category_ids=[category.id])

    def fail_category(self, run_id: int, category: Category, error: str) -> None:
        now = utcnow()
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE run_categories SET status = 'failed', error = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE run_id = ? AND category_id = ?",
                (error, now, run_id, category.id),
            )
            self.store.events.add(
                run_id,
                "error",
                "category_failed",
                f"category {category.id}: {error}",
                {"category_id": category.id},
            )

    def pending_products(
        self, run_id: int, *, category_ids: Iterable[str] | None = None
    ) -> list[PendingProduct]:
        sql = (
            "SELECT id, category_id, department_id, product_key, title, price_micros, rank"
            " FROM run_products WHERE run_id = ? AND status = 'pending'"
        )
        params: list[Any] = [run_id]
        if category_ids is not None:
            ids = list(category_ids)
            sql += f" AND category_id IN ({','.join('?' * len(ids))})"
            params += ids
        rows = self.store.query(sql + " ORDER BY id", tuple(params))
        return [
            PendingProduct(
                r["id"],
                r["category_id"],
                r["department_id"],
                Product(r["product_key"], r["title"], r["price_micros"], r["rank"]),
            )
            for r in rows
        ]

    # -- reading -------------------------------------------------------------------------------

    def get(self, run_id: int) -> sqlite3.Row:
        row = self.store.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFoundError(f"no run with id {run_id} (see `collector history`)")
        return row

    def active(self) -> sqlite3.Row | None:
        return self.store.query_one("SELECT * FROM runs WHERE status = 'running'")

    def list(
        self, *, limit: int | None = None, status: str | None = None, preset: str | None = None
    ) -> list[sqlite3.Row]:
        sql, params = "SELECT * FROM runs WHERE 1 = 1", []
        if status:
            sql += " AND status = ?"
            params.append(status)
        if preset:
            sql += " AND preset_name = ?"
            params.append(preset)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self.store.query(sql, tuple(params))

    def remaining_products(self, run_id: int) -> int:
        """Products listed but not yet searched (categories not yet listed come on top)."""
        row = self.store.query_one(
            "SELECT count(*) FROM run_products WHERE run_id = ? AND status = 'pending'", (run_id,)
        )
        return int(row[0]) if row else 0

    def category_breakdown(self, run_id: int) -> list[sqlite3.Row]:
        return self.store.query(
            "SELECT c.department_id, c.category_id, c.status, c.products_found, c.error,"
            " count(p.id) AS products,"
            " coalesce(sum(p.status = 'done'), 0) AS done,"
            " coalesce(sum(p.status = 'failed'), 0) AS failed,"
            " coalesce(sum(p.status = 'skipped'), 0) AS skipped,"
            " coalesce(sum(p.status = 'pending'), 0) AS pending,"
            " coalesce(sum(p.listings_seen), 0) AS listings"
            " FROM run_categories c LEFT JOIN run_products p"
            " ON p.run_id = c.run_id AND p.category_id = c.category_id"
            " WHERE c.run_id = ? GROUP BY c.category_id ORDER BY c.position",
            (run_id,),
        )

    def failed_products(self, run_id: int) -> list[sqlite3.Row]:
        return self.store.query(
            "SELECT category_id, product_key, title, attempts, error FROM run_products"
            " WHERE run_id = ? AND status = 'failed' ORDER BY id",
            (run_id,),
        )

    def live(self) -> list[sqlite3.Row]:
        """Runs that claim a live process: running, or waiting for their turn."""
        return self.store.query(
            "SELECT * FROM runs WHERE status IN ('running', 'waiting') ORDER BY id"
        )

    def waiting(self) -> list[sqlite3.Row]:
        return self.store.query("SELECT * FROM runs WHERE status = 'waiting' ORDER BY id")

    def latest_finished(self) -> sqlite3.Row | None:
        return self.store.query_one(
            "SELECT * FROM runs WHERE status NOT IN ('running', 'waiting') ORDER BY id DESC"
        )
