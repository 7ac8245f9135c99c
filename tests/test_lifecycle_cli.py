"""The run lifecycle from the command line: one active run per store, `--wait` queueing,
`status` / `watch` / `stop` from another terminal, limits, the circuit breaker and `resume`.

Where several processes matter (concurrent starts, a run that writes while others read, a
watcher attached to a run) the tests start real `python -m collector_cli` processes and hold
the run at a known point with the sample source's gate (a file that says how many products may
be searched), so "while the run is going" is a fact, never a hope about timing; everything
else goes through the in-process `cli` fixture with the sample marketplace answering instantly.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector_cli import config
from collector_cli.errors import ExitCode
from tests.conftest import connect, dump, start_collector

DEMO_PRODUCTS = 100  # 4 categories x 25
DEMO_SEARCHABLE = 93  # 7 of them have no price and are skipped
WAIT_S = 300.0  # a safety net only: on a starved machine a process can take minutes


# -- helpers ---------------------------------------------------------------------------------------


def set_config(config_path: Path, **knobs: float | str) -> None:
    """Sample marketplace knobs for in-process commands and for processes started later."""
    knobs.setdefault("latency_ms", 0)
    lines = ["[sources.sample]", *(f"{key} = {json.dumps(value)}" for key, value in knobs.items())]
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config.load.cache_clear()


class Gate:
    """The sample source's gate: how many distinct products a run may search so far.

    A run held by the gate cannot finish by itself, however fast or slow the machine is; the
    test decides when it goes on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.allow(0)

    def allow(self, products: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(products), encoding="utf-8")
        tmp.replace(self.path)  # the source never reads a half-written number

    def open(self) -> None:
        self.allow(10**9)


def gated(config_path: Path, tmp_path: Path, allow: int = 0, **knobs: float | str) -> Gate:
    """A config whose sample source waits on a gate admitting ``allow`` products."""
    gate = Gate(tmp_path / "gate")
    gate.allow(allow)
    set_config(config_path, gate_file=str(gate.path), **knobs)
    return gate


# A safety net for in-process runs held by a gate that a limit should end: a run that was not
# ended by its limit fails the test with this reason instead of waiting forever.
SAFETY = ["--max-duration", "10m"]


class Procs:
    """Collector processes started by one test; any still alive at teardown are killed."""

    def __init__(self, db_path: Path, config_path: Path) -> None:
        self.db_path, self.config_path = db_path, config_path
        self.started: list[subprocess.Popen[str]] = []
        self._stderr_read: dict[int, str] = {}

    def start(self, *args: str) -> subprocess.Popen[str]:
        proc = start_collector(list(args), self.db_path, self.config_path)
        self.started.append(proc)
        return proc

    def first_stderr_line(self, proc: subprocess.Popen[str], timeout: float = WAIT_S) -> str:
        """Block until ``proc`` writes a first line on stderr (read raw, so nothing is lost
        to a buffer that ``communicate`` would not see)."""
        assert proc.stderr is not None
        got = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in got:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stderr], [], [], left)[0]:
                pytest.fail(f"no line on stderr of {proc.args} within {timeout}s: {got!r}")
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                pytest.fail(f"{proc.args} closed stderr: {got!r}")
            got += chunk
        text = got.decode()
        self._stderr_read[proc.pid] = text
        return text.splitlines()[0]

    def finish(self, proc: subprocess.Popen[str], timeout: float = WAIT_S) -> tuple[int, str, str]:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"process {proc.args} still running after {timeout}s:\n{out}\n{err}")
        return proc.returncode, out, self._stderr_read.pop(proc.pid, "") + err

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture
def procs(db_path: Path, config_path: Path) -> Iterator[Procs]:
    p = Procs(db_path, config_path)
    try:
        yield p
    finally:
        p.cleanup()


def read_runs(db_path: Path) -> list[dict]:
    """Every run row, read through a read-only connection (empty before the schema exists)."""
    if not db_path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def run_row(db_path: Path, run_id: int) -> dict:
    rows = [r for r in read_runs(db_path) if r["id"] == run_id]
    assert rows, f"no run {run_id} in the store"
    return rows[0]


def wait_until(what: str, predicate: Callable[[], object], timeout: float = WAIT_S) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def wait_running(db_path: Path, proc: subprocess.Popen[str], min_done: int = 1) -> dict:
    """Wait until ``proc``'s run is running with at least ``min_done`` products searched."""

    def check() -> dict | None:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"run exited early with {proc.returncode}:\n{out}\n{err}")
        for run in read_runs(db_path):
            if (
                run["status"] == "running"
                and run["pid"] == proc.pid
                and run["products_done"] >= min_done
            ):
                return run
        return None

    return wait_until(f"a running run with {min_done} products done", check)  # type: ignore[return-value]


