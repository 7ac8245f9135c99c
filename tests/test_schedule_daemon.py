"""The real `crontab` command and the real cron daemon (Debian's cron; `.ci/run` installs it).

They run inside a private mount + pid namespace (tests/cron_namespace.py): the crontab they edit
is a file in a spool under tmp_path, and the cron daemon is one started inside that namespace and
killed with it. The invoking user's crontab and any cron daemon running on the machine are never
read, written or signalled, even if a test is killed halfway. They never skip: without root,
cron or util-linux they fail and say what to install.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import connect
from tests.cron_namespace import CronNamespace, system_tool, wait_until
from tests.cron_namespace import cron_namespace as open_cron_namespace
from tests.cron_namespace import fail as isolation_fail

MARKER_RE = re.compile(r"#\s*collector-schedule:[0-9a-f]{8}:(\d+)\s*$")
FINISHED = ("completed", "cancelled", "interrupted", "failed")
FIRE_TIMEOUT = 150.0  # an every-minute line fires within ~60 s, then the run takes seconds
CRON_START_TIMEOUT = 30.0

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


@pytest.fixture
def cron_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CronNamespace]:
    """A private cron world for this test; `crontab` on PATH (what the CLI runs) is its own.

    Its spool starts empty: the table these tests edit belongs to nobody but the test.
    """
    with open_cron_namespace(tmp_path, monkeypatch) as ns:
        assert read_crontab(ns) is None, "a fresh private spool already holds a crontab"
        yield ns


def read_crontab(ns: CronNamespace) -> str | None:
    """The namespace's (root's) crontab as `crontab -l` prints it, or None when there is none."""
    result = ns.crontab("-l")
    if result.returncode != 0:
        assert "no crontab" in result.stderr.lower(), f"crontab -l failed: {result.stderr}"
        return None
    return result.stdout


def install_crontab(ns: CronNamespace, text: str) -> None:
    result = ns.crontab("-", input=text)
    assert result.returncode == 0, f"crontab - refused the table: {result.stderr}"


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


def check_table(ns: CronNamespace, expected_ids: set[int], step: str) -> dict[int, str]:
    """Foreign lines byte-identical and exactly one line per enabled schedule."""
    text = read_crontab(ns)
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


def test_real_crontab_keeps_foreign_lines_byte_identical(
    cli, db_path, cron_namespace: CronNamespace
) -> None:
    from collector_cli.schedule.crontab import state_dir

    ns = cron_namespace
    install_crontab(ns, FOREIGN)
    check_table(ns, set(), "installing the foreign table")

    # Expressions that fire once a year, so a cron daemon running meanwhile stays idle.
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 1 1 *", "--name", "yearly"))
    lines = check_table(ns, {1}, "the first add")
    backups = sorted((state_dir() / "crontab-backups").glob("crontab-*.txt"))
    assert backups and backups[-1].read_text(encoding="utf-8") == FOREIGN
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "30 2 2 1 *", "--name", "second"))
    lines = check_table(ns, {1, 2}, "the second add")
    assert list(split(read_crontab(ns) or "")[1]) == [1, 2], "our lines are appended in id order"

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
        assert check_table(ns, {1, 2}, f"sync #{attempt + 1}") == lines

    ok(cli("schedule", "disable", "yearly"))
    check_table(ns, {2}, "disable")
    assert listed(cli)["yearly"]["crontab"] == "absent (disabled)"
    ok(cli("schedule", "disable", "yearly"))
    check_table(ns, {2}, "a second disable")
    ok(cli("schedule", "enable", "yearly"))
    assert check_table(ns, {1, 2}, "enable") == lines

    # Drift by hand: our line for schedule 2 deleted with `crontab -e`; sync puts it back.
    install_crontab(ns, FOREIGN + lines[1] + "\n")
    assert listed(cli)["second"]["crontab"] == "missing: run `schedule sync`"
    result = cli("schedule", "sync", "--json")
    ok(result)
    assert json.loads(result.stdout) == [{"schedule_id": 2, "change": "added"}]
    assert check_table(ns, {1, 2}, "sync after drift") == lines

    ok(cli("schedule", "remove", "second"))
    check_table(ns, {1}, "removing one schedule")
    ok(cli("schedule", "remove", "yearly"))
    check_table(ns, set(), "removing the last schedule")
    assert read_crontab(ns) == FOREIGN
    ok(cli("schedule", "sync"))
    assert read_crontab(ns) == FOREIGN
    # The table edited all along is the private spool's file (after crontab's own header).
    assert sorted(p.name for p in ns.spool.iterdir()) == ["root"]
    assert (ns.spool / "root").read_text(encoding="utf-8").endswith("\n" + FOREIGN)


# -- a real cron daemon ------------------------------------------------------------------------


class CronDaemon:
    """`cron -f` started by the test inside its namespace (never the machine's daemon), stopped
    at the end; the namespace's end kills it in any case."""

    def __init__(self, ns: CronNamespace, output: Path) -> None:
        self.ns = ns
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None
        self.note = ""

    def start(self) -> None:
        binary = system_tool("cron", "/usr/sbin/cron")
        if binary is None:
            isolation_fail("no cron daemon binary (cron / /usr/sbin/cron)")
        pid_file = self.ns.run_dir / "crond.pid"  # /run/crond.pid inside, seen from the host
        assert not pid_file.exists(), f"{pid_file} exists before cron was started"
        with self.output.open("wb") as out:
            # -f: stay in the foreground (nsenter's child); -L 15: log job starts and ends.
            self.proc = self.ns.popen([binary, "-f", "-L", "15"], stdout=out,
                                      stderr=subprocess.STDOUT)  # fmt: skip
        # Started means: the pid file is written (cron takes its lock and writes it before it
        # reads the spool) and names a process running inside the namespace.
        if not wait_until(lambda: self.ns_pid() is not None or not self.alive(),
                          CRON_START_TIMEOUT):  # fmt: skip
            pytest.fail(
                f"`{binary} -f` wrote no pid to /run/crond.pid ({pid_file} on the host) within"
                f" {CRON_START_TIMEOUT:.0f} s; its output: {self.read_output() or '(none)'};"
                f" processes inside:\n{self.ns.ps()}",
                pytrace=False,
            )
        if not self.alive():
            pytest.fail(
                f"`{binary} -f` exited at once with status {self.proc.returncode}: "
                f"{self.read_output() or '(no output)'}",
                pytrace=False,
            )
        inside = self.ns.run(["cat", "/run/crond.pid"])
        assert inside.stdout.strip() == str(self.ns_pid()), (inside, pid_file.read_text())
        self.note = (
            f"`{binary} -f` started by the test in its namespace (pid {self.ns_pid()} inside)"
        )

    def ns_pid(self) -> int | None:
        """cron's pid inside the namespace, once its pid file is complete and it is running."""
        try:
            text = (self.ns.run_dir / "crond.pid").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not re.fullmatch(r"\d+\n", text):
            return None
        return int(text) if self.ns.run(["kill", "-0", text.strip()]).returncode == 0 else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def read_output(self) -> str:
        try:
            return self.output.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pid = self.ns_pid()
        for sig in ("TERM", "KILL"):
            if pid is not None:
                self.ns.run(["kill", f"-{sig}", str(pid)])
            try:
                self.proc.wait(15)
                return
            except subprocess.TimeoutExpired:
                continue
        # nsenter does not forward signals; the namespace's end (fixture teardown) kills cron.


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
        f"{daemon.read_output() or '(none)'}\ncrontab -l (in the namespace):\n"
        f"{read_crontab(daemon.ns)}\nprocesses in the namespace:\n{daemon.ns.ps()}\n"
        f"runs: {runs}\nlatest events: {events}\nschedule log {log}:\n{log_text}"
    )


