"""`collector run` and `collector history`: outputs, counters and what lands in the store."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from collector_cli import config
from collector_cli.errors import ExitCode
from tests.conftest import connect, start_collector

DEMO_CATEGORIES = [
    "electronics-headphones",
    "home-kitchen-dining",
    "toys-building-toys",
    "sports-exercise-fitness",
]
HISTORY_FIELDS = {
    "id",
    "preset",
    "status",
    "started_at",
    "duration_s",
    "categories_total",
    "products_done",
    "listings_seen",
    "sellers_found",
    "sellers_new",
    "errors",
}
STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \S")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich tables wrap at 80 columns; a wide terminal keeps each run on one line."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def failing_config(config_path: Path) -> Path:
    """The sample marketplace rejects about a fifth of the product searches (HTTP 400)."""
    config_path.write_text("[sources.sample]\nlatency_ms = 0\nfatal_rate = 0.2\n", encoding="utf-8")
    config.load.cache_clear()
    return config_path


def _run_row(db_path: Path, run_id: int):
    conn = connect(db_path)
    try:
        return conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        conn.close()


def _json(result) -> object:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _assert_timestamped(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "no progress lines on stderr"
    now = datetime.now()
    for line in lines:
        m = STAMP.match(line)
        assert m, f"not a timestamped line: {line!r}"
        stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        assert abs(now - stamp) < timedelta(minutes=5), line
    return lines


# -- run -----------------------------------------------------------------------------------------


def test_demo_run_prints_summary_and_plain_progress(cli, db_path):
    result = cli("run", "--preset", "demo")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "Traceback" not in result.stdout + result.stderr

    run = _run_row(db_path, 1)
    assert run["status"] == "completed"
    assert run["products_total"] == 100
    assert run["products_done"] + run["products_skipped"] == 100
    assert run["products_failed"] == 0
    assert run["active_seconds"] < 5

    out = result.stdout.splitlines()
    assert re.match(r"Run #1 \(demo\) completed in ", out[0]), out[0]
    summary = result.stdout
    assert f"{run['products_done']} searched" in summary
    assert f"{run['listings_seen']:,}" in summary
    assert f"{run['sellers_found']:,} found" in summary

    # not a terminal: timestamped plain lines on stderr, no live view escape codes
    lines = _assert_timestamped(result.stderr)
    assert "\x1b[" not in result.stderr
    assert "run #1 (demo) started: 4 categories" in lines[0]
    assert "Run #1 (demo) completed" in lines[-1]


def test_run_json_emits_json_lines(cli, db_path):
    result = cli("run", "--preset", "demo", "--json")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert result.stderr.strip() == ""

    raw = result.stdout.splitlines()
    assert len(raw) >= 6  # started, 4 categories listed, finished (plus progress)
    events = [json.loads(line) for line in raw]  # every line is one JSON document
    assert all(isinstance(e, dict) and "type" in e and "at" in e for e in events)
    for e in events:
        datetime.fromisoformat(e["at"])

    first, last = events[0], events[-1]
    assert first["type"] == "run_started"
    assert first["run_id"] == 1
    assert first["preset"] == "demo"
    assert first["categories_total"] == 4
    assert last["type"] == "run_finished"
    assert [e["type"] for e in events].count("run_finished") == 1
    assert sum(e["type"] == "category_listed" for e in events) == 4
    assert {e["category"] for e in events if e["type"] == "category_listed"} == set(DEMO_CATEGORIES)

    assert last["status"] == "completed"
    assert last["exit_code"] == 0
    assert last["run_id"] == 1
    run = _run_row(db_path, 1)
    for key in (
        "categories_total",
        "categories_done",
        "categories_failed",
        "products_total",
        "products_done",
        "products_failed",
        "products_skipped",
        "listings_seen",
        "sellers_found",
        "sellers_new",
        "errors",
        "requests",
    ):
        assert last[key] == run[key], key
    assert last["categories_done"] == 4
    assert last["products_total"] == 100
    assert last["listings_seen"] > 1000
    assert 0 < last["sellers_found"] == last["sellers_new"]  # first run: all are new
    assert last["errors"] == 0


def test_run_max_products_limits_each_category(cli, db_path):
    result = cli("run", "--preset", "demo", "--max-products", "3")
    assert result.exit_code == ExitCode.OK, result.stderr
    conn = connect(db_path)
    per_category = dict(
        conn.execute(
            "SELECT category_id, count(*) FROM run_products WHERE run_id = 1 GROUP BY category_id"
        ).fetchall()
    )
    assert per_category == dict.fromkeys(DEMO_CATEGORIES, 3)
    assert conn.execute("SELECT count(*) FROM run_products").fetchone()[0] == 4 * 3
    assert _run_row(db_path, 1)["products_total"] == 12
    snapshot = _json(cli("history", "show", "1", "--json"))["preset_snapshot"]
    assert snapshot["filters"]["max_products"] == 3
    # the override is for this run only: the stored preset is unchanged
    assert _json(cli("preset", "show", "demo", "--json"))["filters"]["max_products"] == 25


def test_run_with_failures_exits_5_and_records_them(cli, db_path, failing_config):
    result = cli("run", "--preset", "demo")
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    assert "Traceback" not in result.stdout + result.stderr

    run = _run_row(db_path, 1)
    assert run["status"] == "completed"
    assert run["products_failed"] > 0
    assert run["products_done"] > 0
    assert run["products_done"] + run["products_failed"] + run["products_skipped"] == 100
    assert f"{run['products_failed']} failed" in result.stdout

    conn = connect(db_path)
    error_events = conn.execute(
        "SELECT count(*) FROM events WHERE run_id = 1 AND level = 'error'"
    ).fetchone()[0]
    assert error_events == run["errors"] > 0
    assert error_events == run["products_failed"]

    # each failure is reported on stderr as it happens, timestamped
    lines = _assert_timestamped(result.stderr)
    assert sum("product failed" in line for line in lines) == run["products_failed"]

    failed_rows = conn.execute(
        "SELECT product_key, error FROM run_products WHERE run_id = 1 AND status = 'failed'"
    ).fetchall()
    assert len(failed_rows) == run["products_failed"]

    shown = _json(cli("history", "show", "1", "--json"))
    assert shown["products_failed"] == run["products_failed"]
    failed = shown["failed_products"]
    assert len(failed) == run["products_failed"]
    assert {f["product_key"] for f in failed} == {r["product_key"] for r in failed_rows}
    for f in failed:
        assert set(f) >= {"category_id", "product_key", "title", "attempts", "error"}
        assert f["category_id"] in DEMO_CATEGORIES
        assert f["error"] and "HTTP 400" in f["error"]
        assert f["attempts"] >= 1
    assert sum(c["failed"] for c in shown["categories"]) == run["products_failed"]

    text = cli("history", "show", "1")
    assert text.exit_code == 0, text.stderr
    assert f"{run['products_failed']} failed products" in text.stdout
    for f in failed:
        line = next(ln for ln in text.stdout.splitlines() if f["product_key"] in ln)
        assert f["error"] in line


def test_second_run_finds_mostly_known_sellers(cli, db_path):
    assert cli("run", "--preset", "demo").exit_code == 0
    assert cli("run", "--preset", "demo").exit_code == 0
    first, second = _run_row(db_path, 1), _run_row(db_path, 2)
    assert first["products_total"] == second["products_total"] == 100
    assert first["sellers_new"] == first["sellers_found"] > 0
    assert second["sellers_found"] > 0
    assert second["sellers_new"] < 0.3 * first["sellers_new"]

    conn = connect(db_path)
    both = conn.execute(
        "SELECT s.times_seen FROM sellers s"
        " WHERE s.id IN (SELECT seller_id FROM run_sellers WHERE run_id = 1)"
        " AND s.id IN (SELECT seller_id FROM run_sellers WHERE run_id = 2)"
    ).fetchall()
    assert len(both) == second["sellers_found"] - second["sellers_new"] > 0
    assert {row[0] for row in both} == {2}
    only_one = conn.execute("SELECT count(*) FROM sellers WHERE times_seen = 1").fetchone()[0]
    total = conn.execute("SELECT count(*) FROM sellers").fetchone()[0]
    assert total == len(both) + only_one
    new_in_two = conn.execute(
        "SELECT count(*) FROM run_sellers WHERE run_id = 2 AND is_new = 1"
    ).fetchone()[0]
    assert new_in_two == second["sellers_new"]


# -- history -------------------------------------------------------------------------------------


def test_history_empty(cli):
    listed = cli("history")
    assert listed.exit_code == 0
    assert listed.stdout == ""
    assert "No runs yet" in listed.stderr
    assert _json(cli("history", "--json")) == []


@pytest.fixture
def three_runs(cli, failing_config) -> None:
    """Run 1: demo (clean) · run 2: tiny user preset · run 3: demo with failures (exit 5)."""
    failing_config.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
    config.load.cache_clear()
    assert cli("run", "--preset", "demo").exit_code == 0
    assert cli("preset", "add", "tiny", "-c", "pet-cats", "--max-products", "5").exit_code == 0
    assert cli("run", "--preset", "tiny").exit_code == 0
    failing_config.write_text(
        "[sources.sample]\nlatency_ms = 0\nfatal_rate = 0.2\n", encoding="utf-8"
    )
    config.load.cache_clear()
    assert cli("run", "--preset", "demo").exit_code == ExitCode.PARTIAL


def test_history_json_newest_first(cli, db_path, three_runs):
    runs = _json(cli("history", "--json"))
    assert [r["id"] for r in runs] == [3, 2, 1]
    assert [r["preset"] for r in runs] == ["demo", "tiny", "demo"]
    for r in runs:
        assert set(r) >= HISTORY_FIELDS
        assert r["status"] == "completed"
        row = _run_row(db_path, r["id"])
        for key in (
            "categories_total",
            "products_done",
            "listings_seen",
            "sellers_found",
            "sellers_new",
            "errors",
        ):
            assert r[key] == row[key], (r["id"], key)
        assert r["started_at"] == row["started_at"]
        datetime.fromisoformat(r["started_at"])
        assert isinstance(r["duration_s"], (int, float))
        assert 0 <= r["duration_s"] < 10
    assert runs[1]["categories_total"] == 1
    assert runs[1]["products_done"] <= 5
    assert runs[2]["categories_total"] == 4
    assert runs[2]["errors"] == 0
    assert runs[0]["errors"] > 0
    started = [datetime.fromisoformat(r["started_at"]) for r in runs]
    assert started == sorted(started, reverse=True)


def test_history_filters(cli, three_runs):
    assert [r["id"] for r in _json(cli("history", "--json", "--limit", "2"))] == [3, 2]
    assert [r["id"] for r in _json(cli("history", "--json", "--limit", "1"))] == [3]
    assert [r["id"] for r in _json(cli("history", "--json", "--preset", "demo"))] == [3, 1]
    assert [r["id"] for r in _json(cli("history", "--json", "--preset", "tiny"))] == [2]
    assert _json(cli("history", "--json", "--preset", "unknown")) == []
    assert [r["id"] for r in _json(cli("history", "--json", "--status", "completed"))] == [
        3,
        2,
        1,
    ]
    assert _json(cli("history", "--json", "--status", "failed")) == []
    assert _json(cli("history", "--json", "--status", "running")) == []
    combined = _json(cli("history", "--json", "--preset", "demo", "--limit", "1"))
    assert [r["id"] for r in combined] == [3]

    text = cli("history", "--preset", "demo", "--limit", "1")
    assert text.exit_code == 0
    rows = [ln.split() for ln in text.stdout.splitlines()[1:] if ln.strip()]
    assert [r[0] for r in rows] == ["3"]


def test_history_text(cli, db_path, three_runs):
    result = cli("history")
    assert result.exit_code == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    trend = lines.pop()
    assert trend.startswith("sellers #1–#3  found "), trend
    header = lines[0].split()
    assert header[:3] == ["id", "preset", "status"]
    rows = [ln.split() for ln in lines[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("3", "demo", "completed"),
        ("2", "tiny", "completed"),
        ("1", "demo", "completed"),
    ]
    for r in rows:
        run = _run_row(db_path, int(r[0]))
        assert f"{run['listings_seen']:,}" in r
        assert f"{run['sellers_found']:,}" in r
        assert r[-4] == str(run["errors"])
        assert r[-3] == f"{run['requests']:,}"
        assert r[-2] == "$0.00"  # the sample marketplace is free
        assert r[-1] == str(run["attempts"])


def test_history_show_json(cli, db_path):
    assert cli("run", "--preset", "demo").exit_code == 0
    data = _json(cli("history", "show", "1", "--json"))
    assert set(data) >= HISTORY_FIELDS | {"preset_snapshot", "categories", "failed_products"}
    assert data["id"] == 1
    assert data["preset"] == "demo"
    assert data["status"] == "completed"
    snap = data["preset_snapshot"]
    assert snap["name"] == "demo"
    assert snap["categories"] == DEMO_CATEGORIES
    assert snap["filters"]["max_products"] == 25
    assert snap["product_source"] == snap["listing_source"] == "sample"

    cats = data["categories"]
    assert len(cats) == 4
    assert [c["category_id"] for c in cats] == DEMO_CATEGORIES
    assert [c["department_id"] for c in cats] == [
        "electronics",
        "home-kitchen",
        "toys-games",
        "sports-outdoors",
    ]
    for c in cats:
        assert c["status"] == "done"
        assert c["products"] == 25
        assert c["done"] + c["skipped"] == 25
        assert c["failed"] == c["pending"] == 0
        assert c["error"] is None
    assert sum(c["listings"] for c in cats) == data["listings_seen"]
    assert sum(c["done"] for c in cats) == data["products_done"]
    assert data["failed_products"] == []


def test_history_show_text(cli, db_path):
    assert cli("run", "--preset", "demo").exit_code == 0
    run = _run_row(db_path, 1)
    result = cli("history", "show", "1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].startswith("Run #1")
    assert "demo" in out.splitlines()[0]
    assert "completed" in out.splitlines()[0]
    for cat in DEMO_CATEGORIES:
        line = next(ln for ln in out.splitlines() if cat in ln)
        assert "done" in line
    assert f"{run['listings_seen']:,}" in out
    assert "failed products" not in out


# -- a real process ------------------------------------------------------------------------------


def test_real_subprocess_run(db_path, config_path):
    proc = start_collector(["run", "--preset", "demo"], db_path, config_path)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr
    assert re.match(r"Run #1 \(demo\) completed in ", stdout), stdout
    assert "sellers" in stdout
    lines = _assert_timestamped(stderr)
    assert "run #1 (demo) started" in lines[0]
    assert "completed" in lines[-1]
    run = _run_row(db_path, 1)
    assert run["status"] == "completed"
    assert run["pid"] == proc.pid
    assert run["products_done"] > 0