def as_json(result) -> object:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("collector: error: "), stderr
    return lines[0]


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_counters_match_rows(db_path: Path, run_id: int) -> dict:
    """Every counter of the run equals what its rows say; returns the run row."""
    conn = connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        run = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())

        def q(sql: str) -> int:
            return conn.execute(sql, (run_id,)).fetchone()[0]

        for status in ("done", "failed", "skipped"):
            assert run[f"products_{status}"] == q(
                f"SELECT count(*) FROM run_products WHERE run_id = ? AND status = '{status}'"
            ), status
        assert run["products_total"] == q("SELECT count(*) FROM run_products WHERE run_id = ?")
        for status in ("done", "failed"):
            assert run[f"categories_{status}"] == q(
                f"SELECT count(*) FROM run_categories WHERE run_id = ? AND status = '{status}'"
            ), status
        assert (
            run["listings_seen"]
            == q(
                "SELECT coalesce(sum(listings_seen), 0) FROM run_products"
                " WHERE run_id = ? AND status = 'done'"
            )
            == q("SELECT coalesce(sum(sightings), 0) FROM run_sellers WHERE run_id = ?")
        )
        assert run["sellers_found"] == q("SELECT count(*) FROM run_sellers WHERE run_id = ?")
        assert run["sellers_new"] == q(
            "SELECT count(*) FROM run_sellers WHERE run_id = ? AND is_new"
        )
        assert run["errors"] == q(
            "SELECT count(*) FROM events WHERE run_id = ? AND level = 'error'"
        )
        # every searched product and every listed category cost at least one request
        finished = run["products_done"] + run["products_failed"]
        assert run["requests"] >= finished + run["categories_done"]
        return run
    finally:
        conn.close()


def remaining(db_path: Path, run_id: int) -> int:
    conn = connect(db_path)
    try:
        return conn.execute(
            "SELECT count(*) FROM run_products WHERE run_id = ? AND status = 'pending'", (run_id,)
        ).fetchone()[0]
    finally:
        conn.close()


def failed_keys(db_path: Path, run_id: int) -> set[str]:
    conn = connect(db_path)
    try:
        return {
            r[0]
            for r in conn.execute(
                "SELECT product_key FROM run_products WHERE run_id = ? AND status = 'failed'",
                (run_id,),
            )
        }
    finally:
        conn.close()


def product_status(db_path: Path, run_id: int, keys: set[str]) -> set[str]:
    conn = connect(db_path)
    try:
        return {
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT status FROM run_products WHERE run_id = ?"
                f" AND product_key IN ({','.join('?' * len(keys))})",
                (run_id, *keys),
            )
        }
    finally:
        conn.close()


def assert_limit_ended(result, db_path: Path, run_id: int = 1) -> dict:  # type: ignore[no-untyped-def]
    """A run ended by a limit: exit 6, cancelled, reason recorded, counters equal rows."""
    assert result.exit_code == ExitCode.LIMIT, (result.exit_code, result.stdout, result.stderr)
    run = assert_counters_match_rows(db_path, run_id)
    assert run["status"] == "cancelled"
    assert run["finish_reason"].startswith("limit reached"), run["finish_reason"]
    assert run["finished_at"] is not None
    assert f"Run #{run_id} (" in result.stdout
    assert run["finish_reason"] in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    return run


# -- one active run ----------------------------------------------------------------------------


def test_ten_runs_started_at_once_only_one_runs(cli, db_path, config_path, tmp_path, procs) -> None:
    # The winner is held at the gate until the nine others have given up, so it is certainly
    # still running whenever one of them looks.
    gate = gated(config_path, tmp_path)
    # The store exists (a first open of a brand-new store by many processes at once is
    # test_two_first_opens_of_a_new_store_both_succeed below).
    assert cli("status").exit_code == 0
    started = [procs.start("run", "--preset", "demo", "--concurrency", "4") for _ in range(10)]
    wait_until(
        "nine of the ten runs to give up", lambda: sum(p.poll() is not None for p in started) >= 9
    )
    gate.open()
    results = {proc.pid: procs.finish(proc) for proc in started}

    codes = sorted(code for code, _, _ in results.values())
    assert codes == [0] + [ExitCode.RUN_ACTIVE] * 9, {
        pid: (code, err[-300:]) for pid, (code, _, err) in results.items()
    }
    runs = read_runs(db_path)
    assert len(runs) == 1  # the losers failed on INSERT: no row, not even a cancelled one
    winner = runs[0]
    assert winner["status"] == "completed"
    assert results[winner["pid"]][0] == 0
    assert "Run #1 (demo) completed" in results[winner["pid"]][1]

    for pid, (_, out, err) in results.items():
        if pid == winner["pid"]:
            continue
        line = one_error_line(err)
        assert re.match(
            rf"collector: error: run #1 \(demo, started [\d-]+ [\d:]+, \d+/\d+ products,"
            rf" pid {winner['pid']}\) is already running in this store",
            line,
        ), line
        assert "--wait" in line
        assert out == ""
    conn = connect(db_path)
    try:
        for table in ("events", "run_categories", "run_products"):
            ids = [r[0] for r in conn.execute(f"SELECT DISTINCT run_id FROM {table}")]
            assert ids == [1], table
    finally:
        conn.close()
    assert_counters_match_rows(db_path, 1)


