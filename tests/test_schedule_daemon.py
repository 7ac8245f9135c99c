"""The real `crontab` command and the real cron daemon (Debian's cron; `.ci/run` installs it).

These tests edit root's own crontab, so they save it first and put it back byte for byte at the
end. They never skip: without root or without cron they fail and say what to install.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import connect

MARKER_RE = re.compile(r"#\s*collector-schedule:[0-9a-f]{8}:(\d+)\s*$")
FINISHED = ("completed", "cancelled", "interrupted", "failed")

# Foreign content: comments, environment lines, blank lines, odd spacing, a tab, a job with
# an escaped '%', and lines that merely look like our marker. Every job is a harmless no-op.
FOREIGN = (
    "# Foreign entries: collector must leave every byte alone.\n"
    "SHELL=/bin/sh\n"
    'MAILTO=""\n'
    "  FOO = bar baz\n"
    "\n"
    "\n"
    "   # indented comment, then odd spacing and a tab\n"
    "17   5  *  *   1-5\t/bin/true    # weekday no-op\n"
    "@weekly   /bin/true\n"
    '0 4 1 1 * /usr/bin/printf "50\\% done" > /dev/null 2>&1\n'
    "0 5 1 1 * /bin/true # collector-schedule:7 (kept by hand)\n"
    "#collector-schedule:x\n"
)


def require_root_and_cron() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append(f"the tests run as uid {os.geteuid()}, not root")
    if shutil.which("crontab") is None:
        problems.append("there is no `crontab` command on PATH")
    if problems:
        pytest.fail(
            "real-crontab tests cannot run: " + " and ".join(problems) + ". Install cron"
            " (Debian/Ubuntu: apt-get install cron, as .ci/run does) and run the tests as root.",
            pytrace=False,
        )


def read_crontab() -> str | None:
    """root's crontab as `crontab -l` prints it, or None when there is none."""
    result = subprocess.run(["crontab", "-l"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        assert "no crontab" in result.stderr.lower(), f"crontab -l failed: {result.stderr}"
        return None
    return result.stdout


def install_crontab(text: str) -> None:
    result = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert result.returncode == 0, f"crontab - refused the table: {result.stderr}"


@pytest.fixture
def root_crontab(monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """The real crontab of root, restored exactly (or removed again) afterwards."""
    require_root_and_cron()
    monkeypatch.delenv("COLLECTOR_CRONTAB", raising=False)  # the real `crontab` command
    saved = read_crontab()
    try:
        yield saved
    finally:
        if saved is None:
            subprocess.run(["crontab", "-r"], capture_output=True, timeout=30)
        else:
            install_crontab(saved)
        assert read_crontab() == saved, "root's crontab was not restored"


def split(text: str) -> tuple[str, dict[int, list[str]]]:
    """(foreign text, schedule id → our lines) of a crontab."""
    foreign, ours = [], {}
    for line in text.splitlines(keepends=True):
        match = MARKER_RE.search(line)
        if match:
            ours.setdefault(int(match.group(1)), []).append(line.rstrip("\n"))
        else:
            foreign.append(line)
    return "".join(foreign), ours


def check_table(expected_ids: set[int], step: str) -> dict[int, str]:
    """Foreign lines byte-identical and exactly one line per enabled schedule."""
    text = read_crontab()
    assert text is not None, f"after {step}: root has no crontab at all"
    foreign, ours = split(text)
    assert foreign == FOREIGN, f"after {step}: foreign lines changed:\n{text}"
    assert set(ours) == expected_ids, f"after {step}: our lines are for {sorted(ours)}:\n{text}"
    for schedule_id, lines in ours.items():
        assert len(lines) == 1, f"after {step}: schedule {schedule_id} has {len(lines)} lines"
    return {schedule_id: lines[0] for schedule_id, lines in ours.items()}


def listed(cli) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    result = cli("schedule", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"


def test_real_crontab_keeps_foreign_lines_byte_identical(cli, db_path, root_crontab) -> None:
    from collector_cli.schedule.crontab import state_dir

    install_crontab(FOREIGN)
    check_table(set(), "installing the foreign table")

    # Expressions that fire once a year, so a cron daemon running meanwhile stays idle.
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 1 1 *", "--name", "yearly"))
    lines = check_table({1}, "the first add")
    backups = sorted((state_dir() / "crontab-backups").glob("crontab-*.txt"))
    assert backups and backups[-1].read_text(encoding="utf-8") == FOREIGN
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "30 2 2 1 *", "--name", "second"))
    lines = check_table({1, 2}, "the second add")
    assert list(split(read_crontab() or "")[1]) == [1, 2], "our lines are appended in id order"

    rows = listed(cli)
    for name, schedule_id in (("yearly", 1), ("second", 2)):
        assert rows[name]["id"] == schedule_id
        assert rows[name]["crontab"] == "current", rows[name]
        assert rows[name]["line"] == lines[schedule_id]
        line = lines[schedule_id]
        assert line.startswith(f"{rows[name]['cron']} ")
        assert shlex.quote(sys.executable) in line and shlex.quote(str(db_path.resolve())) in line

    for attempt in range(3):
        result = cli("schedule", "sync", "--json")
        ok(result)
        assert json.loads(result.stdout) == [], f"sync #{attempt + 1} found drift"
        assert check_table({1, 2}, f"sync #{attempt + 1}") == lines

    ok(cli("schedule", "disable", "yearly"))
    check_table({2}, "disable")
    assert listed(cli)["yearly"]["crontab"] == "absent (disabled)"
    ok(cli("schedule", "disable", "yearly"))
    check_table({2}, "a second disable")
    ok(cli("schedule", "enable", "yearly"))
    assert check_table({1, 2}, "enable") == lines

    # Drift by hand: our line for schedule 2 deleted with `crontab -e`; sync puts it back.
    install_crontab(FOREIGN + lines[1] + "\n")
    assert listed(cli)["second"]["crontab"] == "missing: run `schedule sync`"
    result = cli("schedule", "sync", "--json")
    ok(result)
    assert json.loads(result.stdout) == [{"schedule_id": 2, "change": "added"}]
    assert check_table({1, 2}, "sync after drift") == lines

    ok(cli("schedule", "remove", "second"))
    check_table({1}, "removing one schedule")
    ok(cli("schedule", "remove", "yearly"))
    check_table(set(), "removing the last schedule")
    assert read_crontab() == FOREIGN
    ok(cli("schedule", "sync"))
    assert read_crontab() == FOREIGN


# -- a real cron daemon ------------------------------------------------------------------------


class CronDaemon:
    """The machine's running cron daemon, or one started here with `cron -f` (and stopped)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None
        self.note = ""

    def start(self) -> None:
        running = subprocess.run(["pgrep", "-x", "cron"], capture_output=True, text=True)
        if running.returncode == 0:
            self.note = f"the cron daemon already running (pid {running.stdout.split()[0]})"
            return
        binary = shutil.which("cron") or "/usr/sbin/cron"
        if not Path(binary).exists():
            pytest.fail(
                "no cron daemon binary (cron / /usr/sbin/cron): install cron (Debian/Ubuntu:"
                " apt-get install cron, as .ci/run does)",
                pytrace=False,
            )
        with self.output.open("wb") as out:
            # -f: stay in the foreground (our child); -L 15: log job starts and ends.
            self.proc = subprocess.Popen(
                [binary, "-f", "-L", "15"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        time.sleep(1.0)
        if self.proc.poll() is not None:
            pytest.fail(
                f"`{binary} -f` exited at once with status {self.proc.returncode}: "
                f"{self.read_output() or '(no output)'}",
                pytrace=False,
            )
        self.note = f"`{binary} -f` started by the test (pid {self.proc.pid})"

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def read_output(self) -> str:
        try:
            return self.output.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)


def finished_scheduled_run(db_path: Path, schedule_id: int) -> dict | None:
    conn = connect(db_path)
    try:
        row = conn.execute(
            "SELECT * FROM runs WHERE trigger = ? AND status IN (?, ?, ?, ?) ORDER BY id LIMIT 1",
            (f"schedule:{schedule_id}", *FINISHED),
        ).fetchone()
    finally:
        conn.close()
    return dict(row) if row else None


def diagnostics(db_path: Path, daemon: CronDaemon, log: Path) -> str:
    conn = connect(db_path)
    try:
        runs = [
            dict(r) for r in conn.execute("SELECT id, status, trigger, finish_reason FROM runs")
        ]
        events = [f"{r['level']} {r['kind']}: {r['message']}" for r in
                  conn.execute("SELECT * FROM events ORDER BY id DESC LIMIT 10")]  # fmt: skip
    finally:
        conn.close()
    log_text = log.read_text(errors="replace") if log.exists() else "(no log file)"
    return (
        f"\ncron: {daemon.note}; alive: {daemon.alive()}; its output: "
        f"{daemon.read_output() or '(none)'}\ncrontab -l:\n{read_crontab()}\nruns: {runs}\n"
        f"latest events: {events}\nschedule log {log}:\n{log_text}"
    )


@pytest.mark.slow
def test_cron_daemon_fires_an_every_minute_schedule(
    cli, db_path, config_path, tmp_path, root_crontab
) -> None:
    # cron runs the line with a bare environment (no PYTHONPATH, HOME=/root, cwd=/root): the
    # interpreter on the line must import collector_cli by itself (an installed package).
    probe = subprocess.run(
        [sys.executable, "-c", "import collector_cli; print(collector_cli.__file__)"],
        env={"PATH": "/usr/bin:/bin", "HOME": "/root", "SHELL": "/bin/sh"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, (
        f"{sys.executable} cannot import collector_cli without PYTHONPATH, so the crontab line"
        f" `{sys.executable} -m collector_cli …` would fail under cron. Install the project into"
        f" that interpreter (pip install -e .). {probe.stderr.strip()}"
    )

    started = time.monotonic()
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "* * * * *", "--name", "minutely"))
    shown = json.loads(cli("schedule", "show", "minutely", "--json").stdout)
    schedule_id, line = shown["id"], shown["line"]
    assert shown["crontab"] == "current" and line, shown
    assert line.startswith("* * * * * ")
    # The line carries this test's config (sample latency 0) and store, whatever cron's HOME.
    assert f"COLLECTOR_CONFIG={shlex.quote(str(config_path.resolve()))} " in line
    assert f"--db {shlex.quote(str(db_path.resolve()))} " in line
    # The log path is fixed on the line when it is written (cron's HOME is root's real one, not
    # this test's): take it from there, and check `show` names the same file.
    redirect = re.search(r">> (.+?) 2>&1 #", line)
    assert redirect, line
    [log_arg] = shlex.split(redirect.group(1))
    log = Path(log_arg)
    assert str(log) == shown["log"]
    assert log.parent.is_dir(), "the log folder must exist before cron appends to it"

    daemon = CronDaemon(tmp_path / "cron-daemon.out")
    run = None
    try:
        daemon.start()
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            run = finished_scheduled_run(db_path, schedule_id)
            if run is not None:
                break
            if not daemon.alive():
                pytest.fail(f"the cron daemon died{diagnostics(db_path, daemon, log)}")
            time.sleep(1.0)
        else:
            pytest.fail(
                f"no finished run with trigger schedule:{schedule_id} within 150 s"
                f"{diagnostics(db_path, daemon, log)}"
            )
    finally:
        try:
            removed = cli("schedule", "remove", "minutely")
        finally:
            daemon.stop()
    elapsed = time.monotonic() - started
    ok(removed)
    assert split(read_crontab() or "")[1] == {}, "the schedule's line was not removed"

    assert run["status"] == "completed", f"{run}{diagnostics(db_path, daemon, log)}"
    assert run["preset_name"] == "demo"
    assert run["sellers_found"] > 0
    assert log.exists(), f"no log at {log}{diagnostics(db_path, daemon, log)}"
    text = log.read_text(encoding="utf-8")
    assert f"Run #{run['id']} (demo) completed" in text, text
    assert f"sellers     {run['sellers_found']:,} found" in text, text
    print(f"cron fired the schedule; run #{run['id']} finished {elapsed:.0f} s after the add")
