"""Opening the database: location, file mode, pragmas, migrations, and clear errors."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from collector_cli.errors import StoreError
from collector_cli.store import migrations

BUSY_TIMEOUT_MS = 10_000


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_db_path() -> Path:
    """``COLLECTOR_DB`` if set, else ``collector.db`` in the platform's user data dir."""
    env = os.environ.get("COLLECTOR_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("collector", appauthor=False) / "collector.db"


class Store:
    """One connection and the repositories over it.

    The connection runs in autocommit mode; every write goes through ``transaction()`` so a
    group of statements either lands whole or not at all.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        from collector_cli.store.events import EventRepo
        from collector_cli.store.evidence import EvidenceRepo
        from collector_cli.store.export import ExportRepo
        from collector_cli.store.presets import PresetRepo
        from collector_cli.store.results import ResultRepo
        from collector_cli.store.runs import RunRepo
        from collector_cli.store.schedules import ScheduleRepo
        from collector_cli.store.sellers import SellerRepo

        self.conn = conn
        self.path = path
        self.presets = PresetRepo(self)
        self.runs = RunRepo(self)
        self.results = ResultRepo(self)
        self.events = EventRepo(self)
        self.sellers = SellerRepo(self)
        self.export = ExportRepo(self)
        self.schedules = ScheduleRepo(self)
        self.evidence = EvidenceRepo(self)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE so a writer takes the lock up front instead of failing mid-way."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def open_store(path: Path | str | None = None) -> Store:
    """Open (creating if needed) the store at ``path`` and bring its schema up to date.

    Refuses files that are not SQLite, or SQLite files that some other program owns, without
    writing a byte to them.
    """
    db_path = Path(path).expanduser() if path is not None else default_db_path()
    _create_file(db_path)
    try:
        # check_same_thread=False: a run hands the connection to its DB thread; it is
        # still used by one thread at a time.
        conn = sqlite3.connect(
            db_path,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {db_path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        _check_ownership(conn, db_path)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"cannot switch {db_path} to WAL journal mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # A run upserts hundreds of thousands of sellers: a 64 MiB page cache keeps the seller
        # index in memory, and checkpointing the WAL every ~40 MB instead of every 4 MB halves
        # the time spent in COMMIT (bench/bench_store.py: 0.53 → 0.83 of raw executemany).
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(_explain(db_path, exc)) from exc
    except BaseException:
        conn.close()
        raise
    return Store(conn, db_path)


def _create_file(db_path: Path) -> None:
    if db_path.is_dir():
        raise StoreError(f"database path {db_path} is a directory")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if not os.access(db_path, os.R_OK | os.W_OK):
            raise StoreError(f"database {db_path} is not readable and writable") from None
        return
    except OSError as exc:
        raise StoreError(f"cannot create database {db_path}: {exc.strerror}") from exc
    os.close(fd)


def _check_ownership(conn: sqlite3.Connection, db_path: Path) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "_sqlite_migrations" not in tables:
        raise StoreError(f"{db_path} is an SQLite database that collector did not create")


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations. Cheap when there are none (no sqlite-utils import).

    When some are pending, the check is repeated under an exclusive write lock, so processes
    that open a new store at the same moment migrate it exactly once.
    """
    if not _pending(conn):
        return
    from sqlite_utils import Database

    conn.execute("BEGIN IMMEDIATE")
    try:
        if _pending(conn):
            migrations.build().apply(Database(conn, execute_plugins=False))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _pending(conn: sqlite3.Connection) -> bool:
    applied: set[str] = set()
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
    ).fetchone()
    if has_table:
        applied = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                (migrations.MIGRATION_SET,),
            )
        }
    unknown = applied - set(migrations.MIGRATION_NAMES)
    if unknown:
        raise StoreError(
            "database was written by a newer collector (unknown migrations: "
            + ", ".join(sorted(unknown))
            + "); upgrade collector"
        )
    return not set(migrations.MIGRATION_NAMES) <= applied


def _explain(db_path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return f"{db_path} is not a usable collector database ({text})"
    if "readonly" in text or "read-only" in text:
        return f"database {db_path} is read-only ({text})"
    return f"database {db_path}: {text}"