def test_two_first_opens_of_a_new_store_both_succeed(tmp_path: Path, monkeypatch) -> None:
    """Two commands starting together on a brand-new store both find it unmigrated and both
    apply the schema. Seen as `collector: error: database …: database is locked` (exit 4)
    from one of ten `collector run` processes started at once on a new store. The barrier
    holds each opener at the start of the schema migration so the interleaving is certain;
    an opener that serializes migrations never reaches it twice and waits it out."""
    from collector_cli.store import db as store_db
    from collector_cli.store import migrations

    path = tmp_path / "new" / "collector.db"
    path.parent.mkdir()
    # An empty store already in WAL mode: two connections of one process switching a new
    # file's journal mode at the same moment can see "database is locked" (separate processes
    # do not), and that is not what this test is about.
    sqlite3.connect(path).execute("PRAGMA journal_mode = WAL").connection.close()
    barrier = threading.Barrier(2)
    real_split = migrations._split

    def split_together(script: str) -> list[str]:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1.5)
        return real_split(script)

    monkeypatch.setattr(migrations, "_split", split_together)
    outcomes: list[str] = []

    def open_once() -> None:
        try:
            store_db.open_store(path).close()
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes == ["ok", "ok"]
    conn = sqlite3.connect(path)
    try:
        applied = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
        assert applied == len(migrations.MIGRATION_NAMES)
    finally:
        conn.close()


def test_waiting_runs_start_one_after_another(cli, db_path, config_path, tmp_path, procs) -> None:
    gate = gated(config_path, tmp_path)  # the first run holds until the queue has been seen
    assert cli("status").exit_code == 0
    started = [
        procs.start("run", "--preset", "demo", "--max-products", "3", "--wait") for _ in range(5)
    ]

    def queue_seen() -> tuple[dict, list, str] | None:
        status = as_json(cli("status", "--json"))
        if not status["waiting"]:
            return None
        listed = as_json(cli("history", "--status", "waiting", "--json"))
        text = cli("history", "--status", "waiting")
        if not listed:
            return None
        return status, listed, text.stdout

    status, listed, text = wait_until("runs waiting in the queue", queue_seen)  # type: ignore[misc]
    assert all(r["status"] == "waiting" and r["preset"] == "demo" for r in status["waiting"])
    assert status["active"] is not None and status["active"]["status"] == "running"
    assert all(r["status"] == "waiting" for r in listed)
    assert len(listed) >= 1
    assert "waiting" in text and "demo" in text

    gate.open()
    results = [procs.finish(proc) for proc in started]
    assert [code for code, _, _ in results] == [0] * 5, [err[-300:] for _, _, err in results]
    runs = read_runs(db_path)
    assert len(runs) == 5
    assert all(r["status"] == "completed" for r in runs), [r["status"] for r in runs]
    assert all(r["products_total"] == 12 for r in runs)
    by_start = sorted(runs, key=lambda r: stamp(r["started_at"]))
    assert [r["id"] for r in by_start] == [1, 2, 3, 4, 5]  # in the order they queued
    for earlier, later in itertools.pairwise(by_start):
        assert stamp(earlier["finished_at"]) <= stamp(later["started_at"]), (earlier, later)
    assert as_json(cli("history", "--status", "waiting", "--json")) == []


def test_wait_timeout_gives_up_and_records_it(cli, db_path, config_path, tmp_path, procs) -> None:
    gated(config_path, tmp_path, allow=2)  # the long run never ends by itself
    long_run = procs.start("run", "--preset", "demo", "--concurrency", "2")
    wait_running(db_path, long_run)

    # a real process: liveness checks know a waiting run by its collector process
    waiter = procs.start("run", "--preset", "demo", "--wait", "--wait-timeout", "1")
    code, out, err = procs.finish(waiter, timeout=15)
    assert code == ExitCode.RUN_ACTIVE, (out, err)
    assert out == ""
    assert "run 2 is waiting for run #1 (demo" in " ".join(err.split())
    last = err.strip().splitlines()[-1]
    assert last.startswith("collector: error: gave up after waiting 1s: run #1 (demo"), last
    gave_up = run_row(db_path, 2)
    assert gave_up["status"] == "cancelled"
    assert gave_up["finish_reason"].startswith("gave up waiting"), gave_up["finish_reason"]
    assert gave_up["finished_at"] is not None
    waited = (stamp(gave_up["finished_at"]) - stamp(gave_up["started_at"])).total_seconds()
    assert waited >= 1.0
    assert gave_up["products_total"] == 0
    assert run_row(db_path, 1)["status"] == "running"  # the active run was not touched

    assert cli("stop").exit_code == 0
    code, _, _ = procs.finish(long_run)
    assert code == ExitCode.CANCELLED


def test_wait_timeout_without_wait_is_a_usage_error(cli, db_path) -> None:
    assert cli("status").exit_code == 0
    before = dump(db_path)
    result = cli("run", "--preset", "demo", "--wait-timeout", "5")
    assert result.exit_code == ExitCode.USAGE
    assert "--wait-timeout" in one_error_line(result.stderr)
    assert dump(db_path) == before


# -- reads while a run writes ----------------------------------------------------------------------