@pytest.mark.slow
def test_cron_daemon_fires_an_every_minute_schedule(
    cli, db_path, config_path, tmp_path, cron_namespace: CronNamespace
) -> None:
    ns = cron_namespace
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
    # The daemon will read the line from the private spool, where the CLI wrote it.
    assert line in (ns.spool / "root").read_text(encoding="utf-8").splitlines()

    daemon = CronDaemon(ns, tmp_path / "cron-daemon.out")
    run = None
    try:
        daemon.start()
        deadline = time.monotonic() + FIRE_TIMEOUT
        while time.monotonic() < deadline:
            run = finished_scheduled_run(db_path, schedule_id)
            if run is not None:
                break
            if not daemon.alive():
                pytest.fail(f"the cron daemon died{diagnostics(db_path, daemon, log)}")
            time.sleep(1.0)
        else:
            pytest.fail(
                f"no finished run with trigger schedule:{schedule_id} within"
                f" {FIRE_TIMEOUT:.0f} s of starting cron in the namespace (awaited: cron firing"
                f" the every-minute line and `run --schedule {schedule_id}` finishing)"
                f"{diagnostics(db_path, daemon, log)}"
            )
    finally:
        try:
            removed = cli("schedule", "remove", "minutely")
        finally:
            daemon.stop()
    elapsed = time.monotonic() - started
    ok(removed)
    assert split(read_crontab(ns) or "")[1] == {}, "the schedule's line was not removed"

    assert run["status"] == "completed", f"{run}{diagnostics(db_path, daemon, log)}"
    assert run["preset_name"] == "demo"
    assert run["sellers_found"] > 0
    assert log.exists(), f"no log at {log}{diagnostics(db_path, daemon, log)}"
    text = log.read_text(encoding="utf-8")
    assert f"Run #{run['id']} (demo) completed" in text, text
    assert f"sellers     {run['sellers_found']:,} found" in text, text
    print(f"cron fired the schedule; run #{run['id']} finished {elapsed:.0f} s after the add")
