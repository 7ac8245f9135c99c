"""Scheduling rules found in review: secrets out of the database, ids never reused, one queued
run per schedule, lines fixed at `add`, a broken schedule not stopping catch-up, the crontab
written before the database changes, and the smaller edges (DST wildcards, grace, encodings)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector_cli.schedule import cron, notify
from collector_cli.schedule.fire import iso
from tests.conftest import subprocess_env

MAIL = "mailto://user:pw-Zq81x@127.0.0.1:2525?to=ops@example.com&from=c@example.com&mode=insecure"


@pytest.fixture
def tab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "crontab"
    path.write_bytes(b"# caf\xe9 jobs (Latin-1)\n0  4 * * * /bin/true\n")
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    monkeypatch.setenv("COLLECTOR_CRON_TZ", "UTC")
    return path


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def add(cli, name: str = "nightly", *extra: str, expression: str = "0 3 * * *") -> int:  # type: ignore[no-untyped-def]
    ok(cli("schedule", "add", "--preset", "demo", "--cron", expression, "--name", name,
           "--timezone", "UTC", *extra))  # fmt: skip
    return int(json.loads(ok(cli("schedule", "show", name, "--json")))["id"])


def sql(db_path: Path, statement: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def test_notify_urls_live_in_the_private_config_file_not_the_database(
    cli, tab: Path, db_path: Path, config_path: Path
) -> None:
    schedule_id = add(cli, "mailed", "--notify", MAIL)
    assert b"pw-Zq81x" not in db_path.read_bytes()
    shown = json.loads(ok(cli("schedule", "show", "mailed", "--json")))
    assert [url.split("#")[0] for url in shown["notify"]] == ["mailto://127.0.0.1/…"]
    assert "pw-Zq81x" in config_path.read_text()
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert str(schedule_id) in config_path.read_text()
    ok(cli("schedule", "remove", "mailed"))
    assert "pw-Zq81x" not in config_path.read_text()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("pbul://o.SECRETKEY123", "pbul://…"),
        ("ntfy://private-topic-991", "ntfy://…"),
        ("json://user:pw@hooks.example.com/x/token", "json://hooks.example.com/…"),
        ("prowl://APIKEY0123456789", "prowl://…"),
    ],
)
def test_masking_keeps_tokens_out(url: str, shown: str) -> None:
    masked, tag = notify.mask(url).split("#")
    assert masked == shown and len(tag) == 6  # the tag tells two such URLs apart


def test_ids_are_never_reused(cli, tab: Path, db_path: Path) -> None:
    first = add(cli, "a")
    ok(cli("schedule", "remove", "a"))
    assert add(cli, "b") == first + 1


def test_a_fire_while_the_schedule_still_runs_joins_it(cli, tab: Path, db_path: Path) -> None:
    """An hourly schedule whose last run still waits must not queue a second run."""
    from collector_cli import taxonomy
    from collector_cli.store.db import open_store

    schedule_id = add(cli, "busy", expression="* * * * *")
    store = open_store(db_path)
    try:
        store.runs.create(
            preset_name="demo", snapshot={"name": "demo"},
            categories=[taxonomy.category("electronics-headphones")], pid=os.getpid(),
            pid_started_at=__import__("psutil").Process().create_time(), hostname="h",
            trigger=f"schedule:{schedule_id}", status="waiting",
        )  # fmt: skip
    finally:
        store.close()
    sql(db_path, "UPDATE schedules SET last_fire_at = ?",
        (iso(datetime.now(UTC) - timedelta(minutes=5)),))  # fmt: skip
    result = cli("run", "--schedule", str(schedule_id))
    assert result.exit_code == 0, result.stderr
    assert "joined run 1" in result.stderr
    assert sql(db_path, "SELECT count(*) FROM runs") == [(1,)]
    assert sql(db_path, "SELECT count(*) FROM events WHERE kind = 'schedule_coalesced'") == [(1,)]


def test_lines_keep_the_environment_of_add(
    cli, tab: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    add(cli, "pinned")
    line = [x for x in tab.read_text(errors="replace").splitlines() if "collector-schedule" in x]
    assert f"COLLECTOR_CONFIG={config_path}" in line[0]
    monkeypatch.delenv("COLLECTOR_CONFIG")
    assert "nothing to repair" in cli("schedule", "sync").stderr
    assert f"COLLECTOR_CONFIG={config_path}" in tab.read_text(errors="replace")


def test_catch_up_goes_on_after_a_broken_schedule(cli, tab: Path, db_path: Path) -> None:
    now = datetime.now(UTC)
    expression = f"{(now - timedelta(minutes=3)).minute} * * * *"
    broken, fine = (
        add(cli, "broken", expression=expression),
        add(cli, "fine", expression=expression),
    )
    sql(db_path, "UPDATE schedules SET preset_name = 'gone' WHERE id = ?", (broken,))
    sql(db_path, "UPDATE schedules SET last_fire_at = ?", (iso(now - timedelta(hours=2)),))
    result = cli("schedule", "catch-up")
    assert result.exit_code == 3, result.stderr  # the worst outcome is reported
    assert "no preset named 'gone'" in result.stderr
    rows = sql(db_path, "SELECT trigger, status FROM runs")
    assert rows == [(f"schedule:{fine}", "completed")]


def test_remove_keeps_the_schedule_when_the_crontab_cannot_be_written(
    cli, tab: Path, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "kept")
    unwritable = tmp_path / "now-a-directory"
    unwritable.mkdir()
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(unwritable))
    result = cli("schedule", "remove", "kept")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert sql(db_path, "SELECT name FROM schedules") == [("kept",)]


def test_enabling_does_not_catch_up_fires_of_the_disabled_period(
    cli, tab: Path, db_path: Path
) -> None:
    add(cli, "paused", expression="* * * * *")
    ok(cli("schedule", "disable", "paused"))
    sql(db_path, "UPDATE schedules SET last_fire_at = ?",
        (iso(datetime.now(UTC) - timedelta(hours=1)),))  # fmt: skip
    ok(cli("schedule", "enable", "paused"))
    assert "No missed fires" in cli("schedule", "catch-up").stderr
    assert sql(db_path, "SELECT count(*) FROM runs") == [(0,)]


def test_run_schedule_never_creates_a_database(tmp_path: Path, config_path: Path) -> None:
    missing = tmp_path / "deleted" / "collector.db"
    result = subprocess.run(
        [sys.executable, "-m", "collector_cli", "--db", str(missing), "run", "--schedule", "1"],
        env=subprocess_env(missing, config_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "no database at" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not missing.exists() and not missing.parent.exists()


def test_foreign_lines_in_another_encoding_survive(cli, tab: Path) -> None:
    before = tab.read_bytes()
    add(cli, "latin")
    after = tab.read_bytes()
    assert after.startswith(before)
    ok(cli("schedule", "remove", "latin"))
    assert tab.read_bytes() == before


def test_grace_must_leave_time_to_start(cli, tab: Path, db_path: Path) -> None:
    result = cli("schedule", "add", "--preset", "demo", "--cron", "@daily", "--grace", "5s")
    assert result.exit_code == 2 and "--grace" in result.stderr
    assert not db_path.exists()  # refused before the store was even opened


def test_a_preset_in_use_cannot_be_removed(cli, tab: Path) -> None:
    ok(cli("preset", "add", "mine", "-c", "electronics-headphones"))
    ok(cli("schedule", "add", "--preset", "mine", "--cron", "@daily"))
    result = cli("preset", "remove", "mine")
    assert result.exit_code == 2 and "used by schedule" in result.stderr
    ok(cli("schedule", "remove", "mine"))
    assert cli("preset", "remove", "mine").exit_code == 0


def test_wildcard_jobs_run_in_both_repeated_hours() -> None:
    """Debian cron: `30 */1 * * *` is a wildcard job, so the repeated 01:30 runs twice."""
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT
    fires = cron.next_fires("30 */1 * * *", "America/New_York", 3, after=start)
    assert [f.astimezone(UTC).hour for f in fires] == [4, 5, 6]  # 00:30 EDT, 01:30 EDT, 01:30 EST