def test_reads_while_a_run_writes_never_see_a_lock(
    cli, db_path, config_path, tmp_path, procs
) -> None:
    """Every round of reads lets a few more products through the gate, so the run commits
    while the next round reads, and it cannot end before the reads are over."""
    allowed = 5
    gate = gated(config_path, tmp_path, allow=allowed, latency_ms=2)
    departments = ["electronics", "toys-games", "home-kitchen", "sports-outdoors"]
    preset = cli("preset", "add", "busy", *(f"--department={d}" for d in departments))
    assert preset.exit_code == 0, preset.stderr
    writer = procs.start("run", "--preset", "busy", "--concurrency", "16")
    wait_running(db_path, writer, min_done=5)

    commands = [
        ("history", "--json"),
        ("status", "--json"),
        ("history", "show", "1", "--json"),
        ("preset", "list"),
        ("export", "--run", "1", "--format", "jsonl"),
        ("sellers", "list", "--limit", "5"),
    ]
    for _ in range(15):
        allowed += 3
        gate.allow(allowed)  # the run searches and commits while this round reads
        for args in commands:
            result = cli(*args)
            assert result.exit_code == 0, (args, result.stdout, result.stderr)
            assert "locked" not in (result.stdout + result.stderr).lower(), args
        assert writer.poll() is None, "the run ended while held by the gate"
    assert run_row(db_path, 1)["products_done"] > 5  # it did write meanwhile

    gate.open()
    code, _, err = procs.finish(writer)
    assert code == 0, err
    assert "locked" not in err.lower()
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert run["categories_done"] == 20


# -- status ------------------------------------------------------------------------------------


def test_status_before_during_and_after_a_run(cli, db_path, config_path, tmp_path, procs) -> None:
    text = cli("status")
    assert text.exit_code == 0
    assert text.stdout.strip() == "No run is active."
    assert as_json(cli("status", "--json")) == {
        "active": None,
        "waiting": [],
        "last_finished": None,
        "next_scheduled": [],
    }

    gate = gated(config_path, tmp_path, allow=5)
    proc = procs.start("run", "--preset", "demo", "--concurrency", "4")
    wait_until(
        "all categories listed and 5 products done",
        lambda: [
            r for r in read_runs(db_path) if r["categories_done"] == 4 and r["products_done"] >= 5
        ],
    )
    for _ in range(4):
        data = as_json(cli("status", "--json"))
        active = data["active"]
        assert active is not None, data
        assert active["id"] == 1
        assert active["status"] == "running"
        assert active["preset"] == "demo"
        assert active["pid"] == proc.pid
        assert active["products_total"] == DEMO_PRODUCTS
        assert active["products_done"] == 5
        assert active["rate_products_s"] > 0
        assert active["active_s"] > 0
        # A live heartbeat, not a stale one (the reaping threshold is 60 s); how fresh it is
        # on a busy machine is for the benchmarks, not for a test.
        age = (datetime.now(UTC) - stamp(active["heartbeat_at"])).total_seconds()
        assert age < 30.0, active["heartbeat_at"]
        assert data["waiting"] == []
        assert data["last_finished"] is None
    shown = cli("status")
    assert shown.exit_code == 0
    assert shown.stdout.startswith("Active: run #1 (demo) running since"), shown.stdout
    assert f"pid {proc.pid}" in shown.stdout
    beat = re.search(r"heartbeat ([\d.]+)s ago", shown.stdout)
    assert beat and float(beat.group(1)) < 30.0, shown.stdout
    assert re.search(r"products\s+\d+/100 \(0 failed\) · [\d.]+/s", shown.stdout), shown.stdout

    gate.open()
    code, _, err = procs.finish(proc)
    assert code == 0, err
    data = as_json(cli("status", "--json"))
    assert data["active"] is None
    assert data["waiting"] == []
    assert data["last_finished"]["id"] == 1
    assert data["last_finished"]["status"] == "completed"
    assert data["last_finished"]["finish_reason"] == "all products searched"
    assert data["last_finished"]["products_done"] == DEMO_SEARCHABLE
    after = cli("status").stdout
    assert after.startswith("No run is active.")
    assert "Last finished: run #1 (demo) completed" in after


# -- watch ---------------------------------------------------------------------------------------


def test_watch_with_nothing_running_exits_8(cli) -> None:
    result = cli("watch")
    assert result.exit_code == ExitCode.NOTHING_RUNNING
    assert "no run is active" in one_error_line(result.stderr)
    assert result.stdout == ""
    assert cli("run", "--preset", "demo").exit_code == 0
    for args in (["watch"], ["stop"]):
        result = cli(*args)
        assert result.exit_code == ExitCode.NOTHING_RUNNING, args
        one_error_line(result.stderr)


