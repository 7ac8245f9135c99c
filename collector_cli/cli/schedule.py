"""`collector schedule …`: recurring runs written into the system crontab.

Running a schedule (`schedule run`, `schedule catch-up`) goes through cli/run.py, the one
module that starts runs; this module only manages schedules and their lines.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from collector_cli.cli.common import (
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_USAGE,
    HelpCommand,
    err,
    exit_codes,
    out,
    print_json,
    state,
)
from collector_cli.cli.run import fire_schedule, reporter, summarize
from collector_cli.errors import UsageError

NO_SCHEDULE = "3 no such schedule"
CRONTAB = "1 the crontab cannot be read or written"
# A fire ends as its run did (`schedule run`; `catch-up` returns the highest of its runs').
FIRE_CODES = (
    "0 ok", "1 the run failed", "2 bad usage, or the preset cannot run",
    "3 no such schedule or preset", EXIT_DATABASE, "5 some products failed",
    "6 run ended by a limit", "7 another run was still active after the wait",
    "130 cancelled",
)  # fmt: skip

app = typer.Typer(
    help="""Run presets on a timetable, through your crontab.

    Each enabled schedule has one line in your crontab, which runs `collector run
    --schedule ID` (output goes to a log per schedule). `schedule list` says whether each
    line is current and whether a cron daemon runs at all.

    Examples:

      collector schedule add --preset demo --cron '0 3 * * *'

      collector schedule list

      collector schedule run demo
    """,
    epilog=exit_codes(EXIT_OK, CRONTAB, EXIT_USAGE, "3 no such schedule or preset", EXIT_DATABASE)
    + " `schedule run` and `schedule catch-up` end as their runs did (see their --help).",
    no_args_is_help=True,
)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
Ref = Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id or name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LOOKUP_CODES = exit_codes(EXIT_OK, EXIT_USAGE, NO_SCHEDULE, EXIT_DATABASE)
CHANGE_CODES = exit_codes(EXIT_OK, CRONTAB, EXIT_USAGE, NO_SCHEDULE, EXIT_DATABASE)
ADD_CODES = exit_codes(
    EXIT_OK, CRONTAB, "2 bad usage or input, or the preset cannot run from cron",
    "3 no such preset", EXIT_DATABASE,
)  # fmt: skip


@app.command("add", cls=HelpCommand, epilog=ADD_CODES)
def add(
    ctx: typer.Context,
    preset: Annotated[str, typer.Option("--preset", "-p", metavar="PRESET", help="Preset to run.")],
    cron_expr: Annotated[
        str,
        typer.Option(
            "--cron",
            metavar="CRON",
            help="5-field cron expression or @hourly/@daily/@weekly/….",
        ),
    ],
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="A name (default: the preset's).")
    ] = None,
    notify_urls: Annotated[
        list[str] | None,
        typer.Option(
            "--notify", metavar="URL", help="apprise URL notified after each run. Repeatable."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            metavar="ZONE",
            help="Time zone of the expression, e.g. Europe/Berlin (default: the machine's).",
        ),
    ] = None,
    grace: Annotated[
        str,
        typer.Option(
            metavar="DURATION", help="Run a fire missed (machine off) if no later than this."
        ),
    ] = "6h",
    wait_timeout: Annotated[
        str,
        typer.Option(metavar="DURATION", help="How long a fire waits for an active run to end."),
    ] = "6h",
) -> None:
    """Add a schedule and write its crontab line.

    Refused when the preset could not run from cron, e.g. credentials only in the
    environment (cron passes none on): `collector config set` puts them in the file.

    Examples:

      collector schedule add --preset demo --cron '0 3 * * *'

      collector schedule add -p demo --cron @daily --name nightly --timezone UTC

      collector schedule add -p toys --cron '0 */6 * * *' --notify ntfy://my-topic
    """
    from collector_cli import config
    from collector_cli.engine.limits import parse_duration
    from collector_cli.presets import validate_name
    from collector_cli.schedule import cron, health, notify
    from collector_cli.schedule.crontab import Crontab, command_env
    from collector_cli.schedule.daemon import START_HINT, find_cron_daemon
    from collector_cli.schedule.fire import iso, notify_key

    validate_name(preset)
    expression = cron.normalize(cron_expr)
    if timezone is not None and not timezone.strip():
        raise UsageError("invalid --timezone '': give an IANA name such as Europe/Berlin")
    tz = timezone or cron.default_zone_name()
    cron.zone(tz)
    name = name if name is not None else preset
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid schedule name {name!r}: 1-64 letters, digits, '_', '.', '-', starting"
            " with a letter or digit"
        )
    if name.isdigit():
        raise UsageError(f"invalid schedule name {name!r}: a name cannot be only digits")
    urls = notify.validate(list(notify_urls or []))
    grace_s, wait_s = parse_duration(grace), parse_duration(wait_timeout)
    if grace_s < 60:
        raise UsageError(f"invalid --grace {grace!r}: at least 1m (a run takes time to start)")
    store = state(ctx).store()
    table = Crontab(store.path)  # no cron installed: say so before anything is stored
    python, config_path = command_env()
    ready = health.readiness(store.presets.get(preset), config_path)
    if ready.problems:  # cron passes on no environment: such a schedule fails at every fire
        raise UsageError(f"cannot schedule preset {preset}: {'; '.join(ready.problems)}")
    schedule = store.schedules.add(
        name=name, preset_name=preset, cron=expression, timezone=tz,
        notify=[notify.mask(u) for u in urls], grace_seconds=grace_s, wait_seconds=wait_s,
        last_fire_at=iso(cron.latest_fire(expression, tz)), python=python,
        config_path=config_path,
    )  # fmt: skip
    key = notify_key(store.path, schedule.id)
    try:
        if urls:
            config.set_notify_urls(key, urls)  # 0600 config file, never the database
        _sync(store, table)
    except BaseException:
        store.schedules.remove(schedule.id)  # the line could not be written: keep nothing
        config.set_notify_urls(key, None)
        raise
    fires = cron.next_fires(expression, tz, 1)
    err().print(
        f"Added schedule {schedule.id} ({name}): preset {preset}, {cron.describe(expression)}"
        f" ({tz}); next run {fires[0].astimezone():%Y-%m-%d %H:%M %Z}. Line written to"
        f" {table.where}.",
        markup=False,
    )
    for warning in ready.warnings:
        err().print(f"! {warning}", markup=False)
    if not find_cron_daemon().running:
        err().print(f"! {health.NO_DAEMON}; {START_HINT}", markup=False)


@app.command("list", cls=HelpCommand, epilog=exit_codes(EXIT_OK, EXIT_USAGE, EXIT_DATABASE))
def list_(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List schedules with their next run and last outcome.

    The crontab column says whether each line is current. A "!" before a name: that
    schedule's fires will fail (the reason is printed below the table). A line below the
    table also says when no cron daemon is running.

    Examples:

      collector schedule list

      collector schedule list --json
    """
    from collector_cli.schedule.daemon import find_cron_daemon

    store = state(ctx).store()
    lines = _lines_or_error(store)
    daemon = find_cron_daemon()
    rows = [_describe(store, s, lines, daemon) for s in store.schedules.list()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err().print("No schedules. Add one with: collector schedule add --preset demo --cron"
                    " '0 3 * * *'", markup=False)  # fmt: skip
        return
    from collector_cli.ui.tables import plain_table

    table = plain_table(("id", "name", "preset", "when", "next run", "last run", "crontab"),
                        right=("id",))  # fmt: skip
    for row in rows:
        last = row["last_run"]
        table.add_row(
            str(row["id"]),
            ("! " if row["problems"] and row["enabled"] else "")
            + row["name"]
            + ("" if row["enabled"] else " (disabled)"),
            row["preset"],
            f"{row['cron']}  {row['description']}",
            row["next_runs_local"][0] if row["enabled"] else "—",
            f"#{last['id']} {last['status']}" if last else "—",
            row["crontab"],
        )
    out().print(table)
    _print_notes(rows, daemon)


@app.command("show", cls=HelpCommand, epilog=LOOKUP_CODES)
def show(ctx: typer.Context, ref: Ref, as_json: AsJson = False) -> None:
    """Show one schedule in full: next fires, crontab line, last run.

    The next 3 fires in local time and UTC, the config file and log it uses, and whether
    its credentials are in place.

    Examples:

      collector schedule show nightly

      collector schedule show 1 --json
    """
    from collector_cli.schedule.daemon import find_cron_daemon

    store = state(ctx).store()
    schedule = store.schedules.find(ref)
    lines = _lines_or_error(store)
    daemon = find_cron_daemon()
    row = _describe(store, schedule, lines, daemon)
    if as_json:
        print_json(row)
        return
    console = out()
    keys = ("id", "name", "preset", "cron", "description", "timezone", "enabled", "notify",
            "grace_seconds", "wait_seconds", "last_fire_at", "crontab", "config",
            "log")  # fmt: skip
    for key in keys:
        console.print(f"{key:<14}{row[key]}", markup=False, highlight=False)
    console.print(f"{'cron daemon':<14}{daemon.describe()}", markup=False, highlight=False)
    console.print(f"{'credentials':<14}{row['credentials']}", markup=False, highlight=False)
    for local, utc in zip(row["next_runs_local"], row["next_runs_utc"], strict=True):
        console.print(f"{'next run':<14}{local}  ({utc})", markup=False, highlight=False)
    last = row["last_run"]
    console.print(f"{'last run':<14}" + (f"#{last['id']} {last['status']}: {last['finish_reason']}"
                  if last else "—"), markup=False, highlight=False)  # fmt: skip
    if row["line"]:
        console.print(f"{'line':<14}{row['line']}", markup=False, highlight=False, soft_wrap=True)
    _print_notes([row], daemon)


@app.command("remove", cls=HelpCommand, epilog=CHANGE_CODES)
def remove(ctx: typer.Context, ref: Ref) -> None:
    """Remove a schedule and its crontab line (past runs stay).

    Examples:

      collector schedule remove nightly
    """
    from collector_cli import config
    from collector_cli.schedule.crontab import Crontab
    from collector_cli.schedule.fire import notify_key

    store = state(ctx).store()
    table = Crontab(store.path)
    schedule = store.schedules.find(ref)
    wanted = _wanted(store)
    wanted.pop(schedule.id, None)
    table.apply(wanted)  # the line goes first: a refused write leaves the schedule in place
    store.schedules.remove(schedule.id)
    config.set_notify_urls(notify_key(store.path, schedule.id), None)
    err().print(f"Removed schedule {schedule.id} ({schedule.name}).", markup=False)


@app.command("enable", cls=HelpCommand, epilog=CHANGE_CODES)
def enable(ctx: typer.Context, ref: Ref) -> None:
    """Enable a schedule: its crontab line is written back.

    Examples:

      collector schedule enable nightly
    """
    _set_enabled(ctx, ref, True)


@app.command("disable", cls=HelpCommand, epilog=CHANGE_CODES)
def disable(ctx: typer.Context, ref: Ref) -> None:
    """Disable a schedule: its crontab line is removed.

    The schedule stays; `schedule enable` brings its line back.

    Examples:

      collector schedule disable nightly
    """
    _set_enabled(ctx, ref, False)


@app.command(
    "sync",
    cls=HelpCommand,
    epilog=exit_codes(EXIT_OK, CRONTAB, EXIT_USAGE, EXIT_DATABASE),
)
def sync(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Rewrite the crontab lines from the store; report what changed.

    Only this store's lines are touched: missing ones are added, stale ones updated, those
    of removed or disabled schedules removed.

    Examples:

      collector schedule sync

      collector schedule sync --json
    """
    from collector_cli.schedule.crontab import Crontab

    store = state(ctx).store()
    table = Crontab(store.path)
    drift = _sync(store, table)
    if as_json:
        print_json([{"schedule_id": d.schedule_id, "change": d.change} for d in drift])
        return
    if not drift:
        err().print(f"Crontab in sync ({table.where}): nothing to repair.", markup=False)
    for d in drift:
        err().print(f"schedule {d.schedule_id}: line {d.change}", markup=False)


@app.command("run", cls=HelpCommand, epilog=exit_codes(*FIRE_CODES))
def run_now(ctx: typer.Context, ref: Ref) -> None:
    """Run a schedule now, exactly as cron would.

    It waits for an active run to end (up to the schedule's --wait-timeout) and sends the
    schedule's notifications.

    Examples:

      collector schedule run nightly
    """
    store = state(ctx).store()
    schedule = store.schedules.find(ref)
    raise typer.Exit(fire_schedule(ctx, schedule.id, manual=True))


@app.command(
    "catch-up",
    cls=HelpCommand,
    epilog=exit_codes(*FIRE_CODES) + " With several runs: the highest of their codes.",
)
def catch_up(ctx: typer.Context) -> None:
    """Run enabled schedules whose last fire was missed, once each.

    Only fires missed within their schedule's grace window count, for example after the
    machine was off; an @reboot line in the crontab can call it.

    Examples:

      collector schedule catch-up
    """
    from collector_cli.schedule import fire

    store = state(ctx).store()
    results = fire.catch_up(store, lambda: reporter(False), summarize)
    if not results:
        err().print("No missed fires to catch up.", markup=False)
    for schedule, result in results:
        if result.message:
            err().print(result.message, markup=False)
        elif result.summary is not None:
            err().print(f"schedule {schedule.id} ({schedule.name}): run #{result.summary.run_id}"
                        f" {result.summary.status}", markup=False)  # fmt: skip
    codes = [r.exit_code for _, r in results]
    raise typer.Exit(max(codes, default=0))


def _set_enabled(ctx: typer.Context, ref: str, enabled: bool) -> None:
    from collector_cli.schedule import cron
    from collector_cli.schedule.crontab import Crontab
    from collector_cli.schedule.fire import iso

    store = state(ctx).store()
    table = Crontab(store.path)
    schedule = store.schedules.find(ref)
    wanted = _wanted(store)
    if enabled:
        wanted[schedule.id] = _line(store, schedule)
    else:
        wanted.pop(schedule.id, None)
    table.apply(wanted)  # the line goes first: a refused write leaves the flag as it was
    due = iso(cron.latest_fire(schedule.cron, schedule.timezone)) if enabled else None
    changed = store.schedules.set_enabled(schedule.id, enabled, due)
    word = "enabled" if enabled else "disabled"
    err().print(f"Schedule {schedule.id} ({schedule.name}) {word}"
                + ("" if changed else " already"), markup=False)  # fmt: skip
    if enabled:
        from collector_cli.schedule.health import schedule_readiness

        for problem in schedule_readiness(store, schedule).problems:
            err().print(f"! schedule {schedule.id} ({schedule.name}) will fail: {problem}",
                        markup=False)  # fmt: skip


def _line(store, schedule) -> str:  # type: ignore[no-untyped-def]
    from collector_cli.schedule.crontab import schedule_line

    return schedule_line(schedule, store.path)


def _wanted(store) -> dict[int, str]:  # type: ignore[no-untyped-def]
    from collector_cli.schedule.crontab import wanted_lines

    return wanted_lines(store.schedules.list(), store.path)


def _sync(store, table):  # type: ignore[no-untyped-def]
    from collector_cli.schedule.crontab import log_path

    wanted = _wanted(store)
    for schedule_id in wanted:  # cron cannot append to a log in a folder that does not exist
        log_path(schedule_id, store.path).parent.mkdir(parents=True, exist_ok=True)
    return table.apply(wanted)


def _lines_or_error(store) -> dict[int, str] | None:  # type: ignore[no-untyped-def]
    from collector_cli.schedule.crontab import Crontab, CrontabError

    try:
        return Crontab(store.path).ours()
    except CrontabError:
        return None


def _print_notes(rows: list[dict[str, Any]], daemon) -> None:  # type: ignore[no-untyped-def]
    """Below the listing, on stderr: why a "!" schedule will fail, and a missing cron daemon
    (a "current" line and a next run mean nothing without one)."""
    from collector_cli.schedule.daemon import START_HINT
    from collector_cli.schedule.health import NO_DAEMON

    console = err()
    for row in rows:
        if not row["enabled"]:
            continue  # it does not fire; `enable` says so then
        for problem in row["problems"]:
            console.print(f"! schedule {row['id']} ({row['name']}) will fail: {problem}",
                          markup=False)  # fmt: skip
        for warning in row["warnings"]:
            console.print(f"! schedule {row['id']} ({row['name']}): {warning}", markup=False)
    if not daemon.running and any(row["enabled"] for row in rows):
        console.print(f"! {NO_DAEMON}; {START_HINT}", markup=False)


def _credentials_word(ready) -> str:  # type: ignore[no-untyped-def]
    if ready.missing:
        return f"missing in the config file: {', '.join(ready.missing)}"
    return "ok" if not ready.problems else "see problems"


def _describe(store, schedule, lines: dict[int, str] | None, daemon) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from collector_cli.schedule import cron
    from collector_cli.schedule.crontab import log_path
    from collector_cli.schedule.health import schedule_readiness

    fires = cron.next_fires(schedule.cron, schedule.timezone, 3)
    wanted = _line(store, schedule)
    line = None if lines is None else lines.get(schedule.id)
    if lines is None:
        status = "unknown (no crontab)"
    elif not schedule.enabled:
        status = "absent (disabled)" if line is None else "stale: run `schedule sync`"
    elif line is None:
        status = "missing: run `schedule sync`"
    else:
        status = "current" if line == wanted else "stale: run `schedule sync`"
    ready = schedule_readiness(store, schedule)
    return {
        "id": schedule.id,
        "name": schedule.name,
        "preset": schedule.preset_name,
        "cron": schedule.cron,
        "description": cron.describe(schedule.cron),
        "timezone": schedule.timezone,
        "preset_exists": store.presets.exists(schedule.preset_name),
        "enabled": schedule.enabled,
        "notify": schedule.notify,  # masked; the URLs themselves are in the config file
        "grace_seconds": schedule.grace_seconds,
        "wait_seconds": schedule.wait_seconds,
        "last_fire_at": schedule.last_fire_at,
        "next_runs_local": [f"{f.astimezone():%Y-%m-%d %H:%M %Z}" for f in fires],
        "next_runs_utc": [f.astimezone(cron.zone("UTC")).isoformat() for f in fires],
        "last_run": store.schedules.last_run(schedule),
        "crontab": status,
        "cron_daemon_running": daemon.running,
        "credentials": _credentials_word(ready),
        "problems": ready.problems,  # each one makes every fire fail
        "warnings": ready.warnings,
        "line": line,
        "config": schedule.config_path or "(not pinned: cron's default)",
        "log": str(log_path(schedule.id, store.path)),
    }
