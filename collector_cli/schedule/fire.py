"""What happens when a schedule fires: from cron (`run --schedule ID`), by hand
(`schedule run ID`) or at catch-up.

Each invocation stands for the newest fire time at or before now. Claiming that fire is one
conditional UPDATE, so duplicate lines or overlapping invocations run it once; a fire missed
while the machine was off runs once on the next invocation if it is within the grace window,
however many were missed. If another run is active the scheduled run waits for it (visible as
`waiting`) up to the schedule's wait limit.

A fire starts its run exactly as `collector run --preset` does: the schedule's preset is
resolved by ``engine.resolve.resolve`` (same source, option and credential checks, before any
run row exists) and handed to ``engine.lifecycle.start_new``. The preset is read only once the
fire is claimed, since a coalesced or skipped fire runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collector_cli.engine.events import Reporter, RunSummary
from collector_cli.errors import CollectorError, ExitCode
from collector_cli.schedule import cron, notify
from collector_cli.store.db import Store
from collector_cli.store.schedules import Schedule


@dataclass(frozen=True, slots=True)
class FireResult:
    exit_code: int
    message: str
    summary: RunSummary | None = None


def notify_key(db_path: Path, schedule_id: int) -> str:
    """Where a schedule's notification URLs live in the config file: ``[notify]`` key."""
    from collector_cli.schedule.crontab import store_key

    return f"{store_key(db_path)}-{schedule_id}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def due_fire(schedule: Schedule, now: datetime) -> datetime | None:
    """The newest fire time not handled yet, or None when there is none."""
    latest = cron.latest_fire(schedule.cron, schedule.timezone, now)
    if schedule.last_fire_at is not None and iso(latest) <= schedule.last_fire_at:
        return None
    return latest


def fire(
    store: Store,
    schedule_id: int,
    reporter: Reporter,
    summarize: Callable[[RunSummary], str],
    *,
    manual: bool = False,
    now: datetime | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> FireResult:
    schedule = store.schedules.get_or_none(schedule_id)
    if schedule is None:
        message = (f"schedule {schedule_id} fired but no longer exists; `collector schedule sync`"
                   " removes its crontab line")  # fmt: skip
        store.events.add(None, "warning", "schedule_missing", message,
                         {"schedule_id": schedule_id})  # fmt: skip
        return FireResult(0, message)
    if not schedule.enabled and not manual:
        message = f"schedule {schedule.id} ({schedule.name}) fired while disabled: not run"
        store.events.add(None, "info", "schedule_disabled", message, {"schedule_id": schedule.id})
        return FireResult(0, message)
    if not manual:
        moment = now or datetime.now(UTC)
        due = due_fire(schedule, moment)
        if due is None:
            return FireResult(0, "")  # not a fire time (every-minute line, other time zone)
        if not store.schedules.claim_fire(schedule.id, iso(due)):
            return FireResult(0, "")  # another invocation took this fire
        running = store.schedules.active_run(schedule.id)
        if running is not None:  # its previous fire still runs or waits: one queue entry only
            message = (f"schedule {schedule.id} ({schedule.name}): fire at {iso(due)} joined"
                       f" run {running}, which is still active")  # fmt: skip
            store.events.add(None, "info", "schedule_coalesced", message,
                             {"schedule_id": schedule.id, "run_id": running,
                              "fire_at": iso(due)})  # fmt: skip
            return FireResult(0, message)
        late = (moment - due).total_seconds()
        if late > schedule.grace_seconds:
            message = (f"schedule {schedule.id} ({schedule.name}): fire at {iso(due)} missed by"
                       f" {cron.human_duration(late)}, beyond the"
                       f" {cron.human_duration(schedule.grace_seconds)} grace window:"
                       " skipped")  # fmt: skip
            store.events.add(None, "warning", "schedule_missed", message,
                             {"schedule_id": schedule.id, "fire_at": iso(due),
                              "late_seconds": round(late),
                              "grace_seconds": schedule.grace_seconds})  # fmt: skip
            return FireResult(0, message)
    return _run(store, schedule, reporter, summarize, on_wait)


def catch_up(
    store: Store,
    reporter_for: Callable[[], Reporter],
    summarize: Callable[[RunSummary], str],
    now: datetime | None = None,
) -> list[tuple[Schedule, FireResult]]:
    """Run each enabled schedule whose newest fire was missed (once each, within grace)."""
    moment = now or datetime.now(UTC)
    results = []
    for schedule in store.schedules.list():
        if schedule.enabled and due_fire(schedule, moment) is not None:
            try:
                result = fire(store, schedule.id, reporter_for(), summarize, now=moment)
            except CollectorError as exc:  # one broken schedule must not stop the others
                result = FireResult(int(exc.exit_code), f"schedule {schedule.id}: {exc}")
            results.append((schedule, result))
    return results


def _run(
    store: Store,
    schedule: Schedule,
    reporter: Reporter,
    summarize: Callable[[RunSummary], str],
    on_wait: Callable[[str], None] | None,
) -> FireResult:
    from collector_cli.engine import lifecycle
    from collector_cli.engine.resolve import resolve

    title = f"collector: schedule {schedule.name}"
    try:
        preset = store.presets.get(schedule.preset_name)
        resolved = resolve(preset, trigger=f"schedule:{schedule.id}")
        summary = lifecycle.start_new(
            store, resolved, reporter, wait=True,
            wait_timeout=float(schedule.wait_seconds), on_wait=on_wait,
        )  # fmt: skip
    except CollectorError as exc:
        store.events.add(None, "error", "schedule_failed",
                         f"schedule {schedule.id} ({schedule.name}): {exc}",
                         {"schedule_id": schedule.id})  # fmt: skip
        _notify(store, schedule, None, f"{title}: could not run", str(exc),
                notify.Outcome.FAILURE)  # fmt: skip
        raise
    store.schedules.set_last_run(schedule.id, summary.run_id)
    _notify(store, schedule, summary.run_id, f"{title}: run #{summary.run_id} {_said(summary)}",
            summarize(summary), notify.Outcome.of(summary.exit_code))  # fmt: skip
    return FireResult(summary.exit_code, "", summary)


def _said(summary: RunSummary) -> str:
    """The outcome in a notification's title: words for what the exit code means."""
    if summary.exit_code == ExitCode.PARTIAL:
        return "completed with failures"
    if summary.exit_code == ExitCode.LIMIT:
        return "stopped by a limit"
    return summary.status


def _notify(
    store: Store,
    schedule: Schedule,
    run_id: int | None,
    title: str,
    body: str,
    outcome: notify.Outcome,
) -> None:
    if not schedule.notify:
        return
    from collector_cli import config

    try:
        urls = config.notify_urls(notify_key(store.path, schedule.id))
    except CollectorError as exc:
        urls, problem = None, str(exc)
    else:
        problem = f"no notify URLs for it in {config.config_path()}"
    if not urls:
        message = f"schedule {schedule.id}: {problem}"
        store.events.add(run_id, "warning", "notify_failed", message,
                         {"schedule_id": schedule.id, "reason": problem})  # fmt: skip
        return
    for failure in notify.send(urls, title, body, outcome):
        store.events.add(run_id, "warning", "notify_failed", failure.message,
                         {"schedule_id": schedule.id, "url": failure.masked,
                          "reason": failure.reason})  # fmt: skip
