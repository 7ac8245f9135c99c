"""What happens when a schedule fires: `run --schedule ID` (the crontab line), `schedule run ID`
(by hand) and `schedule catch-up`.

Fire times follow the clock, so expressions are built relative to now: a daily or hourly fire
some minutes ago, with the schedule's `last_fire_at` moved back through sqlite3 to make that
fire due (or missed).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector_cli.errors import ExitCode
from collector_cli.schedule.fire import iso
from tests.conftest import dump, start_collector

WAIT_S = 60.0


@pytest.fixture
def tab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "crontab"
    path.write_text("MAILTO=\n", encoding="utf-8")
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    return path


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


# -- helpers ---------------------------------------------------------------------------------------


def query(db_path: Path, sql: str, params: tuple = ()) -> list[dict]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def runs(db_path: Path) -> list[dict]:
    return query(db_path, "SELECT * FROM runs ORDER BY id")


def events(db_path: Path, kind: str) -> list[dict]:
    return query(db_path, "SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))


def schedule_row(db_path: Path, schedule_id: int) -> dict:
    return query(db_path, "SELECT * FROM schedules WHERE id = ?", (schedule_id,))[0]


def set_last_fire(db_path: Path, schedule_id: int, moment: datetime) -> None:
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        with conn:
            conn.execute("UPDATE schedules SET last_fire_at = ? WHERE id = ?",
                         (iso(moment), schedule_id))  # fmt: skip
    finally:
        conn.close()


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def daily_at(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def add(cli, expression: str, *extra: str, name: str = "nightly") -> int:  # type: ignore[no-untyped-def]
    result = cli("schedule", "add", "--preset", "demo", "--cron", expression, "--name", name,
                 "--timezone", "UTC", *extra)  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return int(json.loads(cli("schedule", "show", name, "--json").stdout)["id"])


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stderr


def wait_until(what: str, predicate: Callable[[], object], timeout: float = WAIT_S) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def finish(proc: subprocess.Popen[str], timeout: float = WAIT_S) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} still running after {timeout}s:\n{out}\n{err}")
    return proc.returncode, out, err


# -- run --schedule: due, not due, claimed ---------------------------------------------------------


def test_fire_runs_once_when_due_and_never_twice(cli, tab: Path, db_path: Path) -> None:
    fire_at = minute(datetime.now(UTC) - timedelta(minutes=10))
    sid = add(cli, daily_at(fire_at))
    assert schedule_row(db_path, sid)["last_fire_at"] == iso(fire_at)  # added after it: handled

    before = dump(db_path)
    result = cli("run", "--schedule", str(sid))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    assert dump(db_path) == before  # not due: no run, no event, nothing claimed

    set_last_fire(db_path, sid, fire_at - timedelta(days=2))
    ok(cli("run", "--schedule", str(sid)))
    done = runs(db_path)
    assert [(r["trigger"], r["status"]) for r in done] == [(f"schedule:{sid}", "completed")]
    row = schedule_row(db_path, sid)
    assert row["last_fire_at"] == iso(fire_at)
    assert row["last_run_id"] == done[0]["id"]
    shown = json.loads(cli("schedule", "show", str(sid), "--json").stdout)
    assert shown["last_run"]["id"] == done[0]["id"]
    assert shown["last_run"]["status"] == "completed"
    history = json.loads(cli("history", "--json").stdout)
    assert [r["trigger"] for r in history] == [f"schedule:{sid}"]

    after_first = dump(db_path)
    for _ in range(3):  # the same fire again (a duplicate line, a slow cron): claimed already
        ok(cli("run", "--schedule", str(sid)))
    assert len(runs(db_path)) == 1
    assert dump(db_path) == after_first


def test_two_processes_for_one_fire_run_it_once(
    cli, tab: Path, db_path: Path, config_path: Path, procs
) -> None:
    fire_at = minute(datetime.now(UTC) - timedelta(minutes=5))
    sid = add(cli, daily_at(fire_at))
    set_last_fire(db_path, sid, fire_at - timedelta(days=1))
    procs.extend(start_collector(["run", "--schedule", str(sid)], db_path, config_path)
                 for _ in range(2))  # fmt: skip
    results = [finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    done = runs(db_path)
    assert len(done) == 1, done
    assert done[0]["trigger"] == f"schedule:{sid}" and done[0]["status"] == "completed"
    assert schedule_row(db_path, sid)["last_fire_at"] == iso(fire_at)


# -- missed fires ----------------------------------------------------------------------------------


def test_catch_up_runs_a_missed_fire_once_not_a_burst(cli, tab: Path, db_path: Path) -> None:
    newest = minute(datetime.now(UTC) - timedelta(minutes=30))
    sid = add(cli, f"{newest.minute} * * * *")  # hourly: five fires missed below
    set_last_fire(db_path, sid, newest - timedelta(hours=5))
    assert "No missed fires" not in ok(cli("schedule", "catch-up"))
    done = runs(db_path)
    assert [(r["trigger"], r["status"]) for r in done] == [(f"schedule:{sid}", "completed")]
    assert schedule_row(db_path, sid)["last_fire_at"] == iso(newest)

    settled = dump(db_path)
    assert "No missed fires" in ok(cli("schedule", "catch-up"))
    assert dump(db_path) == settled
    assert len(runs(db_path)) == 1
    ok(cli("run", "--schedule", str(sid)))  # nor does the next cron invocation
    assert len(runs(db_path)) == 1


def test_a_missed_fire_through_run_schedule_also_runs_once(cli, tab: Path, db_path: Path) -> None:
    newest = minute(datetime.now(UTC) - timedelta(minutes=20))
    sid = add(cli, f"{newest.minute} * * * *")
    set_last_fire(db_path, sid, newest - timedelta(hours=3))
    ok(cli("run", "--schedule", str(sid)))
    ok(cli("run", "--schedule", str(sid)))
    assert [r["trigger"] for r in runs(db_path)] == [f"schedule:{sid}"]


def test_fire_beyond_grace_is_skipped_with_a_warning(cli, tab: Path, db_path: Path) -> None:
    newest = minute(datetime.now(UTC) - timedelta(hours=3))
    sid = add(cli, daily_at(newest), "--grace", "1m")
    set_last_fire(db_path, sid, newest - timedelta(days=2))
    ok(cli("schedule", "catch-up"))
    assert runs(db_path) == []
    missed = events(db_path, "schedule_missed")
    assert len(missed) == 1
    assert missed[0]["level"] == "warning"
    assert json.loads(missed[0]["data"])["schedule_id"] == sid
    assert iso(newest) in missed[0]["message"]
    assert schedule_row(db_path, sid)["last_fire_at"] == iso(newest)  # handled: not retried

    settled = dump(db_path)
    assert "No missed fires" in ok(cli("schedule", "catch-up"))
    ok(cli("run", "--schedule", str(sid)))
    assert dump(db_path) == settled


def test_catch_up_says_which_fire_it_skipped(cli, tab: Path, db_path: Path) -> None:
    newest = minute(datetime.now(UTC) - timedelta(hours=3))
    sid = add(cli, daily_at(newest), "--grace", "1m")
    set_last_fire(db_path, sid, newest - timedelta(days=2))
    stderr = ok(cli("schedule", "catch-up"))
    assert "grace" in stderr and "skipped" in stderr, stderr


def test_run_schedule_beyond_grace_is_skipped_too(cli, tab: Path, db_path: Path) -> None:
    newest = minute(datetime.now(UTC) - timedelta(hours=2))
    sid = add(cli, daily_at(newest), "--grace", "30m")
    set_last_fire(db_path, sid, newest - timedelta(days=1))
    result = cli("run", "--schedule", str(sid))
    assert result.exit_code == 0
    # newest is 2 h to 2 h 1 min ago, depending on the second the test started
    assert re.search(r"missed by 2 h( 1 min)?, beyond the 30 min grace window", result.stderr), (
        result.stderr
    )
    assert runs(db_path) == []
    assert len(events(db_path, "schedule_missed")) == 1


def test_catch_up_skips_disabled_schedules(cli, tab: Path, db_path: Path) -> None:
    newest = minute(datetime.now(UTC) - timedelta(minutes=15))
    sid = add(cli, daily_at(newest))
    ok(cli("schedule", "disable", str(sid)))
    set_last_fire(db_path, sid, newest - timedelta(days=1))
    before = dump(db_path)
    assert "No missed fires" in ok(cli("schedule", "catch-up"))
    assert dump(db_path) == before


# -- disabled, removed, manual ---------------------------------------------------------------------


def test_disabled_schedule_firing_is_recorded_not_run(cli, tab: Path, db_path: Path) -> None:
    fire_at = minute(datetime.now(UTC) - timedelta(minutes=10))
    sid = add(cli, daily_at(fire_at))
    ok(cli("schedule", "disable", str(sid)))
    set_last_fire(db_path, sid, fire_at - timedelta(days=1))
    result = cli("run", "--schedule", str(sid))
    assert result.exit_code == 0, result.stderr
    assert "disabled" in result.stderr
    assert runs(db_path) == []
    disabled = events(db_path, "schedule_disabled")
    assert len(disabled) == 1 and json.loads(disabled[0]["data"]) == {"schedule_id": sid}
    assert schedule_row(db_path, sid)["last_fire_at"] == iso(fire_at - timedelta(days=1))


def test_removed_schedule_firing_is_recorded(cli, tab: Path, db_path: Path) -> None:
    sid = add(cli, "0 3 * * *")
    ok(cli("schedule", "remove", str(sid)))
    for ref in (str(sid), "424242"):
        result = cli("run", "--schedule", ref)
        assert result.exit_code == 0, result.stderr
        assert "no longer exists" in result.stderr
    assert runs(db_path) == []
    missing = events(db_path, "schedule_missing")
    assert len(missing) == 2
    assert f"schedule {sid} fired" in missing[0]["message"]
    assert all(e["level"] == "warning" for e in missing)


def test_schedule_run_of_a_disabled_schedule_still_runs(cli, tab: Path, db_path: Path) -> None:
    sid = add(cli, "0 3 * * *")
    ok(cli("schedule", "disable", "nightly"))
    last_fire = schedule_row(db_path, sid)["last_fire_at"]
    result = cli("schedule", "run", "nightly")
    assert result.exit_code == 0, result.stderr
    done = runs(db_path)
    assert [(r["trigger"], r["status"]) for r in done] == [(f"schedule:{sid}", "completed")]
    row = schedule_row(db_path, sid)
    assert row["enabled"] == 0
    assert row["last_run_id"] == done[0]["id"]
    assert row["last_fire_at"] == last_fire  # a manual run claims no fire
    ok(cli("schedule", "run", str(sid)))
    assert [r["trigger"] for r in runs(db_path)] == [f"schedule:{sid}"] * 2


# -- collision with an active run ------------------------------------------------------------------


def held_config(tmp_path: Path, allow: int = 2) -> tuple[Path, Path]:
    """A config whose sample source searches ``allow`` products, then holds the run at its gate
    until the test writes "open" into the gate file: a long run that cannot end by itself."""
    gate = tmp_path / "gate"
    gate.write_text(str(allow), encoding="utf-8")
    path = tmp_path / "held.toml"
    path.write_text(f"[sources.sample]\nlatency_ms = 0\ngate_file = {json.dumps(str(gate))}\n",
                    encoding="utf-8")  # fmt: skip
    return path, gate


def wait_running(db_path: Path, proc: subprocess.Popen[str]) -> dict:
    def check() -> dict | None:
        if proc.poll() is not None:
            pytest.fail(f"the long run ended early: {proc.communicate()}")
        if not db_path.exists():
            return None
        try:
            active = [r for r in runs(db_path) if r["status"] == "running"]
        except sqlite3.Error:
            return None
        return active[0] if active and active[0]["pid"] == proc.pid else None

    return wait_until("the long run to be running", check)  # type: ignore[return-value]


def test_scheduled_run_waits_for_the_active_run_then_completes(
    cli, tab: Path, db_path: Path, config_path: Path, tmp_path: Path, procs
) -> None:
    fire_at = minute(datetime.now(UTC) - timedelta(minutes=10))
    sid = add(cli, daily_at(fire_at))
    set_last_fire(db_path, sid, fire_at - timedelta(days=1))
    held, gate = held_config(tmp_path)
    long_run = start_collector(
        ["run", "--preset", "demo", "--max-products", "10", "--concurrency", "2"], db_path, held
    )
    procs.append(long_run)
    first = wait_running(db_path, long_run)

    scheduled = start_collector(["run", "--schedule", str(sid)], db_path, config_path)
    procs.append(scheduled)

    def seen_waiting() -> tuple[dict, list] | None:
        status = json.loads(cli("status", "--json").stdout)
        if not status["waiting"]:
            if scheduled.poll() is not None:
                pytest.fail(f"the scheduled run did not wait: {scheduled.communicate()}")
            return None
        listed = json.loads(cli("history", "--status", "waiting", "--json").stdout)
        return (status, listed) if listed else None

    status, listed = wait_until("the scheduled run waiting", seen_waiting)  # type: ignore[misc]
    assert status["active"]["id"] == first["id"]
    assert [(r["status"], r["trigger"]) for r in status["waiting"]] == [
        ("waiting", f"schedule:{sid}")
    ]
    assert [r["trigger"] for r in listed] == [f"schedule:{sid}"]
    assert "waiting" in cli("history").stdout

    gate.write_text("open", encoding="utf-8")
    code, _, err = finish(long_run)
    assert code == 0, err
    code, out, err = finish(scheduled)
    assert code == 0, (out, err)
    assert f"is waiting for run #{first['id']}" in " ".join(err.split())
    done = runs(db_path)
    assert [(r["trigger"], r["status"]) for r in done] == [
        ("manual", "completed"),
        (f"schedule:{sid}", "completed"),
    ]
    assert done[0]["finished_at"] <= done[1]["started_at"]  # it ran after, not alongside
    assert schedule_row(db_path, sid)["last_run_id"] == done[1]["id"]


def test_scheduled_run_gives_up_after_its_wait_limit(
    cli, tab: Path, db_path: Path, config_path: Path, tmp_path: Path, procs
) -> None:
    sid = add(cli, "0 3 * * *", "--wait-timeout", "1s")
    held, _ = held_config(tmp_path)  # running until stopped
    long_run = start_collector(["run", "--preset", "demo", "--concurrency", "1"], db_path, held)
    procs.append(long_run)
    wait_running(db_path, long_run)
    waiter = start_collector(["schedule", "run", str(sid)], db_path, config_path)
    procs.append(waiter)
    code, _, err = finish(waiter)
    assert code == ExitCode.RUN_ACTIVE, err
    assert "gave up after waiting 1s" in err
    gave_up = [r for r in runs(db_path) if r["trigger"] == f"schedule:{sid}"]
    assert len(gave_up) == 1 and gave_up[0]["status"] == "cancelled"
    failed = events(db_path, "schedule_failed")
    assert len(failed) == 1 and json.loads(failed[0]["data"]) == {"schedule_id": sid}
    ok(cli("stop"))
    code, _, _ = finish(long_run)
    assert code == ExitCode.CANCELLED


# -- bad input changes nothing ---------------------------------------------------------------------

BAD = [
    (("schedule", "show", "nope"), 3),
    (("schedule", "show", "99"), 3),
    (("schedule", "remove", "nope"), 3),
    (("schedule", "remove", "99"), 3),
    (("schedule", "enable", "nope"), 3),
    (("schedule", "disable", "99"), 3),
    (("schedule", "run", "nope"), 3),
    (("schedule", "run", "99"), 3),
    (("schedule", "add", "--preset", "nosuch", "--cron", "0 3 * * *", "--name", "x1"), 3),
    (("schedule", "add", "--preset", "Bad Preset", "--cron", "0 3 * * *"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "nightly"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "has space"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "_x"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "12345"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "a" * 65), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "café"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "a;b"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--grace", "soon"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--grace", "0"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--wait-timeout", "5x"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--wait-timeout", "-1h"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--timezone", "Mars/Olympus"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--timezone", "../../etc/passwd"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 31 2 *", "--name", "x2"), 2),
    (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "x2",
      "--notify", "not a url"), 2),
    (("run", "--schedule", "1", "--preset", "demo"), 2),
    (("run", "--schedule", "1", "--dry-run"), 2),
    (("run", "--schedule", "0"), 2),
    (("run", "--schedule", "abc"), 2),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_changes_nothing(
    cli, tab: Path, db_path: Path, args: tuple[str, ...], code: int
) -> None:
    sid = add(cli, "0 3 * * *")
    ok(cli("schedule", "disable", str(sid)))
    ok(cli("schedule", "enable", str(sid)))
    store, table = dump(db_path), tab.read_bytes()
    result = cli(*args)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("collector: error: "), lines[0]
    assert dump(db_path) == store
    assert tab.read_bytes() == table
