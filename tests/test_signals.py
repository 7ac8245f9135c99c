"""Real processes, real signals: the durability contract of DESIGN §3 under SIGKILL and Ctrl-C.

Each test starts `python -m collector_cli run --preset demo`, watches the store through a
read-only connection, and signals the process at a point it chose. The sample source's gate
(a file holding how many distinct products the run may search) makes that point certain: a run
held by the gate cannot finish by itself however fast or slow the machine is, so a test that
has seen "K of the N admitted products committed" knows the run is still going, with work
left, when it signals. Afterwards the store must be intact and every counter must equal what
the rows say: a product's results, its done mark and the counters land together or not at all.

Nothing here asserts how long anything took (speed is measured in bench/); every timeout is a
safety net that fails with what was being awaited.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import start_collector

RUN_ARGS = ["run", "--preset", "demo", "--concurrency", "4"]
LATENCY_MS = 5  # requests take 2.5-7.5 ms: enough for searches to be in flight at a signal
EXIT_CANCELLED = 130
SAFETY_S = 30.0  # a safety net only: a healthy run reaches every awaited point in milliseconds
DEMO_CATEGORIES = 4
DEMO_SEARCHABLE = 93  # the demo's 100 products, 7 of them without a price (skipped)

# Reproducible moments: (products the gate admits, products committed before acting). When
# both are equal the run is idle at the gate; otherwise admitted products may be in flight.
_rng = random.Random(20_240_611)


def _moments(count: int, most: int) -> list[tuple[int, int]]:
    moments = []
    for _ in range(count):
        committed = _rng.randint(5, most)
        moments.append((committed + _rng.randint(0, 6), committed))
    return moments


KILL_MOMENTS = [(5, 5), *_moments(5, 45)]
# Kills right after a commit shows up: the moment a half-written commit would be exposed.
KILL_ON_COMMIT = [5, 9, 17, 30]
SIGINT_MOMENTS = [(5, 5), *_moments(4, 40)]


# -- the gate --------------------------------------------------------------------------------------


class Gate:
    """The sample source's gate: how many distinct products a run process may search so far.

    Each process counts from zero (a resumed run does not search its done products again).
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


def write_gated_config(config_path: Path, gate_path: Path, **knobs: float) -> Path:
    """A config whose sample marketplace waits on the gate file (plus a little latency)."""
    knobs = {"latency_ms": LATENCY_MS, **knobs}
    lines = [
        "[sources.sample]",
        *(f"{key} = {json.dumps(value)}" for key, value in knobs.items()),
        f"gate_file = {json.dumps(str(gate_path))}",
    ]
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config_path


@pytest.fixture
def gate(config_path: Path, tmp_path: Path) -> Gate:
    """``config_path`` now holds runs at a gate that admits nothing until the test says so."""
    held = Gate(tmp_path / "gate")
    write_gated_config(config_path, held.path)
    return held


# -- watching a run --------------------------------------------------------------------------------


def read_count(db_path: Path, sql: str) -> int:
    """One number read through a read-only connection (-1 before the schema exists)."""
    if not db_path.exists():
        return -1
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return -1
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


DONE_SQL = "SELECT count(*) FROM run_products WHERE status = 'done'"
LISTED_SQL = "SELECT count(*) FROM run_categories WHERE status = 'done'"


def done_products(db_path: Path) -> int:
    return read_count(db_path, DONE_SQL)


