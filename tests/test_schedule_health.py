"""Issue 14 B5, B6, B8: the config a cron run reads, credentials it can find, what it notifies.

The crontab is a temp file (COLLECTOR_CRONTAB); a "cron run" is the line's own command run by
`sh` with the bare environment cron gives (no COLLECTOR_CONFIG, no XDG variable). Notifications
go to the local JSON receiver of tests/test_schedule_notify.py.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector_cli import config
from collector_cli.schedule import cron, fire, notify
from collector_cli.store.db import open_store
from tests import test_schedule_notify
from tests.conftest import dump
from tests.test_schedule_notify import events, free_port, runs

receiver = test_schedule_notify.receiver  # the local JSON webhook receiver fixture

OXY = ("COLLECTOR_OXYLABS_USERNAME", "COLLECTOR_OXYLABS_PASSWORD")
EBAY = ("COLLECTOR_EBAY_CLIENT_ID", "COLLECTOR_EBAY_CLIENT_SECRET")
SECRET_VALUES = ("oxy-u-Hq2", "oxy-p-Zx81", "ebay-i-Rt5", "ebay-s-Wm04")


@pytest.fixture(autouse=True)
def crontab_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "crontab"
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    return path


def ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
    return result.stderr


def our_line(crontab_file: Path, schedule_id: int) -> str:
    [line] = [ln for ln in crontab_file.read_text().splitlines() if ln.endswith(f":{schedule_id}")]
    return line


def set_config(cli, key: str, value: str) -> None:  # type: ignore[no-untyped-def]
    ok(cli("config", "set", key, "-", input=value + "\n"))


def add_real_preset(cli) -> None:  # type: ignore[no-untyped-def]
    ok(cli("preset", "add", "real", "-c", "electronics-headphones", "--product-source",
           "oxylabs", "--listing-source", "ebay"))  # fmt: skip


def set_last_fire(db_path: Path, schedule_id: int, moment: datetime) -> None:
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute("UPDATE schedules SET last_fire_at = ? WHERE id = ?",
                         (fire.iso(moment), schedule_id))  # fmt: skip
    finally:
        conn.close()


# -- B5: the config in use is pinned, however it was found -------------------------------------


def test_config_found_through_xdg_is_pinned_and_read_by_the_cron_run(
    cli, db_path, tmp_path, crontab_file, monkeypatch, receiver
) -> None:
    xdg = tmp_path / "xdg-config"
    monkeypatch.delenv("COLLECTOR_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    config.load.cache_clear()
    where = xdg / "collector" / "config.toml"
    where.parent.mkdir(parents=True)
    where.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert (shown["config_file"], shown["found_by"]) == (str(where), "XDG_CONFIG_HOME")

    ok(cli("schedule", "add", "--preset", "demo", "--cron", "* * * * *", "--name", "minutely",
           "--notify", f"json://127.0.0.1:{receiver.port}/hook"))  # fmt: skip
    line = our_line(crontab_file, 1)
    assert f"COLLECTOR_CONFIG={shlex.quote(str(where))} " in line, line
    assert "[notify]" in where.read_text(encoding="utf-8")  # the URL went to that file

    # What cron does: the command part of the line, through sh, with cron's environment only.
    # Without the pin this run would read $HOME/.config/collector/config.toml: no notify URL.
    set_last_fire(db_path, 1, datetime.now(UTC) - timedelta(hours=1))  # now's fire is due
    command = line.split(" ", 5)[5].rsplit(" # ", 1)[0]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "SHELL": "/bin/sh",
           "LOGNAME": "root"}  # fmt: skip
    done = subprocess.run(["/bin/sh", "-c", command], env=env, cwd="/", timeout=120)
    assert done.returncode == 0
    [run] = runs(db_path)
    assert run["status"] == "completed", run
    assert [p["json"]["type"] for p in receiver.posts] == ["success"], receiver.posts
    assert events(db_path, "notify_failed") == []


# -- B6: credentials only in the environment ----------------------------------------------------


def test_add_refuses_credentials_that_only_the_environment_has(
    cli, db_path, crontab_file, monkeypatch
) -> None:
    for name, value in zip(OXY + EBAY, SECRET_VALUES, strict=True):
        monkeypatch.setenv(name, value)
    add_real_preset(cli)
    before = dump(db_path)

    result = cli("schedule", "add", "--preset", "real", "--cron", "@daily")

    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    message = result.stderr
    assert "cannot schedule preset real" in message
    assert "the oxylabs source needs oxylabs.username and oxylabs.password" in message
    assert "the ebay source needs ebay.client_id and ebay.client_secret" in message
    for key in ("oxylabs.username", "oxylabs.password", "ebay.client_id", "ebay.client_secret"):
        assert f"`collector config set {key}`" in message
    assert not any(secret in message for secret in SECRET_VALUES)
    assert dump(db_path) == before
    assert not crontab_file.exists()

    # Saved in the config file, the same preset can be scheduled.
    for key, value in zip(("oxylabs.username", "oxylabs.password", "ebay.client_id",
                           "ebay.client_secret"), SECRET_VALUES, strict=True):  # fmt: skip
        set_config(cli, key, value)
    ok(cli("schedule", "add", "--preset", "real", "--cron", "@daily"))
    [row] = json.loads(cli("schedule", "list", "--json").stdout)
    assert (row["credentials"], row["problems"]) == ("ok", [])


def test_list_marks_a_schedule_whose_credentials_left_the_config_file(
    cli, db_path, monkeypatch
) -> None:
    add_real_preset(cli)
    for key, value in zip(("oxylabs.username", "oxylabs.password", "ebay.client_id",
                           "ebay.client_secret"), SECRET_VALUES, strict=True):  # fmt: skip
        set_config(cli, key, value)
    ok(cli("schedule", "add", "--preset", "real", "--cron", "@daily", "--name", "nightly"))
    ok(cli("config", "unset", "ebay.client_secret"))
    monkeypatch.setenv("COLLECTOR_EBAY_CLIENT_SECRET", SECRET_VALUES[3])  # this shell has it

    [row] = json.loads(cli("schedule", "list", "--json").stdout)
    assert row["crontab"] == "current"
    assert row["credentials"] == "missing in the config file: ebay.client_secret"
    [problem] = row["problems"]
    assert "`collector config set ebay.client_secret`" in problem

    listed = cli("schedule", "list")
    assert listed.exit_code == 0
    assert re.search(r"^\s*1\s+! nightly\s", listed.stdout, re.MULTILINE), listed.stdout
    assert "! schedule 1 (nightly) will fail: the ebay source needs ebay.client_secret" in (
        listed.stderr
    )
    shown = cli("schedule", "show", "nightly")
    assert "missing in the config file: ebay.client_secret" in shown.stdout
    ok(cli("schedule", "disable", "nightly"))
    assert "will fail" not in cli("schedule", "list").stderr  # a disabled schedule never fires
    assert "! schedule 1 (nightly) will fail: the ebay source needs ebay.client_secret" in (
        ok(cli("schedule", "enable", "nightly"))
    )
    for text in (listed.stdout, listed.stderr, shown.stdout, shown.stderr):
        assert not any(secret in text for secret in SECRET_VALUES)

    # From a shell with another config file, the fix names the schedule's own file.
    other = db_path.parent.parent / "other.toml"
    monkeypatch.setenv("COLLECTOR_CONFIG", str(other))
    config.load.cache_clear()
    [row] = json.loads(cli("schedule", "list", "--json").stdout)
    pinned = our_config(row["line"])
    assert (
        f"`COLLECTOR_CONFIG={pinned} collector config set ebay.client_secret`"
        in (row["problems"][0])
    )


def our_config(line: str) -> str:
    match = re.search(r"COLLECTOR_CONFIG=(\S+) ", line)
    assert match, line
    return shlex.split(match.group(1))[0]


def test_a_base_url_only_in_the_environment_is_a_warning(cli, monkeypatch) -> None:
    add_real_preset(cli)
    for key, value in zip(("oxylabs.username", "oxylabs.password", "ebay.client_id",
                           "ebay.client_secret"), SECRET_VALUES, strict=True):  # fmt: skip
        set_config(cli, key, value)
    monkeypatch.setenv("COLLECTOR_EBAY_URL", "http://127.0.0.1:9")

    stderr = ok(cli("schedule", "add", "--preset", "real", "--cron", "@daily"))

    assert "! COLLECTOR_EBAY_URL is set in this shell but scheduled runs will use ebay.url =" \
           " https://api.ebay.com" in stderr  # fmt: skip


# -- B8: notification types, reasons, masks, ids, wording ---------------------------------------


def test_notification_type_follows_the_outcome(cli, db_path, receiver) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    # "rejected": some products fail, not all (every one failing makes the run fail)
    ok(cli("preset", "add", "rejected", "-c", "electronics-headphones", "--max-products", "12",
           "-o", "sample.fatal_rate=0.5"))  # fmt: skip
    ok(cli("preset", "add", "down", "-c", "electronics-headphones", "--max-products", "3",
           "-o", "sample.error_rate=1"))  # fmt: skip
    ok(cli("preset", "add", "capped", "-c", "electronics-headphones", "--max-products", "20",
           "--max-requests", "3"))  # fmt: skip
    for preset in ("demo", "rejected", "down", "capped"):
        ok(cli("schedule", "add", "--preset", preset, "--cron", "@daily", "--name", preset,
               "--notify", url))  # fmt: skip

    codes = {name: cli("schedule", "run", name).exit_code
             for name in ("demo", "rejected", "down", "capped")}  # fmt: skip

    assert codes == {"demo": 0, "rejected": 5, "down": 1, "capped": 6}
    got = {p["json"]["title"].split(": ")[1]: (p["json"]["type"], p["json"]["title"])
           for p in receiver.posts}  # fmt: skip
    assert got["schedule demo"][0] == "success"
    assert got["schedule rejected"][0] == "warning"
    assert got["schedule rejected"][1].endswith("completed with failures")
    assert got["schedule down"][0] == "failure"
    assert got["schedule down"][1].endswith("failed")
    assert got["schedule capped"] == (
        "warning",
        f"collector: schedule capped: run #{runs(db_path)[-1]['id']} stopped by a limit",
    )


def test_a_fire_that_cannot_run_notifies_failure_with_its_schedule_id(
    cli, db_path, receiver
) -> None:
    add_real_preset(cli)
    for key, value in zip(("oxylabs.username", "oxylabs.password", "ebay.client_id",
                           "ebay.client_secret"), SECRET_VALUES, strict=True):  # fmt: skip
        set_config(cli, key, value)
    ok(cli("schedule", "add", "--preset", "real", "--cron", "@daily", "--name", "real",
           "--notify", f"json://127.0.0.1:{receiver.port}/hook"))  # fmt: skip
    ok(cli("config", "unset", "oxylabs.password"))

    result = cli("schedule", "run", "real")

    assert result.exit_code == 2, result.stderr
    [post] = receiver.posts
    assert post["json"]["type"] == "failure"
    assert post["json"]["title"] == "collector: schedule real: could not run"
    [failed] = events(db_path, "schedule_failed")
    assert json.loads(failed["data"]) == {"schedule_id": 1}
    assert runs(db_path) == []


def test_failed_notifications_say_why_and_tell_urls_apart(cli, db_path, config_path) -> None:
    port = free_port()  # closed: connection refused
    urls = [f"json://hook-user:Dead-Pass-9xQ@127.0.0.1:{port}/hooks/Path-Token-4kW",
            f"json://127.0.0.1:{port}/hooks/Other-Token-6pL"]  # fmt: skip
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "@daily", "--name", "dead",
           "--notify", urls[0], "--notify", urls[1]))  # fmt: skip

    ok(cli("schedule", "run", "dead"))

    failed = events(db_path, "notify_failed")
    assert len(failed) == 2
    data = [json.loads(e["data"]) for e in failed]
    masks = [d["url"] for d in data]
    assert masks[0] != masks[1], "two URLs of one scheme and host must be told apart"
    assert all(re.fullmatch(r"json://127\.0\.0\.1/…#[0-9a-f]{6}", m) for m in masks), masks
    for event, item in zip(failed, data, strict=True):
        assert item["schedule_id"] == 1
        assert "Connection refused" in item["reason"], item
        assert event["message"] == f"notification to {item['url']} failed: {item['reason']}"
    text = json.dumps(failed)
    for secret in ("hook-user", "Dead-Pass-9xQ", "Path-Token-4kW", "Other-Token-6pL"):
        assert secret not in text

    # config show lists the URLs, masked the same way
    shown = cli("config", "show")
    assert f"notify.{fire.notify_key(db_path, 1)}" in shown.stdout
    assert masks[0] in shown.stdout and masks[1] in shown.stdout
    assert "Dead-Pass-9xQ" not in shown.stdout and "Path-Token-4kW" not in shown.stdout
    settings = json.loads(cli("config", "show", "--json").stdout)["settings"]
    [row] = [r for r in settings if r["key"].startswith("notify.")]
    assert row["value"] == ", ".join(masks)


def test_mask_ignores_the_password_but_not_the_token() -> None:
    base = "json://user:{}@hooks.example.com/x/{}"
    assert notify.mask(base.format("pw1", "tok")) == notify.mask(base.format("pw2", "tok"))
    assert notify.mask(base.format("pw1", "tok")) != notify.mask(base.format("pw1", "tok2"))
    assert notify.mask("ntfy://topic-a") != notify.mask("ntfy://topic-b")


def test_reason_is_scrubbed_of_every_url_part() -> None:
    url = "mailto://u-Name:P-Word@smtp.example.com/Rcpt-Tok@example.com?from=a-Sender@x.org"
    text = ("Failed for u-Name with P-Word at smtp.example.com to Rcpt-Tok@example.com from"
            " a-Sender@x.org")  # fmt: skip
    scrubbed = notify.scrub(text, url)
    for secret in ("u-Name", "P-Word", "Rcpt-Tok", "a-Sender"):
        assert secret not in scrubbed
    assert "smtp.example.com" in scrubbed  # a server name is no secret


def test_a_fire_for_a_deleted_schedule_records_its_id(cli, db_path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "@daily", "--name", "gone"))
    ok(cli("schedule", "remove", "gone"))
    ok(cli("run", "--schedule", "1"))
    [missing] = events(db_path, "schedule_missing")
    assert json.loads(missing["data"]) == {"schedule_id": 1}


def test_grace_message_uses_human_units(cli, db_path) -> None:
    ok(cli("schedule", "add", "--preset", "demo", "--cron", "0 12 * * *", "--name", "noon",
           "--timezone", "UTC", "--grace", "1m"))  # fmt: skip
    due = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    set_last_fire(db_path, 1, due - timedelta(days=1))
    store = open_store(db_path)
    try:
        result = fire.fire(store, 1, None, str, now=due + timedelta(minutes=3, seconds=10))  # type: ignore[arg-type]
    finally:
        store.close()
    assert result.message.endswith(
        "fire at 2030-06-01T12:00:00+00:00 missed by 3 min, beyond the 1 min grace window: skipped"
    ), result.message
    [missed] = events(db_path, "schedule_missed")
    assert json.loads(missed["data"]) == {"schedule_id": 1, "fire_at": "2030-06-01T12:00:00+00:00",
                                          "late_seconds": 190, "grace_seconds": 60}  # fmt: skip
    assert runs(db_path) == []


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 s"), (45, "45 s"), (60, "1 min"), (190, "3 min"), (3600, "1 h"), (5400, "1 h 30 min"),
     (21600, "6 h"), (86400, "1 d"), (2 * 86400 + 3 * 3600, "2 d 3 h")],
)  # fmt: skip
def test_human_duration(seconds: int, said: str) -> None:
    assert cron.human_duration(seconds) == said
