"""The store's schema is exactly what the migrations say, and the store enforces DESIGN §3.

The snapshot below is the contract: a migration that changes the schema must change this file
too (and must be a new, appended migration — never an edit of m001).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from collector_cli.errors import StoreError
from collector_cli.models import Category
from collector_cli.presets import BUILTINS
from collector_cli.store import migrations
from collector_cli.store.db import open_store, utcnow
from collector_cli.store.runs import RunActiveError
from collector_cli.taxonomy import category
from tests.conftest import dump


def _norm(sql: str | None) -> str | None:
    return None if sql is None else " ".join(sql.split())


# (type, name, tbl_name, sql) ordered by type, name — exactly as sqlite_master must hold them.
EXPECTED_SCHEMA: list[tuple[str, str, str, str | None]] = [
    ("index", "events_run", "events", "CREATE INDEX events_run ON events (run_id, id)"),
    (
        "index",
        "idx__sqlite_migrations_migration_set_name",
        "_sqlite_migrations",
        'CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"'
        ' ON "_sqlite_migrations" ("migration_set", "name")',
    ),
    (
        "index",
        "run_products_status",
        "run_products",
        "CREATE INDEX run_products_status ON run_products (run_id, status)",
    ),
    (
        "index",
        "run_sellers_seller",
        "run_sellers",
        "CREATE INDEX run_sellers_seller ON run_sellers (seller_id)",
    ),
    (
        "index",
        "runs_one_running",
        "runs",
        "CREATE UNIQUE INDEX runs_one_running ON runs (status) WHERE status = 'running'",
    ),
    ("index", "runs_preset", "runs", "CREATE INDEX runs_preset ON runs (preset_name, id)"),
    ("index", "sqlite_autoindex_presets_1", "presets", None),
    ("index", "sqlite_autoindex_run_products_1", "run_products", None),
    ("index", "sqlite_autoindex_sellers_1", "sellers", None),
    (
        "table",
        "_sqlite_migrations",
        "_sqlite_migrations",
        """CREATE TABLE "_sqlite_migrations" (
            "id" INTEGER PRIMARY KEY,
            "migration_set" TEXT,
            "name" TEXT,
            "applied_at" TEXT
        )""",
    ),
    (
        "table",
        "events",
        "events",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs (id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            data TEXT
        )""",
    ),
    (
        "table",
        "presets",
        "presets",
        """CREATE TABLE presets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            builtin INTEGER NOT NULL DEFAULT 0,
            description TEXT NOT NULL DEFAULT '',
            departments TEXT NOT NULL DEFAULT '[]',
            categories TEXT NOT NULL DEFAULT '[]',
            filters TEXT NOT NULL DEFAULT '{}',
            product_source TEXT NOT NULL,
            listing_source TEXT NOT NULL,
            source_options TEXT NOT NULL DEFAULT '{}',
            limits TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
    ),
    (
        "table",
        "run_categories",
        "run_categories",
        """CREATE TABLE run_categories (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            category_id TEXT NOT NULL,
            department_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
            products_found INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            updated_at TEXT,
            PRIMARY KEY (run_id, category_id)
        ) WITHOUT ROWID""",
    ),
    (
        "table",
        "run_products",
        "run_products",
        """CREATE TABLE run_products (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            category_id TEXT NOT NULL,
            department_id TEXT NOT NULL,
            product_key TEXT NOT NULL,
            rank INTEGER NOT NULL,
            title TEXT NOT NULL,
            price_micros INTEGER,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            pages INTEGER NOT NULL DEFAULT 0,
            listings_seen INTEGER NOT NULL DEFAULT 0,
            sellers_seen INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT,
            UNIQUE (run_id, category_id, product_key)
        )""",
    ),
    (
        "table",
        "run_sellers",
        "run_sellers",
        """CREATE TABLE run_sellers (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seller_id INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
            sightings INTEGER NOT NULL,
            is_new INTEGER NOT NULL,
            PRIMARY KEY (run_id, seller_id)
        ) WITHOUT ROWID""",
    ),
    (
        "table",
        "runs",
        "runs",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            preset_name TEXT NOT NULL,
            preset TEXT NOT NULL,
            trigger TEXT NOT NULL DEFAULT 'manual',
            status TEXT NOT NULL
                CHECK (status IN ('waiting', 'running', 'completed', 'cancelled', 'interrupted',
                    'failed')),
            finish_reason TEXT,
            epoch INTEGER NOT NULL,
            pid INTEGER,
            pid_started_at REAL,
            hostname TEXT,
            heartbeat_at TEXT,
            stop_requested_at TEXT,
            current_category TEXT,
            products_expected INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            attempt_started_at TEXT NOT NULL,
            finished_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            active_seconds REAL NOT NULL DEFAULT 0,
            categories_total INTEGER NOT NULL DEFAULT 0,
            categories_done INTEGER NOT NULL DEFAULT 0,
            categories_failed INTEGER NOT NULL DEFAULT 0,
            products_total INTEGER NOT NULL DEFAULT 0,
            products_done INTEGER NOT NULL DEFAULT 0,
            products_failed INTEGER NOT NULL DEFAULT 0,
            products_skipped INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            listings_seen INTEGER NOT NULL DEFAULT 0,
            sellers_found INTEGER NOT NULL DEFAULT 0,
            sellers_new INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            cost_micros INTEGER NOT NULL DEFAULT 0
        , request_failures INTEGER NOT NULL DEFAULT 0, billed_results INTEGER NOT NULL DEFAULT 0, quota_calls INTEGER NOT NULL DEFAULT 0)""",
    ),
    (
        "table",
        "run_usage",
        "run_usage",
        """CREATE TABLE run_usage (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            billed_results INTEGER NOT NULL DEFAULT 0,
            cost_micros INTEGER NOT NULL DEFAULT 0,
            quota_calls INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, source)
        ) WITHOUT ROWID""",
    ),
    (
        "trigger",
        "run_usage_added",
        "run_usage",
        """CREATE TRIGGER run_usage_added AFTER INSERT ON run_usage BEGIN
            UPDATE runs SET
                requests = requests + NEW.requests,
                retries = retries + NEW.retries,
                request_failures = request_failures + NEW.failures,
                billed_results = billed_results + NEW.billed_results,
                cost_micros = cost_micros + NEW.cost_micros,
                quota_calls = quota_calls + NEW.quota_calls
            WHERE id = NEW.run_id;
        END""",
    ),
    (
        "trigger",
        "run_usage_grown",
        "run_usage",
        """CREATE TRIGGER run_usage_grown AFTER UPDATE ON run_usage BEGIN
            UPDATE runs SET
                requests = requests + NEW.requests - OLD.requests,
                retries = retries + NEW.retries - OLD.retries,
                request_failures = request_failures + NEW.failures - OLD.failures,
                billed_results = billed_results + NEW.billed_results - OLD.billed_results,
                cost_micros = cost_micros + NEW.cost_micros - OLD.cost_micros,
                quota_calls = quota_calls + NEW.quota_calls - OLD.quota_calls
            WHERE id = NEW.run_id;
        END""",
    ),
    (
        "table",
        "schedules",
        "schedules",
        """CREATE TABLE schedules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            preset_name TEXT NOT NULL,
            cron TEXT NOT NULL,
            timezone TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            notify TEXT NOT NULL DEFAULT '[]',
            grace_seconds INTEGER NOT NULL DEFAULT 21600,
            wait_seconds INTEGER NOT NULL DEFAULT 21600,
            last_fire_at TEXT,
            last_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
            python TEXT NOT NULL,
            config_path TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
    ),
    (
        "table",
        "sqlite_sequence",
        "sqlite_sequence",
        "CREATE TABLE sqlite_sequence(name,seq)",
    ),
    (
        "index",
        "sqlite_autoindex_schedules_1",
        "schedules",
        None,
    ),
    (
        "table",
        "sellers",
        "sellers",
        """CREATE TABLE sellers (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            name_key TEXT NOT NULL,
            name TEXT NOT NULL,
            feedback_score INTEGER,
            feedback_score_approx INTEGER NOT NULL DEFAULT 0,
            feedback_percent REAL,
            times_seen INTEGER NOT NULL DEFAULT 0,
            sightings INTEGER NOT NULL DEFAULT 0,
            first_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
            first_seen_at TEXT,
            last_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
            last_seen_at TEXT,
            flagged INTEGER NOT NULL DEFAULT 0,
            exported_at TEXT,
            origin TEXT NOT NULL DEFAULT 'run',
            created_at TEXT NOT NULL,
            UNIQUE (platform, name_key)
        )""",
    ),
    (
        "trigger",
        "events_errors_counted",
        "events",
        """CREATE TRIGGER events_errors_counted AFTER INSERT ON events
        WHEN NEW.level = 'error' AND NEW.run_id IS NOT NULL BEGIN
            UPDATE runs SET errors = errors + 1 WHERE id = NEW.run_id;
        END""",
    ),
    (
        "trigger",
        "run_categories_added",
        "run_categories",
        """CREATE TRIGGER run_categories_added AFTER INSERT ON run_categories BEGIN
            UPDATE runs SET categories_total = categories_total + 1 WHERE id = NEW.run_id;
        END""",
    ),
    (
        "trigger",
        "run_categories_status",
        "run_categories",
        """CREATE TRIGGER run_categories_status AFTER UPDATE OF status ON run_categories
        WHEN OLD.status IS NOT NEW.status BEGIN
            UPDATE runs SET
                categories_done = categories_done + (NEW.status = 'done') - (OLD.status = 'done'),
                categories_failed = categories_failed + (NEW.status = 'failed')
                    - (OLD.status = 'failed')
            WHERE id = NEW.run_id;
        END""",
    ),
    (
        "trigger",
        "run_products_added",
        "run_products",
        """CREATE TRIGGER run_products_added AFTER INSERT ON run_products BEGIN
            UPDATE runs SET
                products_total = products_total + 1,
                products_skipped = products_skipped + (NEW.status = 'skipped')
            WHERE id = NEW.run_id;
        END""",
    ),
    (
        "trigger",
        "run_products_status",
        "run_products",
        """CREATE TRIGGER run_products_status AFTER UPDATE OF status ON run_products
        WHEN OLD.status IS NOT NEW.status BEGIN
            UPDATE runs SET
                products_done = products_done + (NEW.status = 'done') - (OLD.status = 'done'),
                products_failed = products_failed + (NEW.status = 'failed')
                    - (OLD.status = 'failed'),
                products_skipped = products_skipped + (NEW.status = 'skipped')
                    - (OLD.status = 'skipped'),
                listings_seen = listings_seen
                    + (NEW.status = 'done') * NEW.listings_seen
                    - (OLD.status = 'done') * OLD.listings_seen
            WHERE id = NEW.run_id;
        END""",
    ),
    (
        "trigger",
        "run_sellers_counted",
        "run_sellers",
        """CREATE TRIGGER run_sellers_counted AFTER INSERT ON run_sellers BEGIN
            UPDATE sellers SET times_seen = times_seen + 1 WHERE id = NEW.seller_id;
            UPDATE runs SET sellers_found = sellers_found + 1,
                sellers_new = sellers_new + NEW.is_new
                WHERE id = NEW.run_id;
        END""",
    ),
    # m002_seller_history_and_audit
    (
        "index",
        "seller_audit_at",
        "seller_audit",
        "CREATE INDEX seller_audit_at ON seller_audit (id)",
    ),
    (
        "index",
        "seller_feedback_seller",
        "seller_feedback",
        "CREATE INDEX seller_feedback_seller ON seller_feedback (seller_id, id)",
    ),
    (
        "index",
        "sellers_exported",
        "sellers",
        "CREATE INDEX sellers_exported ON sellers (exported_at)",
    ),
    (
        "table",
        "seller_audit",
        "seller_audit",
        "CREATE TABLE seller_audit (\n    id INTEGER PRIMARY KEY,\n    at TEXT NOT NULL,\n    action TEXT NOT NULL\n        CHECK (action IN ('add', 'remove', 'flag', 'unflag', 'export_mark')),\n    seller_id INTEGER,\n    platform TEXT,\n    name TEXT NOT NULL DEFAULT '',\n    detail TEXT\n)",
    ),
    (
        "table",
        "seller_feedback",
        "seller_feedback",
        "CREATE TABLE seller_feedback (\n    id INTEGER PRIMARY KEY,\n    seller_id INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,\n    run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,\n    recorded_at TEXT NOT NULL,\n    feedback_score INTEGER,\n    feedback_score_approx INTEGER NOT NULL DEFAULT 0,\n    feedback_percent REAL\n)",
    ),
    (
        "trigger",
        "sellers_feedback_changed",
        "sellers",
        "CREATE TRIGGER sellers_feedback_changed AFTER UPDATE OF feedback_score, feedback_percent ON sellers\nWHEN OLD.feedback_score IS NOT NEW.feedback_score\n    OR OLD.feedback_percent IS NOT NEW.feedback_percent BEGIN\n    INSERT INTO seller_feedback (seller_id, run_id, recorded_at, feedback_score,\n        feedback_score_approx, feedback_percent)\n    VALUES (NEW.id, NEW.last_run_id, coalesce(NEW.last_seen_at, NEW.created_at),\n        NEW.feedback_score, NEW.feedback_score_approx, NEW.feedback_percent);\nEND",
    ),
    (
        "trigger",
        "sellers_feedback_first",
        "sellers",
        "CREATE TRIGGER sellers_feedback_first AFTER INSERT ON sellers\nWHEN NEW.feedback_score IS NOT NULL OR NEW.feedback_percent IS NOT NULL BEGIN\n    INSERT INTO seller_feedback (seller_id, run_id, recorded_at, feedback_score,\n        feedback_score_approx, feedback_percent)\n    VALUES (NEW.id, NEW.last_run_id, coalesce(NEW.last_seen_at, NEW.created_at),\n        NEW.feedback_score, NEW.feedback_score_approx, NEW.feedback_percent);\nEND",
    ),
    # m005_seller_evidence
    (
        "table",
        "seller_evidence",
        "seller_evidence",
        """CREATE TABLE seller_evidence (
    run_product_id INTEGER NOT NULL REFERENCES run_products (id) ON DELETE CASCADE,
    seller_id INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    listings INTEGER NOT NULL CHECK (listings > 0),
    price_min_micros INTEGER,
    price_max_micros INTEGER CHECK (price_max_micros >= price_min_micros),
    example_listing_id TEXT,
    example_url TEXT,
    PRIMARY KEY (run_product_id, seller_id)
) WITHOUT ROWID""",
    ),
    (
        "index",
        "seller_evidence_seller",
        "seller_evidence",
        "CREATE INDEX seller_evidence_seller ON seller_evidence (seller_id)",
    ),
    # m006_lookup_indexes
    (
        "index",
        "sellers_name_key",
        "sellers",
        "CREATE INDEX sellers_name_key ON sellers (name_key)",
    ),
    (
        "index",
        "seller_audit_seller",
        "seller_audit",
        "CREATE INDEX seller_audit_seller ON seller_audit (seller_id, id)",
    ),
]


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None]]:
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    return [(r[0], r[1], r[2], _norm(r[3])) for r in rows]


def _expected() -> list[tuple[str, str, str, str | None]]:
    return sorted((t, n, tbl, _norm(sql)) for t, n, tbl, sql in EXPECTED_SCHEMA)


def _migration_rows(conn: sqlite3.Connection) -> list[tuple]:
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT id, migration_set, name, applied_at FROM _sqlite_migrations ORDER BY id"
        )
    ]


@pytest.fixture
def store(db_path: Path):
    s = open_store(db_path)
    yield s
    s.close()


def _run_row(conn: sqlite3.Connection, status: str) -> None:
    now = utcnow()
    conn.execute(
        "INSERT INTO runs (preset_name, preset, status, epoch, started_at, attempt_started_at)"
        " VALUES ('t', '{}', ?, 1, ?, ?)",
        (status, now, now),
    )


def _create_run(store, cat: Category) -> int:
    return store.runs.create(
        preset_name="t",
        snapshot={"name": "t"},
        categories=[cat],
        pid=os.getpid(),
        pid_started_at=0.0,
        hostname="test-host",
    )


# -- exact schema --------------------------------------------------------------------------------


def test_fresh_store_has_exactly_the_expected_schema(store) -> None:
    actual = _schema(store.conn)
    expected = _expected()
    # Names first, so a missing/extra object gives a readable diff before the SQL does.
    assert [a[:3] for a in actual] == [e[:3] for e in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got == want, f"{got[0]} {got[1]} differs from the snapshot"


def test_expected_schema_matches_the_migration_source() -> None:
    """Every statement of the migrations is in the snapshot: it is not just a recording."""
    statements: dict[tuple[str, str], str] = {}
    current = ""
    source = (
        migrations.INITIAL_SCHEMA
        + migrations.SELLER_HISTORY_AND_AUDIT
        + migrations.SOURCE_USAGE
        + migrations.SCHEDULES
        + migrations.SELLER_EVIDENCE
        + migrations.LOOKUP_INDEXES
    )
    for line in source.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            sql = current.strip().rstrip(";")
            added = re.match(r"ALTER TABLE (\w+) ADD COLUMN (.+)$", sql, re.S)
            if added:  # SQLite appends ", <column>" inside the table's stored CREATE
                table, column = added.groups()
                create = statements["TABLE", table]
                statements["TABLE", table] = create[: create.rstrip().rfind(")")] + f", {column})"
            elif sql:
                name = re.match(r"CREATE (?:UNIQUE )?(TABLE|INDEX|TRIGGER) (\w+)", sql)
                assert name, sql
                statements[name.group(1), name.group(2)] = sql
            current = ""
    assert not current.strip()
    statements = {_norm(sql) for sql in statements.values()}
    ours = {sql for _, _, _, sql in _expected() if sql is not None}
    collector_objects = {
        s for s in ours if "_sqlite_migrations" not in s and "sqlite_sequence" not in s
    }
    assert collector_objects == statements


def test_migrations_table_holds_exactly_the_known_migrations(store) -> None:
    rows = store.query("SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY id")
    assert [(r["migration_set"], r["name"]) for r in rows] == [
        (migrations.MIGRATION_SET, name) for name in migrations.MIGRATION_NAMES
    ]
    assert all(r["applied_at"] for r in rows)
    assert migrations.MIGRATION_NAMES[0] == "m001_initial"


def test_reopening_is_idempotent(db_path: Path) -> None:
    first = open_store(db_path)
    schema = _schema(first.conn)
    applied = _migration_rows(first.conn)
    first.presets.ensure_builtins(BUILTINS)
    first.close()
    before = dump(db_path)

    for _ in range(3):
        again = open_store(db_path)
        assert _schema(again.conn) == schema
        assert _migration_rows(again.conn) == applied
        again.close()
    assert dump(db_path) == before  # not a byte of content changed

    # A second connection while the first is open is just as harmless.
    a, b = open_store(db_path), open_store(db_path)
    try:
        assert _migration_rows(b.conn) == applied
    finally:
        a.close()
        b.close()
    assert dump(db_path) == before


# -- pragmas and file --------------------------------------------------------------------------


def test_connection_pragmas(store) -> None:
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_foreign_keys_are_enforced(store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "INSERT INTO run_categories (run_id, category_id, department_id, position)"
            " VALUES (999, 'x', 'y', 0)"
        )


def test_database_file_is_private(store, db_path: Path) -> None:
    store.conn.execute(
        "INSERT INTO events (run_id, at, level, kind, message) VALUES (NULL, ?, 'info', 'k', 'm')",
        (utcnow(),),
    )
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, side


def test_file_mode_is_0600_even_with_a_permissive_umask(db_path: Path) -> None:
    old = os.umask(0)
    try:
        s = open_store(db_path)
        s.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


# -- one running run per store -----------------------------------------------------------------


def test_partial_unique_index_allows_one_running_run(store) -> None:
    conn = store.conn
    _run_row(conn, "running")
    with pytest.raises(sqlite3.IntegrityError, match=r"runs\.status"):
        _run_row(conn, "running")
    # Only 'running' is restricted: waiting and finished runs pile up freely.
    for status in ("waiting", "waiting", "completed", "cancelled", "interrupted", "failed"):
        _run_row(conn, status)
    assert conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 7
    # Moving another run back to 'running' is refused by the same index.
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE runs SET status = 'running' WHERE status = 'completed'")


def test_runs_create_raises_run_active_error(store) -> None:
    cat = category("electronics-headphones")
    first = _create_run(store, cat)
    with pytest.raises(RunActiveError, match=f"#{first}"):
        _create_run(store, cat)
    # The refused attempt left nothing behind: one run, one category checkpoint.
    assert store.query_one("SELECT count(*) FROM runs")[0] == 1
    assert store.query_one("SELECT count(*) FROM run_categories")[0] == 1
    assert store.runs.get(first)["categories_total"] == 1
    store.runs.finish(first, "completed", "done", 0.0)
    second = _create_run(store, cat)
    assert second == first + 1
    assert store.runs.get(second)["epoch"] == 2


def test_status_check_constraint(store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        _run_row(store.conn, "paused")


# -- refusing what it does not understand ------------------------------------------------------


def test_unknown_newer_migration_is_refused(db_path: Path) -> None:
    s = open_store(db_path)
    s.conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        (migrations.MIGRATION_SET, "m999_from_the_future", utcnow()),
    )
    s.close()
    before = dump(db_path)
    with pytest.raises(StoreError, match="m999_from_the_future") as info:
        open_store(db_path)
    assert "newer" in str(info.value)
    assert dump(db_path) == before


def test_foreign_sqlite_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    before = dump(db_path)
    with pytest.raises(StoreError, match="did not create"):
        open_store(db_path)
    assert dump(db_path) == before


def test_a_name_without_platform_is_found_through_an_index(store) -> None:
    """`sellers show/flag NAME` without --platform must not scan every seller."""
    plan = store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM sellers WHERE name_key = ? ORDER BY platform", ("x",)
    ).fetchall()
    detail = " ".join(row[3] for row in plan)
    assert "USING INDEX sellers_name_key" in detail, detail
    assert "SCAN sellers" not in detail, detail
