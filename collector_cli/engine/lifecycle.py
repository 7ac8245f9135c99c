"""Starting, queueing and resuming runs: everything around one execution of the pipeline.

``start_new`` and ``resume`` are the engine's entry points for `collector run`, `collector
resume` and a scheduled fire alike; each receives a run already resolved (engine/resolve.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from collector_cli.engine.events import Reporter, RunSummary
from collector_cli.engine.liveness import reap_stale_runs, this_process
from collector_cli.engine.resolve import ResolvedRun
from collector_cli.engine.runner import RunEngine
from collector_cli.engine.signals import StopSignals
from collector_cli.errors import CollectorError, ExitCode, RunActiveError, UsageError
from collector_cli.models import Preset
from collector_cli.store.db import Store
from collector_cli.store.runs import describe

WAIT_POLL_S = 0.5


class StoppedWhileWaiting(CollectorError):
    exit_code = ExitCode.CANCELLED


def start_new(
    store: Store,
    run: ResolvedRun,
    reporter: Reporter,
    *,
    wait: bool = False,
    wait_timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> RunSummary:
    """Create a run and execute it. Without ``wait`` a busy store raises RunActiveError; with
    it the run is recorded as 'waiting' (visible in status and history) until its turn. The
    run is resolved before it waits, so a queued run starts with what was checked."""
    process = this_process()
    with StopSignals() as signals:
        run_id = _create(store, run, wait, process)
        if wait:
            _wait_turn(store, run_id, wait_timeout, on_wait, signals)
        store.events.add(run_id, "info", "run_started", f"run {run_id} started for {run.name}")
        return _execute(store, run_id, run, reporter, signals)


def _create(store: Store, run: ResolvedRun, wait: bool, process: tuple[int, float, str]) -> int:
    pid, pid_started, host = process
    try:
        run_id = store.runs.create(
            preset_name=run.name,
            snapshot=run.snapshot(),
            categories=list(run.categories),
            pid=pid,
            pid_started_at=pid_started,
            hostname=host,
            trigger=run.trigger,
            status="waiting" if wait else "running",
        )
    except RunActiveError as exc:
        raise RunActiveError(
            f"{exc} (use --wait to run after it, or `collector stop` to end it)",
            exc.active_run_id,
        ) from None
    return run_id


def stored_preset(store: Store, run_id: int) -> Preset:
    """The preset a run was started with (its ``runs.preset`` snapshot): what a resume
    resolves, whatever the named preset has become since."""
    return Preset.from_dict(json.loads(store.runs.get(run_id)["preset"]))


def resume(
    store: Store,
    run_id: int,
    resolved: ResolvedRun,
    reporter: Reporter,
    *,
    retry_failed: bool = False,
) -> RunSummary:
    """Continue a run from its checkpoints, keeping its id and epoch. ``resolved`` comes from
    the run's snapshot (``stored_preset``)."""
    run = store.runs.get(run_id)
    failures = run["products_failed"] + run["categories_failed"]
    if run["status"] == "completed" and not (retry_failed and failures):
        hint = "" if retry_failed else f" (with {failures} failures: use --retry-failed)"
        raise UsageError(
            f"run {run_id} is completed: there is nothing left to resume{hint if failures else ''}"
        )
    if run["status"] in ("running", "waiting"):
        raise RunActiveError(f"{describe(run)} is {run['status']}: it cannot be resumed", run_id)
    pid, pid_started, host = this_process()
    with StopSignals() as signals:
        store.runs.begin_attempt(
            run_id, pid=pid, pid_started_at=pid_started, hostname=host, retry_failed=retry_failed
        )
        return _execute(store, run_id, resolved, reporter, signals)


def _execute(
    store: Store, run_id: int, run: ResolvedRun, reporter: Reporter, signals: StopSignals
) -> RunSummary:
    engine = RunEngine(store, run_id, run, reporter)
    return asyncio.run(engine.main(signals))


def _wait_turn(
    store: Store,
    run_id: int,
    timeout: float | None,
    on_wait: Callable[[str], None] | None,
    signals: StopSignals,
) -> None:
    """Poll until this waiting run is first in line and the running slot is free."""
    deadline = None if timeout is None else time.monotonic() + timeout
    announced: int | None = None
    while True:
        if signals.reason is not None:
            store.runs.abandon(run_id, "cancelled", "cancelled while waiting")
            raise StoppedWhileWaiting(f"run {run_id} was cancelled while waiting")
        reap_stale_runs(store)
        if store.runs.stop_requested(run_id):
            store.runs.abandon(run_id, "cancelled", "stopped while waiting")
            raise StoppedWhileWaiting(f"run {run_id} was stopped while waiting")
        if store.runs.promote(run_id):
            return
        active = store.runs.active()
        if on_wait is not None and active is not None and active["id"] != announced:
            announced = active["id"]
            on_wait(f"run {run_id} is waiting for {describe(active)} to end")
        if deadline is not None and time.monotonic() >= deadline:
            store.runs.abandon(run_id, "cancelled", f"gave up waiting after {timeout:g}s")
            label = describe(active) if active else "another run"
            raise RunActiveError(
                f"gave up after waiting {timeout:g}s: {label} is still running",
                active["id"] if active else None,
            )
        time.sleep(WAIT_POLL_S)
