"""`collector stop | watch | status`: control and observe a run from any terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from typing import Annotated, Any

import typer

from collector_cli.cli.common import err, out, print_json, state
from collector_cli.errors import CollectorError, NothingRunningError, UsageError
from collector_cli.store.db import Store

LIVE = ("running", "waiting")
RunArg = Annotated[
    int | None,
    typer.Argument(
        metavar="[RUN]",
        min=1,
        max=2**63 - 1,  # SQLite's largest integer
        help="Run id (default: the active run).",
        show_default=False,
    ),
]


def _target(store: Store, run_id: int | None) -> sqlite3.Row:
    if run_id is None:
        run = store.runs.active() or next(iter(store.runs.waiting()), None)
        if run is None:
            raise NothingRunningError("no run is active")
        return run
    return store.runs.get(run_id)


def _run_json(store: Store, run: sqlite3.Row) -> dict[str, Any]:
    from collector_cli.ui.runs import run_dict

    return run_dict(run) | {"products_remaining": store.runs.remaining_products(run["id"])}


def stop(
    ctx: typer.Context,
    run_id: RunArg = None,
    force: Annotated[
        bool, typer.Option("--force", help="Kill the run if it has not stopped in time.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stop a run cleanly, from any terminal: the same as Ctrl-C in the run's own terminal.

    Sets the run's stop flag in the store (seen within half a second) and sends SIGINT to its
    process when it runs on this machine; waits for the final status and prints it.
    """
    from collector_cli.engine.liveness import process_alive, reap_stale_runs, same_host

    if timeout <= 0:
        raise UsageError(f"invalid --timeout {timeout:g}: use a positive number of seconds")
    store = state(ctx).store()
    run = _target(store, run_id)
    if run["status"] not in LIVE:
        raise NothingRunningError(f"run {run['id']} is not active (it is {run['status']})")
    first_request = store.runs.request_stop(run["id"])
    local = same_host(run)
    # SIGINT only once: a second one is the run's "second Ctrl-C" and would end it at once.
    if first_request and local and process_alive(run["pid"], run["pid_started_at"]):
        with contextlib.suppress(OSError):  # it may have just exited
            os.kill(run["pid"], signal.SIGINT)
    if not as_json:
        err().print(f"Stopping run #{run['id']} ({run['preset_name']})…")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap_stale_runs(store)
        run = store.runs.get(run["id"])
        if run["status"] not in LIVE:
            break
        time.sleep(0.1)
    if run["status"] in LIVE:
        if not force:
            raise CollectorError(
                f"run {run['id']} is still {run['status']} after {timeout:g}s"
                " (use --force to end its process)"
            )
        if local and process_alive(run["pid"], run["pid_started_at"]):
            _kill(run["pid"])
        store.runs.mark_interrupted(
            run["id"],
            "killed by `collector stop --force`",
            pid=run["pid"],
            pid_started_at=run["pid_started_at"],
        )
        run = store.runs.get(run["id"])
    if as_json:
        print_json(_run_json(store, run))
        return
    from collector_cli.ui.runs import print_summary, summary_from_row

    print_summary(
        out(),
        summary_from_row(
            run,
            store.runs.remaining_products(run["id"]),
            len(store.runs.pending_categories(run["id"])),
        ),
    )


def _kill(pid: int) -> None:
    """SIGKILL and wait until the process is dead (a zombie waiting for its parent counts)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.kill()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.05)
    except psutil.Error:
        pass  # gone


def watch(ctx: typer.Context, run_id: RunArg = None) -> None:
    """Follow the active run (or RUN) with the same live view as `run`, from any terminal.

    Ctrl-C only detaches. When the run ends, prints its summary and exits with its outcome.
    """
    import sys

    from collector_cli.engine.liveness import reap_stale_runs
    from collector_cli.ui import runs as view

    store = state(ctx).store()
    run = _target(store, run_id)

    def fetch() -> sqlite3.Row:
        reap_stale_runs(store)
        return store.runs.get(run["id"])

    try:
        final = view.watch(fetch, err(), live=sys.stderr.isatty())
    except KeyboardInterrupt:
        err().print(f"Detached from run #{run['id']}; it goes on (`collector watch` re-attaches).")
        raise typer.Exit(0) from None
    summary = view.summary_from_row(
        final,
        store.runs.remaining_products(final["id"]),
        len(store.runs.pending_categories(final["id"])),
    )
    view.print_summary(out(), summary)
    raise typer.Exit(summary.exit_code)


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The active run's progress and rate, runs waiting for their turn, the last finished run."""
    from collector_cli.ui.runs import active_seconds, stats_from_row, status_lines

    store = state(ctx).store()
    active = store.runs.active()
    waiting = store.runs.waiting()
    latest = store.runs.latest_finished()
    if as_json:
        data: dict[str, Any] = {"active": None, "waiting": [], "last_finished": None}
        if active is not None:
            stats = stats_from_row(active)
            data["active"] = _run_json(store, active) | {
                "active_s": round(active_seconds(active), 3),
                "rate_products_s": round(stats.rate, 3),
                "eta_s": None if stats.eta is None else round(stats.eta, 1),
                "heartbeat_at": active["heartbeat_at"],
                "stop_requested_at": active["stop_requested_at"],
            }
        data["waiting"] = [_run_json(store, r) for r in waiting]
        if latest is not None:
            data["last_finished"] = _run_json(store, latest)
        data["next_scheduled"] = _next_scheduled(store)
        print_json(data)
        return
    console = out()
    for line in status_lines(active, waiting, latest):
        console.print(line, highlight=False)
    for item in _next_scheduled(store):
        console.print(
            f"next scheduled: {item['at_local']} · schedule {item['schedule_id']}"
            f" ({item['name']}) · preset {item['preset']}",
            highlight=False,
            markup=False,
        )


def _next_scheduled(store, count: int = 3) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The next fires of enabled schedules, soonest first."""
    schedules = [s for s in store.schedules.list() if s.enabled]
    if not schedules:
        return []
    from collector_cli.schedule import cron

    fires = sorted(
        ((fire, s) for s in schedules for fire in cron.next_fires(s.cron, s.timezone, 1)),
        key=lambda pair: (pair[0], pair[1].id),
    )[:count]
    return [
        {
            "schedule_id": s.id,
            "name": s.name,
            "preset": s.preset_name,
            "at_utc": fire.astimezone(cron.zone("UTC")).isoformat(),
            "at_local": f"{fire.astimezone():%Y-%m-%d %H:%M %Z}",
        }
        for fire, s in fires
    ]