def test_watch_follows_a_run_and_sigint_only_detaches(
    db_path, config_path, tmp_path, procs
) -> None:
    gate = gated(config_path, tmp_path, allow=3)  # the run goes on until the test says so
    run = procs.start("run", "--preset", "demo", "--concurrency", "4")
    wait_running(db_path, run)
    follower = procs.start("watch")
    leaver = procs.start("watch")
    # the first progress line shows the watcher is following (stderr is a pipe: plain lines)
    line = procs.first_stderr_line(leaver)
    assert re.match(r"\d{4}-\d\d-\d\d [\d:]+ run #1 running: ", line), line

    leaver.send_signal(signal.SIGINT)
    code, out, err = procs.finish(leaver)
    assert code == 0, (code, out, err)
    assert "Detached from run #1" in err, (code, out, err)
    assert "Run #1" not in out
    assert run.poll() is None  # the run goes on
    assert run_row(db_path, 1)["status"] == "running"

    gate.open()
    run_code, _, run_err = procs.finish(run)
    assert run_code == 0, run_err
    code, out, err = procs.finish(follower)
    assert code == 0, err
    assert out.splitlines()[0].startswith("Run #1 (demo) completed in "), out
    assert f"{DEMO_SEARCHABLE} searched" in out
    assert "Traceback" not in err


def test_watch_exits_5_for_a_run_with_failed_products(db_path, config_path, procs) -> None:
    set_config(config_path, latency_ms=2, fatal_rate=0.2)
    run = procs.start("run", "--preset", "demo", "--concurrency", "4")
    wait_running(db_path, run)
    watcher = procs.start("watch", "1")  # running or finished by now: the outcome is the same
    run_code, _, _ = procs.finish(run)
    code, out, err = procs.finish(watcher)
    assert run_code == ExitCode.PARTIAL
    assert code == ExitCode.PARTIAL, err
    failed = run_row(db_path, 1)["products_failed"]
    assert failed > 0
    assert "Run #1 (demo) completed" in out
    assert f"{failed} failed" in out


def test_watch_exits_130_when_the_run_is_stopped(
    cli, db_path, config_path, tmp_path, procs
) -> None:
    gated(config_path, tmp_path, allow=3)  # only the stop ends this run
    run = procs.start("run", "--preset", "demo", "--concurrency", "4")
    wait_running(db_path, run)
    watcher = procs.start("watch")
    assert "run #1 running" in procs.first_stderr_line(watcher)  # attached

    stopped = cli("stop")
    assert stopped.exit_code == 0, stopped.stderr
    assert "stopped by `collector stop`" in stopped.stdout
    run_code, _, _ = procs.finish(run)
    code, out, err = procs.finish(watcher)
    assert run_code == ExitCode.CANCELLED
    assert code == ExitCode.CANCELLED, err
    assert "Run #1 (demo) cancelled" in out
    assert "stopped by `collector stop`" in out


def test_watch_of_a_finished_run_prints_its_summary_at_once(cli, db_path, config_path) -> None:
    assert cli("run", "--preset", "demo").exit_code == 0
    set_config(config_path, fatal_rate=0.2)
    assert cli("run", "--preset", "demo").exit_code == ExitCode.PARTIAL
    assert cli("run", "--preset", "demo", "--max-requests", "10").exit_code == ExitCode.LIMIT

    for run_id, expected, head in [
        (1, 0, "Run #1 (demo) completed"),
        (2, ExitCode.PARTIAL, "Run #2 (demo) completed"),
        (3, ExitCode.LIMIT, "Run #3 (demo) cancelled"),
    ]:
        # a finished run is not followed: no progress line, the summary straight away
        result = cli("watch", str(run_id))
        assert " running: " not in result.stderr, result.stderr
        assert result.exit_code == expected, (run_id, result.stdout, result.stderr)
        assert result.stdout.startswith(head), result.stdout
    assert cli("watch", "42").exit_code == ExitCode.NOT_FOUND


# -- limits --------------------------------------------------------------------------------------


def test_max_requests_ends_the_run_cleanly(cli, db_path) -> None:
    result = cli("run", "--preset", "demo", "--max-requests", "20")
    run = assert_limit_ended(result, db_path)
    assert run["finish_reason"] == "limit reached: 20 requests"
    # requests cancelled in flight are not recorded, so the count is at most the limit
    assert 12 <= run["requests"] <= 20
    assert remaining(db_path, 1) > 0
    assert "stop requested: limit reached: 20 requests" in result.stderr


def test_max_new_sellers_ends_the_run_well_before_the_end(
    cli, db_path, config_path, tmp_path
) -> None:
    # The gate admits 40 products, far more than 100 new sellers need: only the limit can end
    # this run, and it must end it with no more than 40 products searched.
    gated(config_path, tmp_path, allow=40)
    result = cli("run", "--preset", "demo", "--max-new-sellers", "100", *SAFETY)
    run = assert_limit_ended(result, db_path)
    assert run["sellers_new"] >= 100
    assert re.fullmatch(
        r"limit reached: 100 new sellers \(\d+ this attempt\)", run["finish_reason"]
    )
    assert int(run["finish_reason"].split()[2]) >= 100
    assert run["products_done"] <= 40 < DEMO_SEARCHABLE // 2
    assert remaining(db_path, 1) >= DEMO_SEARCHABLE - 40


