"""Telling a live run from one whose process is gone (crash, SIGKILL, second Ctrl-C)."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector_cli.store.db import Store

# A run on another machine sharing the file is trusted while its heartbeat is this fresh.
REMOTE_HEARTBEAT_TIMEOUT_S = 60.0


def this_process() -> tuple[int, float, str]:
    """(pid, process start time, hostname) identifying the running collector."""
    import psutil

    proc = psutil.Process()
    return proc.pid, proc.create_time(), socket.gethostname()


def process_alive(pid: int | None, started_at: float | None) -> bool:
    """True if ``pid`` is a live collector process started at ``started_at``.

    Pids get reused: a different start time, or a process that is not collector at all,
    means the run's process is gone.
    """
    import psutil

    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_at is not None and abs(proc.create_time() - started_at) >= 1.0:
            return False
        if pid == os.getpid():
            return True  # this very process, whatever its command line (e.g. an embedding app)
        try:
            return any("collector" in part for part in proc.cmdline())
        except psutil.AccessDenied:
            return True  # same pid and start time; its command line is just not ours to read
    except psutil.Error:
        return False


def same_host(run: object) -> bool:
    return run["hostname"] == socket.gethostname()  # type: ignore[index]


def reap_stale_runs(store: Store) -> list[int]:
    """Mark running or waiting runs whose process is gone as 'interrupted'; return their ids."""
    reaped = []
    host = socket.gethostname()
    for run in store.runs.live():
        if run["hostname"] == host:
            alive = process_alive(run["pid"], run["pid_started_at"])
        else:
            beat = datetime.fromisoformat(run["heartbeat_at"] or run["started_at"])
            alive = (datetime.now(UTC) - beat).total_seconds() < REMOTE_HEARTBEAT_TIMEOUT_S
        if not alive and store.runs.mark_interrupted(
            run["id"],
            f"process {run['pid']} ended without finishing the run",
            pid=run["pid"],
            pid_started_at=run["pid_started_at"],
        ):
            reaped.append(run["id"])
    return reaped
