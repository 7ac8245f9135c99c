"""Cron expressions: validation, description, next fire times and the fire that is due.

croniter does the calendar arithmetic (with time zones, so DST is handled the way cron
handles it: a fire in a skipped hour happens right after the jump). Day-of-week follows cron:
Sunday is 0 and 7, Monday is 1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector_cli.errors import UsageError

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_FIELD_OK = re.compile(r"^[\w*/,\-]+$")


def normalize(expression: str) -> str:
    """The expression as it will be stored and written, or a UsageError saying what is wrong."""
    from croniter import CroniterBadDateError, croniter

    text = " ".join(expression.split())
    lowered = text.lower()
    if lowered == "@reboot":
        raise UsageError(
            "invalid cron expression '@reboot': it fires only when the machine starts, which a"
            " recurring collection cannot rely on; use `collector schedule catch-up` at boot"
        )
    if lowered.startswith("@"):
        if lowered not in NICKNAMES:
            raise UsageError(
                f"invalid cron expression {expression!r}: unknown nickname (use one of"
                f" {', '.join(sorted(set(NICKNAMES) - {'@annually', '@midnight'}))})"
            )
        return lowered
    fields = text.split(" ")
    if len(fields) != 5:
        raise UsageError(
            f"invalid cron expression {expression!r}: need 5 fields (minute hour day-of-month"
            f" month day-of-week), got {len(fields)}"
        )
    for name, value in zip(FIELDS, fields, strict=True):
        if not _FIELD_OK.match(value) or not croniter.is_valid(_probe(name, value)):
            raise UsageError(f"invalid cron expression {expression!r}: bad {name} field {value!r}")
    from crontab import CronSlices

    # croniter also knows L, W and other extensions the cron daemon does not: refuse those.
    if not croniter.is_valid(text) or not CronSlices.is_valid(text):
        raise UsageError(f"invalid cron expression {expression!r}: not standard cron syntax")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC), max_years_between_matches=8).get_next(
            datetime
        )
    except CroniterBadDateError:
        raise UsageError(
            f"invalid cron expression {expression!r}: it can never fire (no such date)"
        ) from None
    return text


def _probe(name: str, value: str) -> str:
    """A whole expression that is valid except, perhaps, for this one field."""
    fields = ["*"] * 5
    fields[FIELDS.index(name)] = value
    return " ".join(fields)


def expand(expression: str) -> str:
    return NICKNAMES.get(expression, expression)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC"
        ) from None


def local_zone_name() -> str | None:
    """The machine's time zone, the one the cron daemon uses (never the caller's TZ, which cron
    does not see); None when it cannot be told, and then every line is an every-minute line."""
    import os
    from pathlib import Path

    override = os.environ.get("COLLECTOR_CRON_TZ")  # a cron daemon run with another zone
    if override:
        return override.lstrip(":")
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if name:
            return name
    except OSError:
        pass
    target = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    return None


def default_zone_name() -> str:
    return local_zone_name() or "UTC"


def is_cron_zone(name: str) -> bool:
    """Whether ``name`` keeps the same clock as the cron daemon's zone (aliases such as UTC
    and Etc/UTC, or US/Eastern and America/New_York, count as the same) over two years."""
    local = local_zone_name()
    if local is None:
        return False
    return local == name or _same_clock(local, name, datetime.now(UTC).date())


@cache
def _same_clock(first: str, second: str, today: object) -> bool:
    """Same UTC offset every 6 hours for two years (cached: every line of a sync asks)."""
    try:
        a, b = ZoneInfo(first), ZoneInfo(second)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return all(
        (start + timedelta(hours=h)).astimezone(a).utcoffset()
        == (start + timedelta(hours=h)).astimezone(b).utcoffset()
        for h in range(0, 2 * 365 * 24, 6)
    )


def _repeat(expression: str, moment: datetime) -> bool:
    """A fixed-time fire in the hour that a DST fall-back repeats, the second time round: cron
    runs such a job once, so it is skipped (jobs whose minute or hour starts with '*' are
    wildcard jobs and run in both)."""
    minute, hour = expand(expression).split()[:2]
    if minute.startswith("*") or hour.startswith("*"):  # Debian cron: a wildcard job
        return False
    return moment.utcoffset() != moment.replace(fold=0).utcoffset()


def next_fires(expression: str, tz: str, count: int = 3, after: datetime | None = None) -> list:
    from croniter import croniter

    start = (after or datetime.now(UTC)).astimezone(zone(tz))
    it = croniter(expand(expression), start)
    fires: list[datetime] = []
    while len(fires) < count:
        moment = it.get_next(datetime)
        if not _repeat(expression, moment):
            fires.append(moment)
    return fires


def latest_fire(expression: str, tz: str, now: datetime | None = None) -> datetime:
    """The newest fire time at or before ``now`` (the fire an invocation now stands for)."""
    from croniter import croniter

    moment = (now or datetime.now(UTC)).astimezone(zone(tz))
    it = croniter(expand(expression), moment + timedelta(seconds=1))
    fire = it.get_prev(datetime)
    while _repeat(expression, fire):
        fire = it.get_prev(datetime)
    return fire


def describe(expression: str) -> str:
    """English, e.g. 'At 03:00 AM, on day 1 of the month' (cron-descriptor)."""
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    try:
        return get_description(expand(expression), options)
    except Exception:  # a description is a nicety; never fail a listing for it
        return expand(expression)


def human_duration(seconds: float) -> str:
    """A span as people say it: '45 s', '3 min', '1 h 30 min', '6 h', '2 d 3 h' (rounded to the
    unit that matters; a grace window of 60 s is '1 min', not '0.0166667 h')."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours + (1 if minutes >= 30 else 0), 24)
    return f"{days} d" + (f" {hours} h" if hours else "")
