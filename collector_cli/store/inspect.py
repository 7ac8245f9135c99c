"""Looking at a store without changing it: for `collector doctor`.

``open_store`` creates a missing file, migrates an old schema and switches the journal mode;
a health check must do none of that. So this module opens an existing file read-only through an
SQLite URI and only reads: the migrations applied, ``PRAGMA quick_check``, the WAL's size.

A store whose WAL file is absent (no connection has it open) is opened ``immutable``: a plain
read-only connection to a WAL database would create the -wal and -shm files and leave them
behind. The cost: a run that starts during the few milliseconds of the check and checkpoints
within them could make the quick check see a half-written page, a false alarm a second check
clears (a run checkpoints after about 40 MB of WAL, so this needs a very small store).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from collector_cli.store import migrations

if TYPE_CHECKING:
    from collector_cli.store.db import Store


@dataclass(frozen=True, slots=True)
class StoreReport:
    """What `doctor` says about the store file; ``error`` is set when it cannot be read."""

    path: Path
    exists: bool
    size_bytes: int = 0
    wal_bytes: int = 0
    applied: list[str] = field(default_factory=list)  # collector migrations in the file
    known: list[str] = field(default_factory=list)  # migrations this version knows
    quick_check: str = ""  # "ok", or SQLite's first complaints
    error: str | None = None

    @property
    def pending(self) -> list[str]:
        return [name for name in self.known if name not in self.applied]

    @property
    def unknown(self) -> list[str]:
        """Migrations a newer collector applied: this version must not write the file."""
        return [name for name in self.applied if name not in self.known]


def connect_read_only(path: Path) -> sqlite3.Connection:
    """An existing store opened for reading only (never created, never migrated)."""
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def inspect_store(path: Path) -> StoreReport:
    """Size, schema version and a quick integrity check of the store at ``path``."""
    known = list(migrations.MIGRATION_NAMES)
    if not path.exists():
        return StoreReport(path, False, known=known)
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        return StoreReport(path, True, size, wal_bytes, known=known, error=str(exc))
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "_sqlite_migrations" not in tables:
            return StoreReport(
                path,
                True,
                size,
                wal_bytes,
                known=known,
                error="an SQLite database that collector did not create",
            )
        applied = []
        if "_sqlite_migrations" in tables:
            applied = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
                    (migrations.MIGRATION_SET,),
                )
            ]
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.Error as exc:
        return StoreReport(path, True, size, wal_bytes, known=known, error=str(exc))
    finally:
        conn.close()
    return StoreReport(path, True, size, wal_bytes, applied, known, "; ".join(problems))


def read_only_store(path: Path) -> Store:
    """The repositories over a read-only connection (for reading schedules and presets); the
    caller has checked that the file exists and its schema is current."""
    from collector_cli.store.db import Store

    return Store(connect_read_only(path), path)
