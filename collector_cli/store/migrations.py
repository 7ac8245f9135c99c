"""Schema history. Append-only: never edit or rename a migration once it has shipped.

Tables are written as SQL rather than through ``Table.create`` because the contract needs
CHECK constraints, a partial unique index and triggers that sqlite-utils cannot express.
Counters that can be derived from rows (products done/failed, sellers found/new, times_seen,
errors) are kept by triggers, so they equal what the rows say by construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

MIGRATION_SET = "collector"

# Names in the order they were written; db.py compares this list with the applied ones so it
# only imports sqlite-utils when something is pending.
MIGRATION_NAMES = [
    "m001_initial",
    "m002_seller_history_and_audit",
    "m003_source_usage",
    "m004_schedules",
    "m005_seller_evidence",
    "m006_lookup_indexes",
]

INITIAL_SCHEMA = """
CREATE TABLE presets (
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
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    preset_name TEXT NOT NULL,
    preset TEXT NOT NULL,
    trigger TEXT NOT NULL DEFAULT 'manual',
    status TEXT NOT NULL
        CHECK (status IN ('waiting', 'running', 'completed', 'cancelled', 'interrupted', 'failed')),
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
);
CREATE UNIQUE INDEX runs_one_running ON runs (status) WHERE status = 'running';
CREATE INDEX runs_preset ON runs (preset_name, id);

CREATE TABLE run_categories (
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
) WITHOUT ROWID;

CREATE TABLE run_products (
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
);
CREATE INDEX run_products_status ON run_products (run_id, status);

CREATE TABLE sellers (
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
);

CREATE TABLE run_sellers (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seller_id INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    sightings INTEGER NOT NULL,
    is_new INTEGER NOT NULL,
    PRIMARY KEY (run_id, seller_id)
) WITHOUT ROWID;
CREATE INDEX run_sellers_seller ON run_sellers (seller_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX events_run ON events (run_id, id);

CREATE TRIGGER run_sellers_counted AFTER INSERT ON run_sellers BEGIN
    UPDATE sellers SET times_seen = times_seen + 1 WHERE id = NEW.seller_id;
    UPDATE runs SET sellers_found = sellers_found + 1, sellers_new = sellers_new + NEW.is_new
        WHERE id = NEW.run_id;
END;

CREATE TRIGGER run_categories_added AFTER INSERT ON run_categories BEGIN
    UPDATE runs SET categories_total = categories_total + 1 WHERE id = NEW.run_id;
END;

CREATE TRIGGER run_categories_status AFTER UPDATE OF status ON run_categories
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE runs SET
        categories_done = categories_done + (NEW.status = 'done') - (OLD.status = 'done'),
        categories_failed = categories_failed + (NEW.status = 'failed') - (OLD.status = 'failed')
    WHERE id = NEW.run_id;
END;

CREATE TRIGGER run_products_added AFTER INSERT ON run_products BEGIN
    UPDATE runs SET
        products_total = products_total + 1,
        products_skipped = products_skipped + (NEW.status = 'skipped')
    WHERE id = NEW.run_id;
END;

CREATE TRIGGER run_products_status AFTER UPDATE OF status ON run_products
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE runs SET
        products_done = products_done + (NEW.status = 'done') - (OLD.status = 'done'),
        products_failed = products_failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        products_skipped = products_skipped + (NEW.status = 'skipped') - (OLD.status = 'skipped'),
        listings_seen = listings_seen
            + (NEW.status = 'done') * NEW.listings_seen - (OLD.status = 'done') * OLD.listings_seen
    WHERE id = NEW.run_id;
END;

CREATE TRIGGER events_errors_counted AFTER INSERT ON events
WHEN NEW.level = 'error' AND NEW.run_id IS NOT NULL BEGIN
    UPDATE runs SET errors = errors + 1 WHERE id = NEW.run_id;
END;
"""


# Feedback history is kept by triggers: a row when a seller first gets feedback numbers and
# whenever they change, so `sellers show` can print the series without the engine's help.
SELLER_HISTORY_AND_AUDIT = """
CREATE TABLE seller_feedback (
    id INTEGER PRIMARY KEY,
    seller_id INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    recorded_at TEXT NOT NULL,
    feedback_score INTEGER,
    feedback_score_approx INTEGER NOT NULL DEFAULT 0,
    feedback_percent REAL
);
CREATE INDEX seller_feedback_seller ON seller_feedback (seller_id, id);

CREATE TRIGGER sellers_feedback_first AFTER INSERT ON sellers
WHEN NEW.feedback_score IS NOT NULL OR NEW.feedback_percent IS NOT NULL BEGIN
    INSERT INTO seller_feedback (seller_id, run_id, recorded_at, feedback_score,
        feedback_score_approx, feedback_percent)
    VALUES (NEW.id, NEW.last_run_id, coalesce(NEW.last_seen_at, NEW.created_at),
        NEW.feedback_score, NEW.feedback_score_approx, NEW.feedback_percent);
END;

CREATE TRIGGER sellers_feedback_changed AFTER UPDATE OF feedback_score, feedback_percent ON sellers
WHEN OLD.feedback_score IS NOT NEW.feedback_score
    OR OLD.feedback_percent IS NOT NEW.feedback_percent BEGIN
    INSERT INTO seller_feedback (seller_id, run_id, recorded_at, feedback_score,
        feedback_score_approx, feedback_percent)
    VALUES (NEW.id, NEW.last_run_id, coalesce(NEW.last_seen_at, NEW.created_at),
        NEW.feedback_score, NEW.feedback_score_approx, NEW.feedback_percent);
END;

CREATE TABLE seller_audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL
        CHECK (action IN ('add', 'remove', 'flag', 'unflag', 'export_mark')),
    seller_id INTEGER,
    platform TEXT,
    name TEXT NOT NULL DEFAULT '',
    detail TEXT
);
CREATE INDEX seller_audit_at ON seller_audit (id);
CREATE INDEX sellers_exported ON sellers (exported_at);
"""


# What each source cost a run. The engine adds growth to run_usage; triggers keep the run's
# totals (requests, retries, failures, billed results, cost) equal to the sum of its rows.
SOURCE_USAGE = """
CREATE TABLE run_usage (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    billed_results INTEGER NOT NULL DEFAULT 0,
    cost_micros INTEGER NOT NULL DEFAULT 0,
    quota_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, source)
) WITHOUT ROWID;