def test_max_errors_ends_the_run(cli, db_path, config_path, tmp_path) -> None:
    gated(config_path, tmp_path, allow=40, fatal_rate=0.5)  # only the limit can end it
    result = cli("run", "--preset", "demo", "--max-errors", "3", *SAFETY)
    run = assert_limit_ended(result, db_path)
    assert re.fullmatch(r"limit reached: 3 errors \(\d+ this attempt\)", run["finish_reason"])
    assert run["errors"] >= 3
    assert run["products_failed"] >= 3
    assert remaining(db_path, 1) > 0


def test_max_duration_ends_the_run(cli, db_path, config_path, tmp_path) -> None:
    gated(config_path, tmp_path, allow=5)  # held: only the duration limit can end it
    began = time.monotonic()
    result = cli("run", "--preset", "demo", "--concurrency", "2", "--max-duration", "2s")
    took = time.monotonic() - began
    run = assert_limit_ended(result, db_path)
    assert run["finish_reason"] == "limit reached: 2s running"
    assert took >= 1.5  # never before the limit (how long after is the machine's business)
    assert run["active_seconds"] >= 1.5
    assert remaining(db_path, 1) > 0


def test_limits_stored_in_a_preset_apply_and_run_flags_override_them(cli, db_path) -> None:
    added = cli(
        "preset", "add", "capped", "-c", "electronics-headphones", "-c", "home-kitchen-dining",
        "--max-requests", "15",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert as_json(cli("preset", "show", "capped", "--json"))["limits"] == {"max_requests": 15}

    run = assert_limit_ended(cli("run", "--preset", "capped"), db_path, 1)
    assert run["finish_reason"] == "limit reached: 15 requests"
    assert run["requests"] <= 15
    snapshot = as_json(cli("history", "show", "1", "--json"))["preset_snapshot"]
    assert snapshot["limits"]["max_requests"] == 15
    run = assert_limit_ended(cli("run", "--preset", "capped", "--max-requests", "25"), db_path, 2)
    assert run["finish_reason"] == "limit reached: 25 requests"
    assert 15 < run["requests"] <= 25


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-requests", "20"), ("--max-new-sellers", "100")]
)
def test_a_limited_run_resumes_to_completion(
    cli, db_path, config_path, tmp_path, flag: str, value: str
) -> None:
    """A limit given on the command line is for that attempt only: `resume` without it runs
    the rest of the run to the end; with it again, it gets a fresh budget and progresses."""
    # Each attempt may search 30 products: the limit, not the end of the run, stops the first
    # two attempts (a new attempt counts the gate from zero).
    gate = gated(config_path, tmp_path, allow=30)
    assert_limit_ended(cli("run", "--preset", "demo", flag, value, *SAFETY), db_path)
    first = run_row(db_path, 1)
    left = remaining(db_path, 1)
    assert left > 0

    result = cli("resume", "1", flag, value, *SAFETY)
    assert result.exit_code == ExitCode.LIMIT, (result.stdout, result.stderr)
    second = assert_counters_match_rows(db_path, 1)
    assert second["status"] == "cancelled"
    assert second["products_done"] > first["products_done"]  # a fresh budget, real progress
    assert remaining(db_path, 1) < left

    gate.open()
    result = cli("resume", "1")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert run["attempts"] == 3
    assert run["products_done"] == DEMO_SEARCHABLE
    assert remaining(db_path, 1) == 0


def test_preset_limits_apply_to_every_attempt(cli, db_path, config_path) -> None:
    set_config(config_path, latency_ms=0)
    assert cli("preset", "add", "capped", "-c", "pet-cats", "--max-requests", "15").exit_code == 0
    assert_limit_ended(cli("run", "--preset", "capped"), db_path)
    before = remaining(db_path, 1)
    result = cli("resume", "1")
    assert result.exit_code == ExitCode.LIMIT, (result.stdout, result.stderr)
    assert 0 < remaining(db_path, 1) < before
    assert run_row(db_path, 1)["finish_reason"] == "limit reached: 15 requests"


@pytest.mark.parametrize(
    "args",
    [
        ["--max-requests", "0"],
        ["--max-requests", "-3"],
        ["--max-errors", "0"],
        ["--max-new-sellers", "0"],
        ["--max-duration", "abc"],
        ["--max-duration", "0s"],
        ["--max-duration", "0"],
        ["--max-duration", ""],
    ],
)
@pytest.mark.parametrize(
    "command",
    [["run", "--preset", "demo"], ["preset", "add", "capped", "-c", "electronics-headphones"]],
    ids=["run", "preset-add"],
)
def test_bad_limit_values_are_usage_errors(
    cli, db_path, command: list[str], args: list[str]
) -> None:
    assert cli("status").exit_code == 0
    before = dump(db_path)
    result = cli(*command, *args)
    assert result.exit_code == ExitCode.USAGE, (result.stdout, result.stderr)
    line = one_error_line(result.stderr)
    assert args[0] in line or "duration" in line, line
    assert result.stdout == ""
    assert dump(db_path) == before


