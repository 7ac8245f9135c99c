"""Issue 14 B7 and C9: "is a cron daemon running?", asked where the crontab lives.

Inside the private cron namespace (tests/cron_namespace.py) /run and /proc are the namespace's
own: no cron daemon runs there until the test starts one, whatever runs on the machine. So the
CLI runs inside it too, as `python -m collector_cli …` through the fixture's nsenter wrapper,
with the test's store, config and home; its `crontab` is the real one, inside.

Steps: no daemon → `schedule list`, `schedule show`, the status note and `doctor` say so (doctor
exits 1); `cron -f` started inside → none of them does. Schedules fire once a year, so the
daemon stays idle meanwhile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.cron_namespace import SYSTEM_PATH, CronNamespace
from tests.cron_namespace import cron_namespace as open_cron_namespace
from tests.test_schedule_daemon import CronDaemon

NO_DAEMON = "no cron daemon running"


@pytest.fixture
def cron_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CronNamespace]:
    with open_cron_namespace(tmp_path, monkeypatch) as ns:
        yield ns


def inside(
    ns: CronNamespace, tmp_path: Path, db_path: Path, config_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m collector_cli ARGS` inside the namespace, with this test's files."""
    home = tmp_path / "home"
    env = {
        "PATH": SYSTEM_PATH,  # the real crontab, which inside edits the private spool only
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "COLLECTOR_DB": str(db_path),
        "COLLECTOR_CONFIG": str(config_path),
        "PYTHONPATH": str(ROOT),
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m",
            "collector_cli", *args]  # fmt: skip
    return ns.run(argv, timeout=120)


STATUS_PROBE = (
    "from collector_cli.store.db import open_store\n"
    "from collector_cli.schedule.health import status_warnings\n"
    "store = open_store()\n"
    "print('\\n'.join(status_warnings(store)))\n"
)


def test_no_cron_daemon_is_said_until_one_runs(
    cli, tmp_path, db_path, config_path, cron_namespace: CronNamespace
) -> None:
    ns = cron_namespace
    added = cli("schedule", "add", "--preset", "demo", "--cron", "0 3 1 1 *", "--name", "yearly")
    assert added.exit_code == 0, added.stderr
    assert NO_DAEMON in added.stderr  # on the host, the machine's cron may or may not run

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return inside(ns, tmp_path, db_path, config_path, *args)

    # -- no daemon in the namespace
    listed = run("schedule", "list")
    assert listed.returncode == 0, listed.stderr
    assert "current" in listed.stdout, listed.stdout
    assert f"! {NO_DAEMON}: scheduled runs will not fire until one runs" in listed.stderr
    [row] = json.loads(run("schedule", "list", "--json").stdout)
    assert (row["crontab"], row["cron_daemon_running"]) == ("current", False)
    shown = run("schedule", "show", "yearly")
    assert f"cron daemon   {NO_DAEMON}" in shown.stdout, shown.stdout
    probe = ns.run(["env", f"COLLECTOR_DB={db_path}", f"PYTHONPATH={ROOT}", sys.executable, "-c",
                    STATUS_PROBE])  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(f"! {NO_DAEMON}"), probe.stdout
    doctor = run("doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert (
        f"✗ cron daemon: {NO_DAEMON}: 1 enabled schedule(s) will not fire — start it"
    ) in doctor.stdout, doctor.stdout
    assert "✓ crontab: 1 line(s) current in your crontab (crontab -l)" in doctor.stdout

    # -- cron -f started inside the namespace
    daemon = CronDaemon(ns, tmp_path / "cron-daemon.out")
    try:
        daemon.start()
        listed = run("schedule", "list")
        assert listed.returncode == 0, listed.stderr
        assert NO_DAEMON not in listed.stderr, listed.stderr
        [row] = json.loads(run("schedule", "list", "--json").stdout)
        assert row["cron_daemon_running"] is True
        shown = run("schedule", "show", "yearly")
        assert f"cron daemon   cron daemon running (pid {daemon.ns_pid()}, found by pid file" \
               " /run/crond.pid)" in shown.stdout, shown.stdout  # fmt: skip
        probe = ns.run(["env", f"COLLECTOR_DB={db_path}", f"PYTHONPATH={ROOT}", sys.executable,
                        "-c", STATUS_PROBE])  # fmt: skip
        assert probe.returncode == 0 and probe.stdout.strip() == "", probe
        doctor = run("doctor", "--json")
        found = {c["check"]: c for c in json.loads(doctor.stdout)}
        assert found["cron daemon"]["status"] == "ok", found["cron daemon"]
        assert found["crontab"]["status"] == "ok"
    finally:
        daemon.stop()


def test_a_stale_pid_file_is_not_a_daemon(
    cli, tmp_path, db_path, config_path, cron_namespace: CronNamespace
) -> None:
    """A pid file left by a daemon that died (its pid now someone else's, or nobody's)."""
    ns = cron_namespace
    added = cli("schedule", "add", "--preset", "demo", "--cron", "0 3 1 1 *")
    assert added.exit_code == 0, added.stderr
    (ns.run_dir / "crond.pid").write_text("1\n", encoding="utf-8")  # pid 1 inside: `cat`

    listed = inside(ns, tmp_path, db_path, config_path, "schedule", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["cron_daemon_running"] is False