def wait_until(
    proc: subprocess.Popen[str], predicate: Callable[[], bool], what: str, timeout: float = SAFETY_S
) -> None:
    """Poll the store until ``predicate`` holds; fail saying what was awaited if the process
    exits first or the safety timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"collector exited with {proc.returncode} while the test waited for {what}:"
                f"\n{out}\n{err}"
            )
        if predicate():
            return
        if time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"still waiting for {what} after {timeout:g} s:\n{out}\n{err}")
        time.sleep(0.005)


def wait_for_done(proc: subprocess.Popen[str], db_path: Path, at_least: int) -> int:
    wait_until(proc, lambda: done_products(db_path) >= at_least, f"{at_least} products done")
    return done_products(db_path)


def wait_listed(proc: subprocess.Popen[str], db_path: Path) -> None:
    """Until every demo category is listed (listing is not gated; only searches are)."""
    wait_until(
        proc,
        lambda: read_count(db_path, LISTED_SQL) == DEMO_CATEGORIES,
        f"all {DEMO_CATEGORIES} categories listed",
    )


def wait_for_new_commit(proc: subprocess.Popen[str], db_path: Path, before: int) -> None:
    """Return the moment a commit beyond ``before`` done products becomes visible (polling as
    fast as possible)."""
    deadline = time.monotonic() + SAFETY_S
    while proc.poll() is None and time.monotonic() < deadline:
        if done_products(db_path) > before:
            return
    reap(proc)
    pytest.fail(f"no commit beyond {before} done products became visible")


def start_run(db_path: Path, config_path: Path) -> subprocess.Popen[str]:
    return start_collector(RUN_ARGS, db_path, config_path)


def finish(proc: subprocess.Popen[str], after: str) -> tuple[str, str]:
    """Wait for the exit that ``after`` (a signal, a command) should bring about."""
    try:
        return proc.communicate(timeout=SAFETY_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running {SAFETY_S:g} s after {after}:\n{out}\n{err}")


def reap(proc: subprocess.Popen[str]) -> None:
    """Cleanup on any way out of a test: never leave a collector process behind."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


class Output:
    """A started process's stdout and stderr, read on threads as they come, so a test can
    wait for a line while the process runs (communicate() only returns at the exit)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._lines: dict[str, list[str]] = {"out": [], "err": []}
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read, args=(stream, key), daemon=True)
            for key, stream in (("out", proc.stdout), ("err", proc.stderr))
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: IO[str], key: str) -> None:
        for line in stream:
            with self._changed:
                self._lines[key].append(line)
                self._changed.notify_all()

    def wait_for_err(self, text: str) -> None:
        deadline = time.monotonic() + SAFETY_S
        with self._changed:
            while not any(text in line for line in self._lines["err"]):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    break
                self._changed.wait(0.05)
            else:
                return
        out, err = self.close()
        pytest.fail(
            f"{text!r} never appeared on stderr (exit {self.proc.returncode}):\n{out}\n{err}"
        )

    def finish(self, after: str) -> tuple[str, str]:
        """Wait for the exit that ``after`` should bring about; return stdout and stderr."""
        try:
            self.proc.wait(timeout=SAFETY_S)
        except subprocess.TimeoutExpired:
            out, err = self.close()
            pytest.fail(f"still running {SAFETY_S:g} s after {after}:\n{out}\n{err}")
        return self.close()

    def close(self) -> tuple[str, str]:
        """Kill the process if it still runs; everything it wrote."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for thread, stream in zip(self._threads, (self.proc.stdout, self.proc.stderr), strict=True):
            thread.join(SAFETY_S)
            if stream is not None:
                stream.close()
        with self._changed:
            return "".join(self._lines["out"]), "".join(self._lines["err"])


# -- checking the store ----------------------------------------------------------------------------