def test_bad_limit_values_on_resume_are_usage_errors(cli, db_path) -> None:
    assert cli("run", "--preset", "demo", "--max-requests", "20").exit_code == ExitCode.LIMIT
    before = dump(db_path)
    for args in (["--max-requests", "0"], ["--max-duration", "0s"], ["--max-duration", "x"]):
        result = cli("resume", "1", *args)
        assert result.exit_code == ExitCode.USAGE, (args, result.stdout, result.stderr)
        one_error_line(result.stderr)
        assert dump(db_path) == before  # no new attempt was recorded


# -- circuit breaker -----------------------------------------------------------------------------


def test_circuit_breaker_fails_the_run_and_a_healthy_resume_completes(
    cli, db_path, config_path
) -> None:
    # five categories: four listed at once fail 4 x 4 attempts, the fifth trips the breaker
    added = cli("preset", "add", "wide", "-d", "electronics", "--max-products", "5")
    assert added.exit_code == 0, added.stderr
    set_config(config_path, error_rate=1.0)
    result = cli("run", "--preset", "wide")
    assert result.exit_code == ExitCode.ERROR, (result.stdout, result.stderr)
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "failed"
    reason = run["finish_reason"]
    assert reason.startswith("circuit breaker: 20 consecutive failures of source sample"), reason
    assert run["finished_at"] is not None
    assert "Run #1 (wide) failed" in result.stdout
    assert as_json(cli("history", "--json"))[0]["status"] == "failed"
    assert as_json(cli("status", "--json"))["active"] is None
    assert cli("watch", "1").exit_code == ExitCode.ERROR

    assert "collector resume 1 --retry-failed" in result.stdout  # the summary says how

    set_config(config_path)
    resumed = cli("resume", "1")  # failed categories stay failed without --retry-failed
    assert resumed.exit_code == ExitCode.PARTIAL, (resumed.stdout, resumed.stderr)
    assert run_row(db_path, 1)["categories_failed"] == 4
    resumed = cli("resume", "1", "--retry-failed")
    assert resumed.exit_code == 0, (resumed.stdout, resumed.stderr)
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert run["attempts"] == 3
    assert run["categories_done"] == 5
    assert run["products_total"] == 25
    assert remaining(db_path, 1) == 0


# -- resume --------------------------------------------------------------------------------------


def test_resume_refuses_completed_and_unknown_runs(cli, db_path) -> None:
    assert cli("run", "--preset", "demo").exit_code == 0
    before = dump(db_path)
    done = cli("resume", "1")
    assert done.exit_code == ExitCode.USAGE
    assert "nothing left to resume" in one_error_line(done.stderr)
    again = cli("run", "--resume", "1")
    assert again.exit_code == ExitCode.USAGE
    assert "nothing left to resume" in one_error_line(again.stderr)
    unknown = cli("resume", "42")
    assert unknown.exit_code == ExitCode.NOT_FOUND
    assert "42" in one_error_line(unknown.stderr)
    assert cli("run", "--resume", "42").exit_code == ExitCode.NOT_FOUND
    assert dump(db_path) == before


@pytest.mark.parametrize(
    "extra",
    [["--preset", "demo"], ["--wait"], ["--max-products", "3"]],
)
def test_run_resume_takes_no_run_options(cli, db_path, extra: list[str]) -> None:
    assert cli("run", "--preset", "demo", "--max-requests", "20").exit_code == ExitCode.LIMIT
    before = dump(db_path)
    result = cli("run", "--resume", "1", *extra)
    assert result.exit_code == ExitCode.USAGE
    assert "--resume" in one_error_line(result.stderr)
    assert dump(db_path) == before


def test_resume_of_the_running_run_exits_7(cli, db_path, config_path, tmp_path, procs) -> None:
    gated(config_path, tmp_path, allow=3)  # running until stopped
    proc = procs.start("run", "--preset", "demo", "--concurrency", "4")
    wait_running(db_path, proc)
    before = run_row(db_path, 1)
    for args in (["resume", "1"], ["run", "--resume", "1"]):
        result = cli(*args)
        assert result.exit_code == ExitCode.RUN_ACTIVE, (args, result.stdout, result.stderr)
        line = one_error_line(result.stderr)
        assert "run #1 (demo" in line and "running" in line, line
    after = run_row(db_path, 1)
    assert after["attempts"] == before["attempts"] == 1
    assert after["pid"] == proc.pid
    assert cli("stop").exit_code == 0
    assert procs.finish(proc)[0] == ExitCode.CANCELLED


def test_run_resume_works_like_resume(cli, db_path) -> None:
    assert cli("run", "--preset", "demo", "--max-requests", "20").exit_code == ExitCode.LIMIT
    # (a flag larger than the stored limit: see test_a_limited_run_resumes_to_completion)
    result = cli("run", "--resume", "1", "--max-requests", "1000")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Run #1 (demo) completed" in result.stdout
    assert "over 2 attempts" in result.stdout
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert run["attempts"] == 2
    assert run["products_done"] == DEMO_SEARCHABLE
    assert len(read_runs(db_path)) == 1


