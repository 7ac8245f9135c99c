"""A preset is resolved once, at the edge, into one immutable value (DESIGN §4, issue 16).

What was checked is what runs: the engine, the estimate, a resume and a scheduled fire read the
resolved value only, never the config file, the source registry or the taxonomy again.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from collector_cli import config
from collector_cli.engine import lifecycle
from collector_cli.engine.events import Event, RunStats, RunSummary
from collector_cli.engine.limits import RunLimits
from collector_cli.engine.plan import estimate
from collector_cli.engine.resolve import resolve
from collector_cli.errors import ExitCode, UsageError
from collector_cli.models import Filters, Preset
from collector_cli.store.db import open_store
from tests.conftest import dump

PACKAGE = Path(__file__).resolve().parents[1] / "collector_cli"


class SilentReporter:
    def __init__(self) -> None:
        self.summaries: list[RunSummary] = []

    def start(self, stats: RunStats) -> None:
        pass

    def event(self, event: Event, stats: RunStats) -> None:
        pass

    def finish(self, summary: RunSummary) -> None:
        self.summaries.append(summary)

    def abort(self) -> None:
        pass


def write_sample_config(config_path: Path, **values: object) -> None:
    body = "".join(f"{k} = {v!r}\n" for k, v in {"latency_ms": 0, **values}.items())
    config_path.write_text("[sources.sample]\n" + body, encoding="utf-8")
    config.load.cache_clear()


def preset(**changes: object) -> Preset:
    base = Preset(
        name="p",
        departments=["pet-supplies"],
        categories=["electronics-headphones", "pet-fish"],  # pet-fish is in the department
        filters=Filters(max_products=3, pages=1),
        source_options={"sample": {"latency_ms": 700, "page_size": 20}},
        limits={"max_requests": 50},
    )
    return dataclasses.replace(base, **changes)


# -- the value -------------------------------------------------------------------------------------


def test_resolve_settles_sources_options_categories_and_limits(config_path: Path) -> None:
    write_sample_config(config_path, seed=11)
    given = preset()

    run = resolve(given, max_products=2, limit_flags={"max_errors": 3, "max_requests": None},
                  concurrency=5, trigger="schedule:9")  # fmt: skip

    ids = run.category_ids
    assert ids[-1] == "electronics-headphones" and ids.count("pet-fish") == 1
    assert all(c.department_id == "pet-supplies" for c in run.categories[:-1])
    assert dict(run.product.options) == {"latency_ms": 0, "page_size": 20, "seed": 11}
    assert run.listing.options == run.product.options  # both stages use the sample source
    assert (run.product.kind, run.listing.kind) == ("product", "listing")
    assert run.product.credentials == run.listing.credentials == "not needed"
    assert run.limits == RunLimits(max_requests=50, max_errors=3)
    assert (run.concurrency, run.trigger, run.filters.max_products) == (5, "schedule:9", 2)
    assert run.snapshot()["filters"]["max_products"] == 2  # the override is part of the record
    assert run.snapshot()["limits"] == {"max_requests": 50}  # one-off flags are not


def test_the_resolved_run_cannot_change(config_path: Path) -> None:
    given = preset()
    run = resolve(given)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.concurrency = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.product.options["latency_ms"] = 5  # type: ignore[index]
    given.categories.append("toys-building-toys")
    given.source_options["sample"]["seed"] = 99
    assert "toys-building-toys" not in run.category_ids
    assert "seed" not in run.product.options and "seed" not in run.snapshot()["source_options"]


def test_bad_flags_sources_and_credentials_are_usage_errors(config_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid --max-products 0"):
        resolve(preset(), max_products=0)
    with pytest.raises(UsageError, match="unknown listing source 'nope'"):
        resolve(preset(listing_source="nope"))
    with pytest.raises(UsageError, match="invalid --max-errors 0"):
        resolve(preset(), limit_flags={"max_errors": 0})
    real = preset(product_source="oxylabs", listing_source="ebay", source_options={})
    with pytest.raises(UsageError, match="COLLECTOR_OXYLABS_USERNAME"):
        resolve(real)
    planned = resolve(real, require_credentials=False)  # the dry run reports them instead
    assert planned.product.credentials.startswith("missing: set COLLECTOR_OXYLABS_USERNAME")
    assert planned.listing.credentials.startswith("missing: set COLLECTOR_EBAY_CLIENT_ID")
    plan = estimate(planned)
    assert [s.credentials for s in plan.sources] == [
        planned.product.credentials,
        planned.listing.credentials,
    ]


def test_a_resolved_run_ignores_config_edited_after_it(config_path: Path, db_path: Path) -> None:
    """A waiting run starts hours later: it runs what was checked, not what the file says now."""
    write_sample_config(config_path)
    run = resolve(preset(departments=[], categories=["pet-fish"]))
    write_sample_config(config_path, fatal_rate=1.0)  # every search would now fail
    store = open_store(db_path)
    try:
        summary = lifecycle.start_new(store, run, SilentReporter())
        stored = json.loads(store.runs.get(summary.run_id)["preset"])
    finally:
        store.close()
    assert summary.status == "completed", summary.finish_reason
    assert summary.counters["products_failed"] == 0
    assert summary.counters["products_done"] > 0
    assert stored == run.snapshot()


# -- one place -------------------------------------------------------------------------------------

RESOLVING = {"source_options", "expand", "source_class", "check_names", "check_options",
             "check_credentials", "validate_options", "validate_credentials"}  # fmt: skip
NOT_BELOW = ("collector_cli.config", "collector_cli.taxonomy", "collector_cli.sources.base")


def _names_and_imports(path: Path) -> tuple[set[str], set[str]]:
    names: set[str] = set()
    imports: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.add(node.module)
            names.update(a.name for a in node.names)
    return names, imports


def test_only_engine_resolve_resolves() -> None:
    """The run's entry points and everything below them take the resolved value."""
    paths = [p for p in sorted((PACKAGE / "engine").glob("*.py")) if p.name != "resolve.py"]
    paths += [PACKAGE / "cli" / "run.py", PACKAGE / "cli" / "schedule.py"]
    paths += [PACKAGE / "schedule" / "fire.py"]
    offenders = []
    for path in paths:
        names, imports = _names_and_imports(path)
        offenders += [f"{path.name} uses {n}" for n in sorted(names & RESOLVING)]
        if path.parent.name == "engine":
            offenders += [f"{path.name} imports {m}" for m in sorted(imports) if m in NOT_BELOW]
    assert offenders == []
    for edge in ("cli/run.py", "schedule/fire.py"):
        assert "resolve" in _names_and_imports(PACKAGE / edge)[0], edge