def check_store(db_path: Path) -> dict:
    """Integrity plus every invariant of the single run in the store; returns the run row."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        runs = conn.execute("SELECT * FROM runs").fetchall()
        assert len(runs) == 1
        run = dict(runs[0])

        def q(sql: str) -> int:
            return conn.execute(sql, (run["id"],)).fetchone()[0]

        done_listings = q(
            "SELECT coalesce(sum(listings_seen), 0) FROM run_products"
            " WHERE run_id = ? AND status = 'done'"
        )
        sightings = q("SELECT coalesce(sum(sightings), 0) FROM run_sellers WHERE run_id = ?")
        assert done_listings == run["listings_seen"] == sightings
        assert run["sellers_found"] == q("SELECT count(*) FROM run_sellers WHERE run_id = ?")
        assert run["sellers_new"] == q(
            "SELECT count(*) FROM run_sellers WHERE run_id = ? AND is_new"
        )
        assert run["sellers_new"] == run["sellers_found"]  # the first run meets only new sellers
        for status in ("done", "failed", "skipped"):
            assert run[f"products_{status}"] == q(
                f"SELECT count(*) FROM run_products WHERE run_id = ? AND status = '{status}'"
            ), status
        assert run["products_total"] == q("SELECT count(*) FROM run_products WHERE run_id = ?")
        # Nothing of a product that is not done has landed.
        assert (
            q(
                "SELECT count(*) FROM run_products WHERE run_id = ? AND status != 'done'"
                " AND (listings_seen != 0 OR sellers_seen != 0)"
            )
            == 0
        )
        assert run["categories_done"] == q(
            "SELECT count(*) FROM run_categories WHERE run_id = ? AND status = 'done'"
        )
        assert run["errors"] == q(
            "SELECT count(*) FROM events WHERE run_id = ? AND level = 'error'"
        )
        # Store-wide seller totals: no seller without its run_sellers row, no stray sightings.
        orphans = conn.execute(
            "SELECT s.name, s.sightings, s.times_seen, count(rs.seller_id) AS n,"
            " coalesce(sum(rs.sightings), 0) AS total FROM sellers s"
            " LEFT JOIN run_sellers rs ON rs.seller_id = s.id GROUP BY s.id"
            " HAVING s.sightings != total OR s.times_seen != n OR n = 0"
        ).fetchall()
        assert [dict(r) for r in orphans] == []
        return run
    finally:
        conn.close()


def pending_products(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "SELECT count(*) FROM run_products WHERE status = 'pending'"
        ).fetchone()[0]
    finally:
        conn.close()


def history_json(cli: Callable[..., object]) -> list[dict]:
    result = cli("history", "--json")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def assert_summary(stdout: str, run: dict, remaining: int) -> None:
    assert re.search(
        rf"^Run #{run['id']} \(demo\) cancelled in .*: cancelled \(SIGINT\)$", stdout, re.M
    ), stdout
    searched = re.search(r"products\s+([\d,]+) searched", stdout)
    assert searched and int(searched.group(1).replace(",", "")) == run["products_done"], stdout
    left = re.search(r"remaining\s+([\d,]+) products not searched", stdout)
    assert left, stdout
    assert int(left.group(1).replace(",", "")) == remaining > 0
    listings = re.search(r"listings\s+([\d,]+)", stdout)
    assert listings and int(listings.group(1).replace(",", "")) == run["listings_seen"]


# -- SIGKILL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("admitted", "committed"), KILL_MOMENTS)
def test_sigkill_keeps_every_commit_whole(
    db_path: Path, config_path: Path, gate: Gate, cli, admitted: int, committed: int
) -> None:
    gate.allow(admitted)
    proc = start_run(db_path, config_path)
    try:
        wait_for_done(proc, db_path, committed)
        seen_before_kill = done_products(db_path)
        proc.send_signal(signal.SIGKILL)
        finish(proc, "SIGKILL")
    finally:
        reap(proc)
    assert proc.returncode == -signal.SIGKILL

    run = check_store(db_path)
    assert run["status"] == "running"  # nobody has looked yet
    # Nothing committed was lost, and nothing went past the gate.
    assert admitted >= run["products_done"] >= seen_before_kill >= committed
    # Held by the gate, it was certainly killed mid-run: work was left.
    assert admitted < DEMO_SEARCHABLE
    assert pending_products(db_path) > 0 or run["categories_done"] < DEMO_CATEGORIES
    assert run["listings_seen"] > 0

    # The next command that looks notices the process is gone.
    runs = history_json(cli)
    assert len(runs) == 1
    reported = runs[0]
    assert reported["id"] == run["id"]
    assert reported["status"] == "interrupted"
    assert f"process {proc.pid}" in reported["finish_reason"]
    for key in ("products_done", "listings_seen", "sellers_found", "sellers_new"):
        assert reported[key] == run[key], key
    after = check_store(db_path)
    assert after["status"] == "interrupted"
    assert after["finished_at"] is not None
    # Marking it interrupted changes only its status, reason, end time and active time (the
    # attempt's time up to its last heartbeat).
    changed = ("status", "finish_reason", "finished_at", "active_seconds")
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in run.items() if k not in changed
    }
    assert after["active_seconds"] > run["active_seconds"] == 0


@pytest.mark.parametrize("min_done", KILL_ON_COMMIT)
def test_sigkill_right_after_a_commit(
    db_path: Path, config_path: Path, gate: Gate, min_done: int
) -> None:
    gate.allow(min_done)
    proc = start_run(db_path, config_path)
    try:
        # Idle at the gate: every admitted product is committed, nothing else can land.
        done = wait_for_done(proc, db_path, min_done)
        assert done == min_done
        # Three more products: a commit is certain to come, and the run still cannot end.
        gate.allow(min_done + 3)
        wait_for_new_commit(proc, db_path, min_done)
        proc.send_signal(signal.SIGKILL)
        finish(proc, "SIGKILL")
    finally:
        reap(proc)
    assert proc.returncode == -signal.SIGKILL
    run = check_store(db_path)
    assert run["status"] == "running"
    assert min_done < run["products_done"] <= min_done + 3


# -- SIGINT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("admitted", "committed"), SIGINT_MOMENTS)
def test_sigint_cancels_cleanly(
    db_path: Path, config_path: Path, gate: Gate, cli, admitted: int, committed: int
) -> None:
    gate.allow(admitted)
    proc = start_run(db_path, config_path)
    try:
        wait_listed(proc, db_path)
        wait_for_done(proc, db_path, committed)
        seen_before = done_products(db_path)
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, "SIGINT")
    finally:
        reap(proc)
    assert proc.returncode == EXIT_CANCELLED, err
    assert "stop requested: cancelled (SIGINT)" in err
    assert "Traceback" not in err

    run = check_store(db_path)
    assert run["status"] == "cancelled"
    assert run["finish_reason"] == "cancelled (SIGINT)"
    assert run["finished_at"] is not None
    assert admitted >= run["products_done"] >= seen_before >= committed
    remaining = pending_products(db_path)
    assert_summary(out, run, remaining)
    assert (
        run["products_done"] + remaining + run["products_skipped"] + run["products_failed"]
        == (run["products_total"])
    )
    conn = sqlite3.connect(db_path)
    try:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
    finally:
        conn.close()
    assert kinds[:2] == ["run_created", "run_started"]
    assert kinds[-1] == "run_cancelled"
    # A cancelled run is final: looking at history does not turn it into anything else.
    assert history_json(cli)[0]["status"] == "cancelled"


def test_sigterm_cancels_like_sigint(db_path: Path, config_path: Path, gate: Gate) -> None:
    gate.allow(8)
    proc = start_run(db_path, config_path)
    try:
        wait_for_done(proc, db_path, 8)
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc, "SIGTERM")
    finally:
        reap(proc)
    assert proc.returncode == EXIT_CANCELLED, err
    run = check_store(db_path)
    assert run["status"] == "cancelled"
    assert run["finish_reason"] == "cancelled (SIGTERM)"
    assert run["products_done"] == 8
    assert f"Run #{run['id']} (demo) cancelled" in out


# -- a second SIGINT ----------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.0, 0.0005])
def test_second_sigint_exits_at_once(
    db_path: Path, config_path: Path, gate: Gate, cli, gap: float
) -> None:
    """Two Ctrl-Cs in quick succession: exit 130, whichever path the process takes."""
    gate.allow(6)
    proc = start_run(db_path, config_path)
    try:
        wait_listed(proc, db_path)
        wait_for_done(proc, db_path, 6)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, "two SIGINTs")
    finally:
        reap(proc)
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert "Traceback" not in err

    run = check_store(db_path)
    assert run["products_done"] == 6  # held at the gate: nothing else could be searched
    if run["status"] == "running":
        # The second signal reached the engine while it was stopping: it quit without finishing.
        assert "Run #" not in out
        assert history_json(cli)[0]["status"] == "interrupted"
    else:
        # The first signal's clean cancel was already recorded. The second one either came
        # after the summary, or cut the summary short (quitting at once is its job).
        assert run["status"] == "cancelled"
        if out:
            assert_summary(out, run, pending_products(db_path))
    check_store(db_path)


def test_second_sigint_while_stopping_quits_without_finishing(
    db_path: Path, config_path: Path, gate: Gate, cli
) -> None:
    """Deterministic version: hold the store's write lock so the engine cannot finish (it must
    write the run's final status) when the second SIGINT arrives. Store calls run on a DB
    thread, so the event loop still sees the signal: it must quit at once (os._exit 130) while
    the lock is still held, leaving a store that is intact and a run that the next command
    marks interrupted."""
    gate.allow(6)
    proc = start_run(db_path, config_path)
    output = Output(proc)
    lock: sqlite3.Connection | None = None
    try:
        wait_listed(proc, db_path)
        # Idle at the gate with 6 products done: nothing is committing when the lock is taken.
        done_before = wait_for_done(proc, db_path, 6)
        lock = sqlite3.connect(db_path, isolation_level=None, timeout=SAFETY_S)
        lock.execute("BEGIN IMMEDIATE")  # every write of the engine now waits on us
        proc.send_signal(signal.SIGINT)
        # The engine has taken the first signal (it says so); it cannot record the cancel.
        output.wait_for_err("stop requested: cancelled (SIGINT)")
        proc.send_signal(signal.SIGINT)
        out, err = output.finish("the second SIGINT (the store's write lock still held)")
        lock.execute("ROLLBACK")
    finally:
        if lock is not None:
            lock.close()
        output.close()
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert "Traceback" not in err
    assert "Run #" not in out  # no summary: it did not wait to finish the run

    run = check_store(db_path)
    assert run["status"] == "running"
    assert run["products_done"] == done_before == 6
    assert pending_products(db_path) > 0
    reported = history_json(cli)[0]
    assert reported["status"] == "interrupted"
    check_store(db_path)


@pytest.mark.parametrize("gap", [0.004, 0.01, 0.02, 0.04])
def test_late_second_sigint_still_exits_130(
    db_path: Path, config_path: Path, gate: Gate, gap: float
) -> None:
    """A second Ctrl-C that lands while the process shuts down after a clean cancel must not
    turn exit 130 into a death by signal. The gap only varies where the second one lands: the
    gate holds the run, so the first one is what ends it."""
    gate.allow(6)
    proc = start_run(db_path, config_path)
    try:
        wait_for_done(proc, db_path, 6)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        _, err = finish(proc, "two SIGINTs")
    finally:
        reap(proc)
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert check_store(db_path)["status"] in ("cancelled", "running")


# -- a run that is left alone finishes -----------------------------------------------------------


def test_unsignalled_run_completes_once_the_gate_opens(
    db_path: Path, config_path: Path, gate: Gate
) -> None:
    """Control for the tests above: with the same config and an open gate, the run completes
    by itself."""
    gate.open()
    proc = start_collector([*RUN_ARGS[:-1], "16"], db_path, config_path)
    try:
        out, err = finish(proc, "the start of a run with the gate open")
    finally:
        reap(proc)
    assert proc.returncode == 0, err
    run = check_store(db_path)
    assert run["status"] == "completed"
    assert pending_products(db_path) == 0
    assert run["products_done"] == DEMO_SEARCHABLE
    assert run["products_done"] + run["products_skipped"] == run["products_total"] == 100
    assert "remaining" not in out
    assert os.stat(db_path).st_mode & 0o777 == 0o600