def _limited_run_with_failures(cli, db_path: Path, config_path: Path) -> set[str]:  # type: ignore[no-untyped-def]
    set_config(config_path, latency_ms=10, fatal_rate=0.2)
    assert_limit_ended(cli("run", "--preset", "demo", "--max-requests", "60"), db_path)
    failed = failed_keys(db_path, 1)
    assert failed
    assert remaining(db_path, 1) > 0
    set_config(config_path)  # healthy from now on
    return failed


def test_resume_without_retry_failed_keeps_failures(cli, db_path, config_path) -> None:
    failed = _limited_run_with_failures(cli, db_path, config_path)
    result = cli("resume", "1", "--max-requests", "100000")
    assert result.exit_code == ExitCode.PARTIAL, (result.stdout, result.stderr)
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert failed_keys(db_path, 1) == failed
    assert run["products_failed"] == len(failed)
    assert run["products_done"] + run["products_failed"] == DEMO_SEARCHABLE


def test_resume_with_retry_failed_searches_the_failed_products(cli, db_path, config_path) -> None:
    failed = _limited_run_with_failures(cli, db_path, config_path)
    result = cli("resume", "1", "--retry-failed", "--max-requests", "100000")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert run["products_failed"] == 0
    assert run["products_done"] == DEMO_SEARCHABLE
    assert product_status(db_path, 1, failed) == {"done"}


def test_retry_failed_after_a_run_completed_with_failures(cli, db_path, config_path) -> None:
    """The common case: a run completes with failed products (exit 5), the source is healthy
    again, and `resume RUN --retry-failed` searches just those products."""
    set_config(config_path, fatal_rate=0.2)
    assert cli("run", "--preset", "demo").exit_code == ExitCode.PARTIAL
    failed = failed_keys(db_path, 1)
    assert failed
    set_config(config_path)
    result = cli("resume", "1", "--retry-failed")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    run = assert_counters_match_rows(db_path, 1)
    assert run["status"] == "completed"
    assert run["products_failed"] == 0
    assert run["attempts"] == 2
    assert product_status(db_path, 1, failed) == {"done"}


def test_history_counts_attempts_and_total_active_time(cli, db_path, config_path) -> None:
    set_config(config_path, latency_ms=30)
    per_attempt = []
    total = 0.0
    for args, code in [
        (["run", "--preset", "demo", "--max-requests", "30"], ExitCode.LIMIT),
        (["resume", "1", "--max-requests", "70"], ExitCode.LIMIT),
        (["resume", "1", "--max-requests", "100000"], 0),
    ]:
        result = cli(*args)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        active = run_row(db_path, 1)["active_seconds"]
        per_attempt.append(active - total)
        total = active
    assert "over 3 attempts" in result.stdout

    shown = as_json(cli("history", "--json"))
    assert len(shown) == 1
    assert shown[0]["attempts"] == 3
    assert shown[0]["status"] == "completed"
    assert all(d > 0 for d in per_attempt), per_attempt
    assert shown[0]["duration_s"] >= max(per_attempt)
    assert shown[0]["duration_s"] == pytest.approx(sum(per_attempt), abs=0.01)
    detail = as_json(cli("history", "show", "1", "--json"))
    assert detail["attempts"] == 3
    assert detail["duration_s"] == shown[0]["duration_s"]
    conn = connect(db_path)
    try:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM events WHERE run_id = 1")]
    finally:
        conn.close()
    assert kinds.count("run_started") == 1
    assert kinds.count("run_resumed") == 2


def test_history_duration_of_a_resumed_run_counts_active_time_only(
    cli, db_path, config_path, tmp_path, procs
) -> None:
    """While attempt 2 runs, history's duration is attempt 1 plus attempt 2 so far, as
    `status` says, not the wall time since the first start (idle time between attempts)."""
    assert cli("run", "--preset", "demo", "--max-requests", "20").exit_code == ExitCode.LIMIT
    first_started = stamp(run_row(db_path, 1)["started_at"])
    time.sleep(2.0)  # idle between the attempts: an input of the test, not a wait for anything
    gated(config_path, tmp_path, allow=2)  # attempt 2 runs until stopped
    proc = procs.start("resume", "1", "--concurrency", "2", "--max-requests", "100000")
    wait_running(db_path, proc)
    # Active time grows while we look: history before, status, history after bracket it.
    before = as_json(cli("history", "--json"))[0]
    status = as_json(cli("status", "--json"))["active"]
    after = as_json(cli("history", "--json"))[0]
    wall = (datetime.now(UTC) - first_started).total_seconds()
    assert before["attempts"] == status["attempts"] == after["attempts"] == 2
    slack = 0.05  # the figures are rounded for display
    assert before["duration_s"] - slack <= status["active_s"] <= after["duration_s"] + slack, (
        before,
        status,
        after,
    )
    assert after["duration_s"] <= wall - 2.0, (after, wall)  # the idle time is not counted
    assert cli("stop").exit_code == 0
    assert procs.finish(proc)[0] == ExitCode.CANCELLED


# -- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["run"], ["resume"], ["watch"], ["stop"]])
def test_help_documents_exit_codes_6_7_8(cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "6 run ended by a limit" in text
    assert "7 another run is active" in text
    assert "8 no active run" in text
