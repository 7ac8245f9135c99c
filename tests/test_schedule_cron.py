"""Cron expressions: what `schedule add` accepts and rejects, cron's Sunday 0/7, DST for
local-time schedules, the English description and the fire an invocation stands for.

Validation is checked twice: through `cron.normalize` and through `collector schedule add`,
where a rejection is exit 2 with one line on stderr and neither the store nor the crontab
file changes.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector_cli.errors import UsageError
from collector_cli.schedule import cron, fire
from collector_cli.store.schedules import Schedule
from tests.conftest import connect, dump

FOREIGN = "MAILTO=ops@example.com\n0 1 * * * /usr/bin/true\n"
WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def tab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tab file with one foreign job; never the real user's crontab."""
    path = tmp_path / "crontab"
    path.write_text(FOREIGN, encoding="utf-8")
    monkeypatch.setenv("COLLECTOR_CRONTAB", str(path))
    monkeypatch.setenv(
        "COLLECTOR_CRON_TZ", "UTC"
    )  # the machine's zone: lines keep their own timing
    return path


@pytest.fixture
def store(cli, db_path: Path, tab: Path) -> list[str]:
    result = cli("status")
    assert result.exit_code == 0, result.stderr
    return dump(db_path)


def assert_one_error(result, code: int) -> str:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("collector: error: "), lines[0]
    assert result.stdout == ""
    return lines[0]


# -- valid expressions -----------------------------------------------------------------------------

VALID = [
    ("0 3 * * *", "0 3 * * *"),
    ("  0\t3  * *   * ", "0 3 * * *"),  # whitespace collapses
    ("*/15 * * * *", "*/15 * * * *"),
    ("0-30/10 9-17 * * 1-5", "0-30/10 9-17 * * 1-5"),
    ("0 9 1,15 * *", "0 9 1,15 * *"),
    ("5,35 8-18/2 * 1,6,12 *", "5,35 8-18/2 * 1,6,12 *"),
    ("0 9 * JAN MON", "0 9 * JAN MON"),
    ("0 9 * * MON-FRI", "0 9 * * MON-FRI"),
    ("0 9 * jan-mar mon,wed", "0 9 * jan-mar mon,wed"),
    ("0 9 * * 0", "0 9 * * 0"),
    ("0 9 * * 7", "0 9 * * 7"),
    ("0 0 29 2 *", "0 0 29 2 *"),  # leap days exist
    ("@hourly", "@hourly"),
    ("@daily", "@daily"),
    ("@weekly", "@weekly"),
    ("@monthly", "@monthly"),
    ("@yearly", "@yearly"),
    ("@DAILY", "@daily"),
]


@pytest.mark.parametrize(("expression", "stored"), VALID)
def test_normalize_accepts(expression: str, stored: str) -> None:
    assert cron.normalize(expression) == stored
    # what is stored can be computed with: a next fire exists and is in the future
    fires = cron.next_fires(stored, "UTC", 2, after=WEDNESDAY)
    assert WEDNESDAY < fires[0] < fires[1]


@pytest.mark.parametrize(("expression", "stored"), VALID)
def test_schedule_add_accepts_and_writes_the_line(
    cli, db_path: Path, tab: Path, store, expression: str, stored: str
) -> None:
    result = cli("schedule", "add", "--preset", "demo", "--cron", expression)
    assert result.exit_code == 0, result.stderr
    with connect(db_path) as conn:
        rows = [dict(r) for r in conn.execute("SELECT cron, timezone FROM schedules")]
    assert rows == [{"cron": stored, "timezone": "UTC"}]
    text = tab.read_text(encoding="utf-8")
    assert text.startswith(FOREIGN)
    ours = text[len(FOREIGN) :].splitlines()
    assert len(ours) == 1
    assert ours[0].startswith(stored + " "), ours[0]
    assert re.search(r"# collector-schedule:[0-9a-f]{8}:1$", ours[0])


# -- invalid expressions ---------------------------------------------------------------------------

