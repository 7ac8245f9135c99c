"""Real processes, real signals: the durability contract of DESIGN §3 under SIGKILL and Ctrl-C.

Each test starts `python -m collector_cli run --preset demo` with sample latency so the run
lasts several seconds, watches the store through a read-only connection, and signals the
process at some moment while products are being committed. Afterwards the store must be
intact and every counter must equal what the rows say: a product's results, its done mark and
the counters land together or not at all.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import start_collector

RUN_ARGS = ["run", "--preset", "demo", "--concurrency", "4"]
LATENCY_CONFIG = "[sources.sample]\nlatency_ms = 150\n"
EXIT_CANCELLED = 130
STARTUP_TIMEOUT_S = 30.0

# "Random" but reproducible moments: (products done before acting, extra sleep in seconds).
_rng = random.Random(20_240_611)
KILL_MOMENTS = [(5, 0.0)] + [
    (_rng.randint(5, 45), round(_rng.uniform(0, 0.4), 3)) for _ in range(5)
]
# Kills right after a commit shows up: the moment a half-written commit would be exposed.
KILL_ON_COMMIT = [5, 9, 17, 30]
SIGINT_MOMENTS = [(5, 0.0)] + [
    (_rng.randint(5, 40), round(_rng.uniform(0, 0.3), 3)) for _ in range(4)
]


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def slow_config(config_path: Path) -> Path:
    config_path.write_text(LATENCY_CONFIG, encoding="utf-8")
    return config_path


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
SIGHTINGS_SQL = "SELECT coalesce(sum(sightings), 0) FROM run_sellers"


def done_products(db_path: Path) -> int:
    return read_count(db_path, DONE_SQL)


def wait_for_new_sightings(proc: subprocess.Popen[str], db_path: Path) -> None:
    """Return the moment a new commit becomes visible (polling as fast as possible)."""
    before = read_count(db_path, SIGHTINGS_SQL)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if read_count(db_path, SIGHTINGS_SQL) != before:
            return
    pytest.fail("no new commit became visible")


def wait_for_done(proc: subprocess.Popen[str], db_path: Path, at_least: int) -> int:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"collector exited early with {proc.returncode}:\n{out}\n{err}")
        n = done_products(db_path)
        if n >= at_least:
            return n
        time.sleep(0.01)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"no {at_least} products done within {STARTUP_TIMEOUT_S}s:\n{out}\n{err}")


def start_run(db_path: Path, config_path: Path) -> subprocess.Popen[str]:
    return start_collector(RUN_ARGS, db_path, config_path)


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


@pytest.mark.parametrize(("min_done", "extra_sleep"), KILL_MOMENTS)
def test_sigkill_keeps_every_commit_whole(
    db_path: Path, slow_config: Path, cli, min_done: int, extra_sleep: float
) -> None:
    proc = start_run(db_path, slow_config)
    try:
        wait_for_done(proc, db_path, min_done)
        time.sleep(extra_sleep)
        seen_before_kill = done_products(db_path)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    run = check_store(db_path)
    assert run["status"] == "running"  # nobody has looked yet
    assert run["products_done"] >= seen_before_kill >= min_done  # nothing committed was lost
    assert pending_products(db_path) > 0  # it really was killed mid-run
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
def test_sigkill_right_after_a_commit(db_path: Path, slow_config: Path, min_done: int) -> None:
    proc = start_run(db_path, slow_config)
    try:
        wait_for_done(proc, db_path, min_done)
        wait_for_new_sightings(proc, db_path)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    run = check_store(db_path)
    assert run["status"] == "running"
    assert run["products_done"] > min_done


# -- SIGINT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("min_done", "extra_sleep"), SIGINT_MOMENTS)
def test_sigint_cancels_cleanly(
    db_path: Path, slow_config: Path, cli, min_done: int, extra_sleep: float
) -> None:
    proc = start_run(db_path, slow_config)
    try:
        wait_for_done(proc, db_path, min_done)
        time.sleep(extra_sleep)
        seen_before = done_products(db_path)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=2)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_CANCELLED, err
    assert took < 2.0
    assert "stop requested: cancelled (SIGINT)" in err
    assert "Traceback" not in err

    run = check_store(db_path)
    assert run["status"] == "cancelled"
    assert run["finish_reason"] == "cancelled (SIGINT)"
    assert run["finished_at"] is not None
    assert run["products_done"] >= seen_before >= min_done
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


def test_sigterm_cancels_like_sigint(db_path: Path, slow_config: Path) -> None:
    proc = start_run(db_path, slow_config)
    try:
        wait_for_done(proc, db_path, 8)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_CANCELLED, err
    run = check_store(db_path)
    assert run["status"] == "cancelled"
    assert run["finish_reason"] == "cancelled (SIGTERM)"
    assert f"Run #{run['id']} (demo) cancelled" in out


# -- a second SIGINT ----------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.0, 0.0005])
def test_second_sigint_exits_at_once(db_path: Path, slow_config: Path, cli, gap: float) -> None:
    """Two Ctrl-Cs in quick succession: exit 130 at once, whichever path the process takes."""
    proc = start_run(db_path, slow_config)
    try:
        wait_for_done(proc, db_path, 6)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=2)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert took < 2.0
    assert "Traceback" not in err

    run = check_store(db_path)
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
    db_path: Path, slow_config: Path, cli
) -> None:
    """Deterministic version: hold the store's write lock so the engine is still busy when the
    second SIGINT arrives. Store calls run on a DB thread, so the event loop still sees the
    signal: it must quit at once (os._exit 130) while the lock is still held, leaving a store
    that is intact and a run that the next command marks interrupted."""
    proc = start_run(db_path, slow_config)
    lock: sqlite3.Connection | None = None
    try:
        wait_for_done(proc, db_path, 6)
        done_before = done_products(db_path)
        lock = sqlite3.connect(db_path, isolation_level=None, timeout=5)
        lock.execute("BEGIN IMMEDIATE")  # the engine's next commit now waits on us
        time.sleep(0.8)  # in-flight searches finish; the writer blocks on the lock
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=2)  # the lock is still held
        took = time.monotonic() - sent
        lock.execute("ROLLBACK")
    finally:
        if lock is not None:
            lock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert took < 2.0
    assert "stop requested: cancelled (SIGINT)" in err
    assert "Run #" not in out  # no summary: it did not wait to finish the run

    run = check_store(db_path)
    assert run["status"] == "running"
    assert run["products_done"] >= done_before
    assert pending_products(db_path) > 0
    reported = history_json(cli)[0]
    assert reported["status"] == "interrupted"
    check_store(db_path)


@pytest.mark.parametrize("gap", [0.004, 0.01, 0.02, 0.04])
def test_late_second_sigint_still_exits_130(db_path: Path, slow_config: Path, gap: float) -> None:
    """A second Ctrl-C that lands while the process shuts down after a clean cancel must not
    turn exit 130 into a death by signal."""
    proc = start_run(db_path, slow_config)
    try:
        wait_for_done(proc, db_path, 6)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=3)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, err)
    assert check_store(db_path)["status"] in ("cancelled", "running")


# -- a run that is left alone finishes -----------------------------------------------------------


def test_unsignalled_run_completes_with_latency(db_path: Path, slow_config: Path) -> None:
    """Control for the tests above: with the same config the run completes by itself."""
    proc = start_collector([*RUN_ARGS[:-1], "16"], db_path, slow_config)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run = check_store(db_path)
    assert run["status"] == "completed"
    assert pending_products(db_path) == 0
    assert run["products_done"] + run["products_skipped"] == run["products_total"] == 100
    assert "remaining" not in out
    assert os.stat(db_path).st_mode & 0o777 == 0o600