ALTER TABLE runs ADD COLUMN request_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN billed_results INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN quota_calls INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER run_usage_added AFTER INSERT ON run_usage BEGIN
    UPDATE runs SET
        requests = requests + NEW.requests,
        retries = retries + NEW.retries,
        request_failures = request_failures + NEW.failures,
        billed_results = billed_results + NEW.billed_results,
        cost_micros = cost_micros + NEW.cost_micros,
        quota_calls = quota_calls + NEW.quota_calls
    WHERE id = NEW.run_id;
END;

CREATE TRIGGER run_usage_grown AFTER UPDATE ON run_usage BEGIN
    UPDATE runs SET
        requests = requests + NEW.requests - OLD.requests,
        retries = retries + NEW.retries - OLD.retries,
        request_failures = request_failures + NEW.failures - OLD.failures,
        billed_results = billed_results + NEW.billed_results - OLD.billed_results,
        cost_micros = cost_micros + NEW.cost_micros - OLD.cost_micros,
        quota_calls = quota_calls + NEW.quota_calls - OLD.quota_calls
    WHERE id = NEW.run_id;
END;
"""


# Recurring runs. `last_fire_at` is the newest cron fire time already handled: claiming a fire
# is one conditional UPDATE, so two invocations for the same minute can never both run.
SCHEDULES = """
CREATE TABLE schedules (
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
);
"""


# What each seller listed for each best-seller product of a run: the evidence that rankings,
# markups and category spans are derived from (insight/). Keyed by the run's product row, so a
# product's evidence is committed with its done mark and deleted with its run. Runs from
# before this migration simply have none. The lowest-priced listing is kept as the example;
# prices are NULL when no listing of the seller for that product had a price.
SELLER_EVIDENCE = """
CREATE TABLE seller_evidence (
    run_product_id INTEGER NOT NULL REFERENCES run_products (id) ON DELETE CASCADE,
    seller_id INTEGER NOT NULL REFERENCES sellers (id) ON DELETE CASCADE,
    listings INTEGER NOT NULL CHECK (listings > 0),
    price_min_micros INTEGER,
    price_max_micros INTEGER CHECK (price_max_micros >= price_min_micros),
    example_listing_id TEXT,
    example_url TEXT,
    PRIMARY KEY (run_product_id, seller_id)
) WITHOUT ROWID;
CREATE INDEX seller_evidence_seller ON seller_evidence (seller_id);
"""


# `sellers show/flag/unflag/remove NAME` without --platform look a seller up by name_key alone,
# which the (platform, name_key) unique index cannot serve: at 600k sellers each name was a
# full scan (55 ms), and 20k names did not finish in ten minutes. A flagged seller's note is
# read from its latest audit row wherever the seller is shown.
LOOKUP_INDEXES = """
CREATE INDEX sellers_name_key ON sellers (name_key);
CREATE INDEX seller_audit_seller ON seller_audit (seller_id, id);
"""


def build() -> object:
    """Return the Migrations set. Imported lazily: sqlite-utils is only needed to migrate."""
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)

    @migrations(name="m001_initial")
    def m001_initial(db: Database) -> None:
        for statement in _split(INITIAL_SCHEMA):
            db.execute(statement)

    @migrations(name="m002_seller_history_and_audit")
    def m002_seller_history_and_audit(db: Database) -> None:
        for statement in _split(SELLER_HISTORY_AND_AUDIT):
            db.execute(statement)

    @migrations(name="m003_source_usage")
    def m003_source_usage(db: Database) -> None:
        for statement in _split(SOURCE_USAGE):
            db.execute(statement)

    @migrations(name="m004_schedules")
    def m004_schedules(db: Database) -> None:
        for statement in _split(SCHEDULES):
            db.execute(statement)

    @migrations(name="m005_seller_evidence")
    def m005_seller_evidence(db: Database) -> None:
        for statement in _split(SELLER_EVIDENCE):
            db.execute(statement)

    @migrations(name="m006_lookup_indexes")
    def m006_lookup_indexes(db: Database) -> None:
        for statement in _split(LOOKUP_INDEXES):
            db.execute(statement)

    return migrations


def _split(script: str) -> list[str]:
    """Split on statement ends, keeping trigger bodies (which contain ';') whole."""
    import sqlite3

    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    return statements