INVALID = [
    ("* * * *", "need 5 fields"),
    ("* * * * * *", "got 6"),
    ("0 3 * * * /bin/evil", "got 6"),
    ("60 * * * *", "bad minute field '60'"),
    ("0 24 * * *", "bad hour field '24'"),
    ("0 0 0 * *", "bad day of month field '0'"),
    ("0 0 32 * *", "bad day of month field '32'"),
    ("0 0 * 13 *", "bad month field '13'"),
    ("0 0 * 0 *", "bad month field '0'"),
    ("0 0 * * 8", "bad day of week field '8'"),
    ("0 0 * * MON-FOO", "bad day of week field"),
    ("0 0 * FOO *", "bad month field"),
    ("MON * * * *", "bad minute field"),
    ("*/0 * * * *", "bad minute field"),
    ("foo bar baz qux quux", "bad minute field 'foo'"),
    ("0 0 ? * *", "bad day of month field"),
    ("0 0 * * 1#2", "bad day of week field"),
    ("0;rm * * * *", "bad minute field"),
    ("@often", "unknown nickname"),
    ("@ daily", "unknown nickname"),
    ("@reboot", "fires only when the machine starts"),
    ("@REBOOT", "fires only when the machine starts"),
    ("0 0 31 2 *", "can never fire"),
    ("0 0 30 2 *", "can never fire"),
    ("0 0 31 4 *", "can never fire"),
    ("0 0 30,31 2 *", "can never fire"),
]


@pytest.mark.parametrize(("expression", "reason"), INVALID)
def test_normalize_rejects_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(UsageError) as info:
        cron.normalize(expression)
    message = str(info.value)
    assert message.startswith("invalid cron expression"), message
    assert reason in message, message


@pytest.mark.parametrize(("expression", "reason"), INVALID)
def test_schedule_add_rejects_and_changes_nothing(
    cli, db_path: Path, tab: Path, store, expression: str, reason: str
) -> None:
    result = cli("schedule", "add", "--preset", "demo", "--cron", expression)
    line = assert_one_error(result, 2)
    assert reason in line, line
    assert dump(db_path) == store
    assert tab.read_text(encoding="utf-8") == FOREIGN


CRONITER_ONLY = ["0 0 L * *", "0 0 1W * *", "5/10 * * * *", "1-0 * * * *"]


@pytest.mark.parametrize("expression", CRONITER_ONLY)
def test_croniter_only_syntax_is_rejected_in_the_machine_zone(
    cli, db_path: Path, tab: Path, store, expression: str
) -> None:
    """croniter extensions that the cron daemon does not understand never reach the table."""
    result = cli("schedule", "add", "--preset", "demo", "--cron", expression)
    assert_one_error(result, 2)
    assert dump(db_path) == store
    assert tab.read_text(encoding="utf-8") == FOREIGN