# -- from the command line -------------------------------------------------------------------------


def runs(db_path: Path) -> list[dict]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        conn.close()


def test_resume_runs_the_snapshot_not_todays_preset(cli, db_path: Path) -> None:
    added = cli("preset", "add", "snap", "-c", "pet-fish", "-c", "pet-birds",
                "--max-products", "4", "--pages", "1")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    first = cli("run", "-p", "snap", "--concurrency", "1", "--max-requests", "1")
    assert first.exit_code == ExitCode.LIMIT, first.stderr
    replaced = cli("preset", "add", "snap", "-c", "toys-building-toys", "--max-products", "9",
                   "--pages", "1", "--replace")  # fmt: skip
    assert replaced.exit_code == 0, replaced.stderr

    resumed = cli("resume", "1")

    assert resumed.exit_code == 0, resumed.stderr
    shown = json.loads(cli("history", "show", "1", "--json").stdout)
    assert [c["category_id"] for c in shown["categories"]] == ["pet-fish", "pet-birds"]
    conn = sqlite3.connect(db_path)
    try:
        per_category = dict(conn.execute(
            "SELECT category_id, count(*) FROM run_products WHERE run_id = 1 GROUP BY 1"
        ).fetchall())  # fmt: skip
    finally:
        conn.close()
    assert per_category == {"pet-fish": 4, "pet-birds": 4}


def test_scheduled_fire_checks_credentials_like_run(
    cli, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same resolution as `collector run`: no run row, one line, exit 2, and the failure is
    recorded for the schedule (it used to become a run that failed inside the engine)."""
    tab = tmp_path / "crontab"
    tab.write_text("MAILTO=\n", encoding="utf-8")
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(tab))
    added = cli("preset", "add", "real", "-c", "pet-fish", "--product-source", "oxylabs",
                "--listing-source", "ebay")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    manual = cli("run", "-p", "real")
    assert manual.exit_code == ExitCode.USAGE
    keys = ("oxylabs.username", "oxylabs.password", "ebay.client_id", "ebay.client_secret")
    for key in keys:  # `schedule add` wants them in the config file; they go away after it
        assert cli("config", "set", key, "-", input="x\n").exit_code == 0
    assert cli("schedule", "add", "--preset", "real", "--cron", "0 3 * * *", "--name", "nightly",
               "--timezone", "UTC").exit_code == 0  # fmt: skip
    for key in keys:
        assert cli("config", "unset", key).exit_code == 0
    before = runs(db_path)

    fired = cli("schedule", "run", "nightly")

    assert fired.exit_code == ExitCode.USAGE
    assert fired.stderr.strip().splitlines() == manual.stderr.strip().splitlines()
    assert "COLLECTOR_OXYLABS_USERNAME" in fired.stderr
    assert runs(db_path) == before == []
    conn = sqlite3.connect(db_path)
    try:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY id")]
    finally:
        conn.close()
    assert kinds.count("schedule_failed") == 1


def test_dry_run_and_run_resolve_the_same_way(cli, db_path: Path, config_path: Path) -> None:
    """A bad `[sources.sample]` setting stops both before anything is stored."""
    config_path.write_text("[sources.sample]\nerror_rate = 7\n", encoding="utf-8")
    config.load.cache_clear()
    assert cli("history").exit_code == 0  # the store exists before the two attempts
    before = dump(db_path)
    dry = cli("run", "-p", "demo", "--dry-run")
    real = cli("run", "-p", "demo")
    assert dry.exit_code == real.exit_code == ExitCode.USAGE
    assert dry.stderr == real.stderr and "sample source" in real.stderr
    assert dump(db_path) == before
