"""Our crontab lines in a table full of other people's: round trips through a tab file
(`COLLECTOR_CRONTAB`), drift repaired by `schedule sync`, backups, and the line itself as cron
and `sh` will read it (hostile paths and names, no secrets).

Every foreign line must come back byte-identical and in the same order; the only change ever
made to foreign text is the newline a last line without one needs before our lines follow.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from collector_cli.schedule import cron
from collector_cli.schedule.crontab import store_key
from tests.conftest import connect, dump, subprocess_env

MARK = re.compile(r"#\s*collector-schedule:[0-9a-f]{8}:(\d+)\s*$")

FOREIGN = (
    "# Edit this file to introduce tasks to be run by cron.\n"
    "# m h  dom mon dow   command\n"
    "\n"
    "MAILTO=\n"
    "SHELL=/bin/bash\n"
    "PATH=/usr/local/bin:/usr/bin:/bin\n"
    "   \n"
    "\n"
    "*/10  *   * * *\t/usr/bin/backup --quiet     # keep: trailing comment\n"
    "0\t4\t*\t*\t1-5\t/opt/report.sh > /dev/null 2>&1\n"
    "@daily /usr/local/bin/rotate-logs\n"
    "  @daily\t\t/usr/bin/true   \n"
    "15 3 * * * date +\\%Y-\\%m-\\%d >> /tmp/dates.log\n"
    "30 5 * * * mail -s hi root%first line%second line\n"
    "# collector-schedule is mentioned here, but this comment is not ours\n"
    "#0 0 * * * disabled job # collector-schedule\n"
    "0 0 1 * * /usr/bin/monthly --no-newline-after-me"  # the last line: no newline
)

SECRETS = {
    "COLLECTOR_OXYLABS_USERNAME": "oxy-user-7Qz",
    "COLLECTOR_OXYLABS_PASSWORD": "oxy-pass-Kd93xLq",
    "COLLECTOR_EBAY_CLIENT_ID": "ebay-client-P4w",
    "COLLECTOR_EBAY_CLIENT_SECRET": "ebay-secret-Vb72mNs",
}


@pytest.fixture
def tab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tabs" / "user.tab"
    path.parent.mkdir()
    path.write_bytes(FOREIGN.encode())
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    monkeypatch.setenv("COLLECTOR_CRON_TZ", "UTC")
    for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    return path


def backups_dir() -> Path:
    return Path(os.environ["HOME"]) / ".local" / "state" / "collector" / "crontab-backups"


def backups() -> list[Path]:
    folder = backups_dir()
    return sorted(folder.glob("crontab-*.txt")) if folder.exists() else []


def split(text: str) -> tuple[list[str], list[str]]:
    lines = text.splitlines(keepends=True)
    return [x for x in lines if not MARK.search(x)], [x for x in lines if MARK.search(x)]


def ours(tab: Path) -> dict[int, str]:
    _, mine = split(tab.read_text(encoding="utf-8"))
    found: dict[int, str] = {}
    for line in mine:
        match = MARK.search(line)
        assert match is not None
        sid = int(match.group(1))
        assert sid not in found, f"two lines for schedule {sid}"
        found[sid] = line.rstrip("\n")
    return found


def assert_table(tab: Path, enabled: set[int]) -> str:
    """Foreign text intact and in order, our lines after it, exactly one per enabled schedule."""
    text = tab.read_bytes().decode()
    foreign, mine = split(text)
    assert "".join(foreign) in (FOREIGN, FOREIGN + "\n"), "".join(foreign)
    assert text == "".join(foreign) + "".join(mine), "our lines must follow the foreign ones"
    ids = [int(MARK.search(x).group(1)) for x in mine]  # type: ignore[union-attr]
    assert sorted(ids) == sorted(enabled), text
    assert all(x.endswith("\n") for x in mine)
    return text


def assert_backed_up(previous: str, count_before: int) -> None:
    files = backups()
    assert len(files) == min(count_before + 1, 10), files
    assert files[-1].read_text(encoding="utf-8") == previous


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stderr


def show(cli, ref: str) -> dict:  # type: ignore[no-untyped-def]
    result = cli("schedule", "show", ref, "--json")
    ok(result)
    return json.loads(result.stdout)


# -- round trips -----------------------------------------------------------------------------------


def test_round_trip_keeps_foreign_lines_byte_identical(cli, tab: Path, db_path: Path) -> None:
    def step(*args: str, enabled: set[int]) -> str:
        previous, count = tab.read_text(encoding="utf-8"), len(backups())
        stderr = ok(cli(*args))
        text = assert_table(tab, enabled)
        assert_backed_up(previous, count)
        return stderr + text

    step("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "nightly",
         enabled={1})  # fmt: skip
    step("schedule", "add", "--preset", "demo", "--cron", "@hourly", "--name", "hourly.job-2",
         enabled={1, 2})  # fmt: skip
    lines = ours(tab)
    assert lines[1].startswith("0 3 * * * ")
    assert lines[2].startswith("@hourly ")

    settled, count = tab.read_bytes(), len(backups())
    for _ in range(10):
        stderr = ok(cli("schedule", "sync"))
        assert "nothing to repair" in stderr, stderr
        assert tab.read_bytes() == settled
    assert len(backups()) == count  # nothing written, nothing backed up
    assert json.loads(cli("schedule", "sync", "--json").stdout) == []

    step("schedule", "disable", "nightly", enabled={2})
    assert show(cli, "1")["crontab"] == "absent (disabled)"
    again = tab.read_bytes()
    ok(cli("schedule", "disable", "1"))  # already disabled: nothing to write
    assert tab.read_bytes() == again
    step("schedule", "enable", "1", enabled={1, 2})
    assert ours(tab) == lines  # the same line comes back
    step("schedule", "remove", "hourly.job-2", enabled={1})
    step("schedule", "remove", "1", enabled=set())
    assert tab.read_text(encoding="utf-8") == FOREIGN + "\n"
    conn = connect(db_path)
    assert conn.execute("SELECT count(*) FROM schedules").fetchone()[0] == 0
    conn.close()


def test_add_twice_under_one_name_is_refused_and_writes_nothing(cli, tab: Path, db_path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"))
    before, store, count = tab.read_bytes(), dump(db_path), len(backups())
    result = cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *")
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert tab.read_bytes() == before
    assert dump(db_path) == store
    assert len(backups()) == count
    assert_table(tab, {1})


def test_backups_are_kept_private_and_bounded(cli, tab: Path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"))
    assert backups()[0].read_text(encoding="utf-8") == FOREIGN
    assert backups_dir().stat().st_mode & 0o077 == 0
    for _ in range(7):
        ok(cli("schedule", "disable", "1"))
        ok(cli("schedule", "enable", "1"))
    assert len(backups()) == 10
    assert_table(tab, {1})


# -- drift -----------------------------------------------------------------------------------------


def edit(tab: Path, change) -> str:  # type: ignore[no-untyped-def]
    text = change(tab.read_text(encoding="utf-8"))
    tab.write_text(text, encoding="utf-8")
    return text


def sync_lines(cli) -> list[str]:  # type: ignore[no-untyped-def]
    return ok(cli("schedule", "sync")).splitlines()


def test_sync_repairs_drift_and_then_has_nothing_to_repair(cli, tab: Path, db_path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "one"))
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "*/30 * * * *", "--name", "two"))
    good = ours(tab)
    assert show(cli, "one")["crontab"] == "current"

    # our line deleted by hand: missing, then added back
    previous = edit(tab, lambda t: t.replace(good[1] + "\n", ""))
    assert show(cli, "1")["crontab"].startswith("missing")
    count = len(backups())
    assert sync_lines(cli) == ["schedule 1: line added"]
    assert_backed_up(previous, count)
    assert ours(tab) == good
    assert_table(tab, {1, 2})
    assert "nothing to repair" in ok(cli("schedule", "sync"))

    # our line edited: stale, then updated
    edit(tab, lambda t: t.replace(good[2], good[2].replace("*/30 * * * *", "*/5 * * * *")))
    assert show(cli, "two")["crontab"].startswith("stale")
    listed = {r["id"]: r["crontab"] for r in json.loads(cli("schedule", "list", "--json").stdout)}
    assert listed[1] == "current" and listed[2].startswith("stale")
    assert sync_lines(cli) == ["schedule 2: line updated"]
    assert ours(tab) == good
    assert "nothing to repair" in ok(cli("schedule", "sync"))

    # a duplicate copy: fixed to one
    edit(tab, lambda t: t + good[1] + "\n")
    assert len([x for x in tab.read_text().splitlines() if x == good[1]]) == 2
    ok(cli("schedule", "sync"))
    assert [x for x in tab.read_text().splitlines() if x == good[1]] == [good[1]]
    assert_table(tab, {1, 2})
    assert "nothing to repair" in ok(cli("schedule", "sync"))

    # an orphan line: its schedule is gone from the store (another machine, a restored DB)
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM schedules WHERE id = 2")
    conn.close()
    assert sync_lines(cli) == ["schedule 2: line removed"]
    assert_table(tab, {1})
    key = store_key(db_path)
    edit(tab, lambda t: t + f"0 1 * * * /bin/true # collector-schedule:{key}:77\n")
    assert sync_lines(cli) == ["schedule 77: line removed"]
    assert_table(tab, {1})

    settled = tab.read_bytes()
    for _ in range(3):
        assert "nothing to repair" in ok(cli("schedule", "sync"))
    assert tab.read_bytes() == settled
    assert json.loads(cli("schedule", "sync", "--json").stdout) == []


def test_sync_reports_the_duplicate_it_removed(cli, tab: Path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"))
    line = ours(tab)[1]
    edit(tab, lambda t: t + line + "\n")
    stderr = ok(cli("schedule", "sync"))
    assert "nothing to repair" not in stderr
    assert "schedule 1" in stderr


def test_list_and_show_json(cli, tab: Path, db_path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *", "--name", "nightly",
           "--timezone", "Europe/Berlin", "--grace", "2h", "--wait-timeout", "30m"))  # fmt: skip
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "@weekly", "--name", "weekly"))
    row = show(cli, "nightly")
    assert row["id"] == 1 and row["name"] == "nightly" and row["preset"] == "demo"
    assert row["cron"] == "0 3 * * *" and row["timezone"] == "Europe/Berlin"
    assert "03:00" in row["description"]
    assert row["enabled"] is True
    assert row["grace_seconds"] == 7200 and row["wait_seconds"] == 1800
    assert row["crontab"] == "current"
    assert row["last_run"] is None
    assert len(row["next_runs_local"]) == 3 and len(row["next_runs_utc"]) == 3
    from datetime import UTC, datetime, timedelta

    utcs = [datetime.fromisoformat(x) for x in row["next_runs_utc"]]
    assert all(x.utcoffset() == timedelta(0) for x in utcs)
    assert utcs == sorted(utcs) and utcs[0] > datetime.now(UTC) - timedelta(minutes=1)
    berlin = cron.zone("Europe/Berlin")
    assert {(x.astimezone(berlin).hour, x.astimezone(berlin).minute) for x in utcs} == {(3, 0)}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \S+", x) for x in row["next_runs_local"])
    # another zone than the machine's: the line fires every minute and run --schedule decides
    assert row["line"].startswith("* * * * * ")
    assert row["log"].endswith(f"schedule-{store_key(db_path)}-1.log")

    weekly = show(cli, "2")
    assert weekly["line"].startswith("@weekly ")
    assert "Sunday" in weekly["description"]
    assert [datetime.fromisoformat(x).strftime("%A") for x in weekly["next_runs_utc"]] == [
        "Sunday"
    ] * 3

    listed = json.loads(cli("schedule", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [1, 2]
    assert listed[0] == row

    ok(cli("schedule", "run", "weekly"))
    last = show(cli, "weekly")["last_run"]
    assert last is not None and last["status"] == "completed"
    assert last["id"] == 1
    assert show(cli, "nightly")["last_run"] is None
    text = cli("schedule", "list")
    assert text.exit_code == 0 and "#1 completed" in text.stdout


# -- the line as cron and sh read it ---------------------------------------------------------------


def cron_unescape(command: str) -> tuple[str, str | None]:
    """What cron passes to the shell (Vixie/Debian do_command.c): a backslash-escaped '%' is a
    '%'; the first unescaped '%' ends the command (the rest is fed on stdin)."""
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "%":
            return "".join(out), command[i + 1 :]
        out.append(ch)
        escaped = ch == "\\"
    return "".join(out), None


def command_part(line: str) -> str:
    """The line minus its 5 timing fields and its trailing marker comment."""
    match = re.fullmatch(r"\s*(?:\S+\s+){5}(.*?)\s*#\s*collector-schedule:[0-9a-f]{8}:\d+\s*", line)
    assert match is not None, line
    return match.group(1)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


HOSTILE = "we ird 'sq' \"dq\" $HOME $(touch dollar) `touch tick` ; touch semi & 100% x%y b\\s |p"


def test_hostile_paths_run_exactly_collector(
    cli, tab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = tmp_path / HOSTILE
    hostile.mkdir()
    db = hostile / "my db; $(touch sub) 50%.db"
    config = hostile / "config 'x' %s.toml"
    config.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
    home = hostile / "home `id` %%"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COLLECTOR_CONFIG", str(config))
    decoy = tmp_path / "decoy.db"
    monkeypatch.setenv("COLLECTOR_DB", str(decoy))
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    name = "night.ly-run_1.v2"

    ok(cli("--db", str(db), "schedule", "add", "--preset", "demo", "--cron", "* * * * *",
           "--name", name, "--timezone", "UTC"))  # fmt: skip
    text = assert_table(tab, {1})
    for key, value in SECRETS.items():
        assert value not in text and key not in text
    assert "OXYLABS" not in text and "EBAY" not in text
    line = ours(tab)[1]
    assert line.startswith("* * * * * ")

    command, stdin = cron_unescape(command_part(line))
    assert stdin is None, f"cron would cut the command at a bare '%': {command!r}"
    log = home / ".local" / "state" / "collector" / "log" / f"schedule-{store_key(db)}-1.log"
    assert shlex.split(command) == [
        f"COLLECTOR_CONFIG={config}",
        sys.executable, "-m", "collector_cli", "--db", str(db), "run", "--schedule", "1",
        ">>", str(log), "2>&1",
    ]  # fmt: skip
    assert log.parent.is_dir()  # cron cannot append to a log in a missing folder

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schedules SET last_fire_at = '2000-01-01T00:00:00+00:00'")
    conn.close()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    before = tree(tmp_path)
    cron_env = {"HOME": str(home), "LOGNAME": "collector", "PATH": "/usr/bin:/bin",
                "SHELL": "/bin/sh", "COLLECTOR_DB": str(decoy)}  # fmt: skip
    done = subprocess.run(
        ["sh", "-c", command], cwd=workdir, env=cron_env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr, log.read_text())
    assert done.stdout == "" and done.stderr == ""  # all of it went to the log

    with connect(db) as conn:
        runs = [dict(r) for r in conn.execute("SELECT id, trigger, status FROM runs")]
    conn.close()
    assert runs == [{"id": 1, "trigger": "schedule:1", "status": "completed"}]
    assert not decoy.exists()
    assert "completed" in log.read_text(encoding="utf-8")
    new = tree(tmp_path) - before
    allowed = {str(log.relative_to(tmp_path))}
    assert {p for p in new if not Path(p).name.startswith(db.name)} <= allowed, new
    assert list(workdir.iterdir()) == []
    for stray in ("dollar", "tick", "semi", "sub", "id", "p"):
        assert not list(tmp_path.rglob(stray)), stray
        assert not (Path.cwd() / stray).exists()


def test_backslash_before_percent_survives_cron(cli, tab: Path, tmp_path: Path) -> None:
    db = tmp_path / "odd\\%dir" / "c.db"
    ok(cli("--db", str(db), "schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"))
    command, stdin = cron_unescape(command_part(ours(tab)[1]))
    assert stdin is None
    assert str(db) in shlex.split(command)


def test_newline_in_a_path_never_splits_the_line(cli, tab: Path, tmp_path: Path) -> None:
    db = tmp_path / "line\n* * * * * touch injected #" / "c.db"
    result = cli("--db", str(db), "schedule", "add", "--preset", "demo", "--cron", "0 3 * * *")
    if result.exit_code == 0:
        assert_table(tab, {1})
    else:
        assert tab.read_text(encoding="utf-8") == FOREIGN


def test_relative_db_path_is_written_absolute(
    cli, tab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ok(cli("--db", "rel dir/x.db", "schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"))
    words = shlex.split(cron_unescape(command_part(ours(tab)[1]))[0])
    assert words[words.index("--db") + 1] == str(tmp_path / "rel dir" / "x.db")
    assert Path(words[1]).is_absolute() and words[1] == sys.executable


# -- no cron installed -----------------------------------------------------------------------------


def test_no_crontab_command_says_to_install_cron(
    cli, tab: Path, tmp_path: Path, db_path: Path, config_path: Path
) -> None:
    ok(cli("status"))
    store = dump(db_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = subprocess_env(db_path, config_path, PATH=str(empty))
    env.pop("COLLECTOR_CRONTAB")

    def collector(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "collector_cli", *args], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    for args in (("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"),
                 ("schedule", "sync")):  # fmt: skip
        done = collector(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("collector: error: ")
        assert "install cron" in lines[0]
        assert "Traceback" not in done.stderr
    assert dump(db_path) == store
    with connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM schedules").fetchone()[0] == 0
    conn.close()
    assert tab.read_text(encoding="utf-8") == FOREIGN

    # a schedule written while a tab file was named: listing still works, status unknown
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *"))
    done = collector("schedule", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["crontab"] == "unknown (no crontab)"


def test_two_stores_sharing_one_crontab_keep_each_others_lines(
    cli, tab: Path, tmp_path: Path
) -> None:
    """A test database and the real one write to the same crontab: neither takes the other's
    line for its own (the marker names the store), and their logs are apart."""
    first, second = tmp_path / "a" / "first.db", tmp_path / "b" / "second.db"
    for db in (first, second):
        ok(cli("--db", str(db), "schedule", "add", "--preset", "demo", "--cron", "0 4 * * *"))
    lines = [line for line in tab.read_text().splitlines() if "collector-schedule:" in line]
    assert len(lines) == 2
    assert {store_key(first), store_key(second)} == {
        re.search(r"collector-schedule:([0-9a-f]{8}):1$", line).group(1)  # type: ignore[union-attr]
        for line in lines
    }
    for db in (first, second):
        assert "nothing to repair" in ok(cli("--db", str(db), "schedule", "sync"))
        shown = cli("--db", str(db), "schedule", "show", "1", "--json")
        assert shown.exit_code == 0, shown.stderr
        row = json.loads(shown.stdout)
        assert row["crontab"] == "current"
        assert store_key(db) in row["log"]
    ok(cli("--db", str(first), "schedule", "remove", "1"))
    remaining = [line for line in tab.read_text().splitlines() if "collector-schedule:" in line]
    assert len(remaining) == 1 and store_key(second) in remaining[0]