@pytest.mark.parametrize("expression", CRONITER_ONLY)
def test_croniter_only_syntax_is_rejected_in_another_zone(
    cli, db_path: Path, tab: Path, store, expression: str
) -> None:
    result = cli(
        "schedule", "add", "--preset", "demo", "--cron", expression,
        "--timezone", "Europe/Berlin",
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert dump(db_path) == store


# -- Sunday is 0 and 7 -----------------------------------------------------------------------------


def test_the_known_day_is_a_wednesday() -> None:
    assert WEDNESDAY.strftime("%A") == "Wednesday"


@pytest.mark.parametrize("dow", ["0", "7", "SUN", "sun"])
def test_sunday_is_0_and_7(dow: str) -> None:
    expression = cron.normalize(f"0 9 * * {dow}")
    fires = cron.next_fires(expression, "UTC", 3, after=WEDNESDAY)
    assert fires[0].astimezone(UTC) == utc(2026, 11, 29, 9, 0)  # the following Sunday
    assert [f.strftime("%A") for f in fires] == ["Sunday"] * 3
    assert [b - a for a, b in itertools.pairwise(fires)] == [timedelta(days=7)] * 2


@pytest.mark.parametrize("dow", ["1", "MON", "mon"])
def test_monday_is_1(dow: str) -> None:
    fires = cron.next_fires(f"0 9 * * {dow}", "UTC", 2, after=WEDNESDAY)
    assert fires[0].astimezone(UTC) == utc(2026, 11, 30, 9, 0)
    assert {f.strftime("%A") for f in fires} == {"Monday"}


def test_weekly_nickname_fires_on_sunday_midnight() -> None:
    fires = cron.next_fires("@weekly", "UTC", 1, after=WEDNESDAY)
    assert fires[0].astimezone(UTC) == utc(2026, 11, 29, 0, 0)


def test_weekday_range_skips_the_weekend() -> None:
    fires = cron.next_fires("0 9 * * MON-FRI", "UTC", 5, after=WEDNESDAY)
    assert [f.day for f in fires] == [26, 27, 30, 1, 2]  # Thu, Fri, Mon, Tue, Wed


def test_sunday_range_with_7() -> None:
    """5-7 is Friday to Sunday, as in cron."""
    fires = cron.next_fires("0 9 * * 5-7", "UTC", 3, after=WEDNESDAY)
    assert [f.strftime("%A") for f in fires] == ["Friday", "Saturday", "Sunday"]


def test_month_names_and_leap_day() -> None:
    fires = cron.next_fires("0 9 1 JAN *", "UTC", 2, after=WEDNESDAY)
    assert [f.astimezone(UTC) for f in fires] == [utc(2027, 1, 1, 9), utc(2028, 1, 1, 9)]
    leap = cron.next_fires("0 0 29 2 *", "UTC", 2, after=WEDNESDAY)
    assert [f.astimezone(UTC) for f in leap] == [utc(2028, 2, 29), utc(2032, 2, 29)]


# -- DST: a local-time schedule -------------------------------------------------------------------


def fires_utc(expression: str, tz: str, after: datetime, count: int = 3) -> list[datetime]:
    return [f.astimezone(UTC) for f in cron.next_fires(expression, tz, count, after=after)]


def test_new_york_spring_forward_fires_once_right_after_the_jump() -> None:
    """2026-03-08: 02:00 EST jumps to 03:00 EDT; the 02:30 fire happens at 03:00 EDT."""
    got = fires_utc("30 2 * * *", "America/New_York", utc(2026, 3, 7, 0, 0))
    assert got == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    local = cron.next_fires("30 2 * * *", "America/New_York", 3, after=utc(2026, 3, 7, 0, 0))
    assert [f.strftime("%d %H:%M %Z") for f in local] == [
        "07 02:30 EST",
        "08 03:00 EDT",
        "09 02:30 EDT",
    ]


def test_new_york_fall_back_fires_once() -> None:
    """2026-11-01: 02:00 EDT falls back to 01:00 EST; 02:30 exists once (EST)."""
    got = fires_utc("30 2 * * *", "America/New_York", utc(2026, 10, 31, 0, 0))
    assert got == [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)]


def test_berlin_spring_forward_fires_once_right_after_the_jump() -> None:
    """2026-03-29: 02:00 CET jumps to 03:00 CEST."""
    got = fires_utc("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 0, 0))
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]


