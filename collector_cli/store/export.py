"""Reading sellers for export: one consistent snapshot, streamed row by row."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from collector_cli.errors import NotFoundError, UsageError
from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.store.db import Store

_COLUMNS = (
    "s.id, s.name, s.platform, s.feedback_score, s.feedback_score_approx, s.feedback_percent,"
    " s.times_seen, s.sightings, s.first_run_id AS first_seen_run, s.first_seen_at,"
    " s.last_run_id AS last_seen_run, s.last_seen_at, s.flagged, s.exported_at"
)
_BOOLEANS = ("feedback_score_approx", "flagged", "new_in_run")


@dataclass(frozen=True, slots=True)
class Selection:
    """Which sellers an export takes. ``run_id`` limits it to the sellers one run saw."""

    run_id: int | None = None
    new: bool = False
    since_run: int | None = None
    unexported: bool = False
    flagged: bool = False
    platform: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}


class ExportSnapshot:
    """Count, rows and the export mark, all inside one transaction of the caller."""

    def __init__(self, conn: sqlite3.Connection, selection: Selection) -> None:
        self.conn = conn
        self.selection = selection
        self._from, self._where, self._params = _query(selection)

    def count(self) -> int:
        sql = f"SELECT count(*) FROM {self._from} WHERE {self._where}"
        return int(self.conn.execute(sql, self._params).fetchone()[0])

    def rows(self) -> Iterator[dict[str, Any]]:
        columns = _COLUMNS
        if self.selection.run_id is not None:
            columns += ", rs.sightings AS run_sightings, rs.is_new AS new_in_run"
        cursor = self.conn.execute(
            f"SELECT {columns} FROM {self._from} WHERE {self._where} ORDER BY s.id", self._params
        )
        names = [d[0] for d in cursor.description]
        while batch := cursor.fetchmany(1000):
            for values in batch:
                row = dict(zip(names, values, strict=True))
                for key in _BOOLEANS:
                    if key in row:
                        row[key] = bool(row[key])
                yield row

    def mark_exported(self, count: int) -> str:
        """Stamp exported_at on exactly the selected sellers and record it in the audit log."""
        at = utcnow()
        self.conn.execute(
            f"UPDATE sellers SET exported_at = ? WHERE id IN"
            f" (SELECT s.id FROM {self._from} WHERE {self._where})",
            (at, *self._params),
        )
        self.conn.execute(
            "INSERT INTO seller_audit (at, action, name, detail) VALUES (?, 'export_mark', '', ?)",
            (at, json.dumps({"count": count, "filters": self.selection.to_dict()})),
        )
        return at


def _query(sel: Selection) -> tuple[str, str, tuple[Any, ...]]:
    source, where, params = "sellers s", ["1 = 1"], []
    if sel.run_id is not None:
        source += " JOIN run_sellers rs ON rs.seller_id = s.id AND rs.run_id = ?"
        params.append(sel.run_id)
        if sel.new:
            where.append("rs.is_new = 1")
    if sel.since_run is not None:
        where.append("s.first_run_id > ?")
        params.append(sel.since_run)
    if sel.unexported:
        where.append("s.exported_at IS NULL")
    if sel.flagged:
        where.append("s.flagged = 1")
    if sel.platform is not None:
        where.append("s.platform = ?")
        params.append(sel.platform)
    return source, " AND ".join(where), tuple(params)


class ExportRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def resolve_run(self, run: str) -> int:
        """A run id, or 'latest' for the most recent run that saw sellers."""
        if run == "latest":
            row = self.store.query_one("SELECT max(run_id) FROM run_sellers")
            if row is None or row[0] is None:
                raise NotFoundError("there is no run with sellers yet")
            return int(row[0])
        try:
            run_id = int(run)
        except ValueError:
            raise UsageError(f"invalid --run {run!r}: use a run id or 'latest'") from None
        if not 0 < run_id < 2**63:
            raise UsageError(f"invalid --run {run!r}: use a run id or 'latest'")
        self.store.runs.get(run_id)  # NotFoundError for an unknown id
        return run_id

    @contextlib.contextmanager
    def snapshot(self, selection: Selection, *, for_marking: bool) -> Iterator[ExportSnapshot]:
        """A read transaction; with ``for_marking`` a write lock, so what is read is exactly
        what gets marked. Commits only if the caller's block finishes."""
        conn = self.store.conn
        # A full scan would fill the run-sized page cache (64 MiB) for nothing: an export
        # reads each page once, so a small cache keeps its memory flat however many sellers.
        cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute("PRAGMA cache_size = -2048")
        conn.execute("BEGIN IMMEDIATE" if for_marking else "BEGIN")
        try:
            yield ExportSnapshot(conn, selection)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            if not conn.in_transaction:
                conn.execute(f"PRAGMA cache_size = {int(cache)}")
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA cache_size = {int(cache)}")