def test_berlin_fall_back_fires_once() -> None:
    """2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice on the wall clock;
    cron runs a fixed-time job once (at the first 02:30, 00:30 UTC)."""
    got = fires_utc("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 0, 0))
    assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_new_york_fall_back_in_the_repeated_hour_fires_once() -> None:
    got = fires_utc("30 1 * * *", "America/New_York", utc(2026, 10, 31, 0, 0))
    assert got == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def invocations(expression: str, tz: str, start: datetime, hours: int) -> list[str]:
    """Simulate an every-minute crontab line (a schedule in another zone than the machine's):
    the fires `run --schedule` would claim, minute by minute."""
    schedule = Schedule(id=1, name="x", preset_name="demo", cron=expression, timezone=tz,
                        enabled=True, last_fire_at=fire.iso(start))  # fmt: skip
    claimed = []
    moment = start
    while moment < start + timedelta(hours=hours):
        due = fire.due_fire(schedule, moment)
        if due is not None:
            claimed.append(fire.iso(due))
            schedule = Schedule(id=1, name="x", preset_name="demo", cron=expression,
                                timezone=tz, enabled=True, last_fire_at=fire.iso(due))  # fmt: skip
        moment += timedelta(minutes=1)
    return claimed


def test_every_minute_line_claims_the_spring_forward_fire_once() -> None:
    claimed = invocations("30 2 * * *", "America/New_York", utc(2026, 3, 8, 4, 0), 6)
    assert claimed == ["2026-03-08T07:00:00+00:00"]
    claimed = invocations("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 22, 0), 6)
    assert claimed == ["2026-03-29T01:00:00+00:00"]


def test_every_minute_line_claims_the_new_york_fall_back_fire_once() -> None:
    claimed = invocations("30 2 * * *", "America/New_York", utc(2026, 11, 1, 3, 0), 8)
    assert claimed == ["2026-11-01T07:30:00+00:00"]


def test_every_minute_line_claims_the_berlin_fall_back_fire_once() -> None:
    claimed = invocations("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 22, 0), 6)
    assert claimed == ["2026-10-25T00:30:00+00:00"]


# -- description and the fire that is due ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 3 * * *", ["03:00"]),
        ("30 14 * * MON-FRI", ["14:30", "Monday through Friday"]),
        ("0 9 * * 7", ["09:00", "Sunday"]),
        ("0 9 * * 0", ["09:00", "Sunday"]),
        ("@weekly", ["00:00", "Sunday"]),
        ("@hourly", ["hour"]),
        ("*/5 * * JAN *", ["5 minutes", "January"]),
    ],
)
def test_describe_in_english(expression: str, words: list[str]) -> None:
    text = cron.describe(expression)
    for word in words:
        assert word in text, text
    assert "*" not in text, text


def test_describe_in_list_json(cli, tab: Path, store) -> None:
    assert cli("schedule", "add", "--preset", "demo", "--cron", "0 3 * * *").exit_code == 0
    rows = json.loads(cli("schedule", "list", "--json").stdout)
    assert "03:00" in rows[0]["description"]


def test_latest_fire_is_at_or_before_now() -> None:
    now = utc(2026, 11, 25, 10, 20, 30)
    assert cron.latest_fire("0 * * * *", "UTC", now) == utc(2026, 11, 25, 10, 0)
    assert cron.latest_fire("0 * * * *", "UTC", utc(2026, 11, 25, 10, 0)) == utc(
        2026, 11, 25, 10, 0
    )  # a fire exactly now is the fire now
    assert cron.latest_fire("0 * * * *", "UTC", utc(2026, 11, 25, 9, 59, 59)) == utc(
        2026, 11, 25, 9, 0
    )
    assert cron.latest_fire("0 9 * * 0", "UTC", WEDNESDAY) == utc(2026, 11, 22, 9, 0)
    assert cron.latest_fire("0 9 * * 7", "UTC", WEDNESDAY) == utc(2026, 11, 22, 9, 0)
    # in a zone: 03:00 Berlin summer time is 01:00 UTC
    berlin = cron.latest_fire("0 3 * * *", "Europe/Berlin", utc(2026, 6, 1, 12, 0))
    assert berlin.astimezone(UTC) == utc(2026, 6, 1, 1, 0)
    # the spring-forward fire as seen later that day
    ny = cron.latest_fire("30 2 * * *", "America/New_York", utc(2026, 3, 8, 12, 0))
    assert ny.astimezone(UTC) == utc(2026, 3, 8, 7, 0)


def test_latest_fire_agrees_with_next_fires() -> None:
    after = utc(2026, 11, 25, 10, 7)
    for expression in ("*/5 * * * *", "0 3 * * *", "15 9-17 * * MON-FRI", "@monthly"):
        upcoming = cron.next_fires(expression, "UTC", 3, after=after)
        for moment in upcoming:
            assert cron.latest_fire(expression, "UTC", moment) == moment
            assert cron.latest_fire(expression, "UTC", moment + timedelta(seconds=30)) == moment


def test_unknown_time_zone_is_a_usage_error() -> None:
    for name in ("Mars/Olympus", "../../etc/passwd", "Europe/"):
        with pytest.raises(UsageError, match="unknown time zone"):
            cron.zone(name)


def test_cron_zone_ignores_the_callers_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    """cron does not see the invoking shell's TZ: only the machine's zone (or the explicit
    COLLECTOR_CRON_TZ override) decides whether a line can carry the expression itself."""
    monkeypatch.delenv("COLLECTOR_CRON_TZ", raising=False)
    machine = cron.local_zone_name()
    monkeypatch.setenv("TZ", "America/New_York")
    assert cron.local_zone_name() == machine
    monkeypatch.setenv("COLLECTOR_CRON_TZ", ":Europe/Berlin")
    assert cron.local_zone_name() == "Europe/Berlin"
    assert cron.is_cron_zone("Europe/Berlin") and cron.is_cron_zone("Europe/Paris")  # same clock
    assert not cron.is_cron_zone("Europe/London")
    monkeypatch.setenv("COLLECTOR_CRON_TZ", "Etc/UTC")
    assert cron.is_cron_zone("UTC") and cron.is_cron_zone("Zulu")
    assert not cron.is_cron_zone("America/New_York")
