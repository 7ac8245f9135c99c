"""Showing a run from its store row: `watch` (the same live view as `run`) and `status`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live

from collector_cli.engine.events import RunStats, RunSummary, outcome_exit_code
from collector_cli.ui.fmt import duration, local_time, num
from collector_cli.ui.reporters import _RunView
from collector_cli.ui.summary import summary_lines

Row = Mapping[str, Any]
COUNTERS = (
    "categories_total",
    "categories_done",
    "categories_failed",
    "products_total",
    "products_done",
    "products_failed",
    "products_skipped",
    "requests",
    "retries",
    "request_failures",
    "billed_results",
    "cost_micros",
    "quota_calls",
    "listings_seen",
    "sellers_found",
    "sellers_new",
    "errors",
)


def active_seconds(run: Row) -> float:
    """Time spent running over all attempts, including the current one."""
    total = float(run["active_seconds"])
    if run["status"] == "running":
        since = datetime.fromisoformat(run["attempt_started_at"])
        total += (datetime.now(UTC) - since).total_seconds()
    return total


def run_dict(run: Row) -> dict[str, Any]:
    """The JSON shape of a run, shared by `history`, `status` and `stop`."""
    data = {
        "id": run["id"],
        "preset": run["preset_name"],
        "status": run["status"],
        "finish_reason": run["finish_reason"],
        "trigger": run["trigger"],
        "attempts": run["attempts"],
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
        "duration_s": round(active_seconds(run), 3),
        "pid": run["pid"],
        "current_category": run["current_category"],
    }
    data.update({key: run[key] for key in COUNTERS})
    data["cost_usd"] = round(run["cost_micros"] / 1_000_000, 6)
    return data


def stats_from_row(run: Row, stats: RunStats | None = None) -> RunStats:
    stats = stats or RunStats(run["id"], run["preset_name"])
    stats.update({key: run[key] for key in COUNTERS})
    stats.products_expected = run["products_expected"]
    stats.started = time.monotonic() - active_seconds(run)
    where = run["current_category"] or ""
    stats.current_department, _, stats.current_category = where.rpartition(" › ")
    stats.stopping = bool(run["stop_requested_at"])
    return stats


def summary_from_row(run: Row, remaining_products: int, remaining_categories: int) -> RunSummary:
    failures = run["products_failed"] + run["categories_failed"]
    return RunSummary(
        run_id=run["id"],
        preset=run["preset_name"],
        status=run["status"],
        finish_reason=run["finish_reason"] or "",
        exit_code=outcome_exit_code(run["status"], run["finish_reason"], failures),
        counters={key: run[key] for key in COUNTERS},
        duration_s=active_seconds(run),
        attempts=run["attempts"],
        products_remaining=remaining_products,
        categories_remaining=remaining_categories,
    )


def watch(
    fetch: Callable[[], Row], err: Console, *, refresh_s: float = 0.5, live: bool = True
) -> Row:
    """Follow a run until it is no longer running or waiting; returns its last row.

    Raises KeyboardInterrupt when the user detaches; the run itself is not touched.
    """
    run = fetch()
    stats = stats_from_row(run)
    view = _RunView(stats)
    display = Live(view, console=err, refresh_per_second=4, transient=False) if live else None
    if display:
        display.start()
    last_line = 0.0
    try:
        while run["status"] in ("running", "waiting"):
            view.note = "waiting for its turn…" if run["status"] == "waiting" else ""
            if stats.stopping:
                view.note = "stop requested…"
            if not display and time.monotonic() - last_line >= 5:
                last_line = time.monotonic()
                stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
                err.print(
                    f"{stamp} run #{run['id']} {run['status']}: {num(stats.finished)}/"
                    f"{num(stats.total)} products · listings {num(stats.listings_seen)} · "
                    f"sellers {num(stats.sellers_found)} ({num(stats.sellers_new)} new)",
                    highlight=False,
                )
            time.sleep(refresh_s)
            run = fetch()
            stats_from_row(run, stats)
    finally:
        if display:
            display.stop()
    return run


def status_lines(
    active: Row | None, waiting: list[Row], latest: Row | None, now: datetime | None = None
) -> list[str]:
    now = now or datetime.now(UTC)
    lines = []
    if active is None:
        lines.append("No run is active.")
    else:
        s = stats_from_row(active)
        beat = (now - datetime.fromisoformat(active["heartbeat_at"])).total_seconds()
        lines.append(
            f"Active: run #{active['id']} ({active['preset_name']}) running since "
            f"{local_time(active['attempt_started_at'])}, attempt {active['attempts']}, "
            f"pid {active['pid']}, heartbeat {beat:.1f}s ago"
        )
        if active["current_category"]:
            lines.append(f"  now at      {active['current_category']}")
        lines.append(
            f"  products    {num(s.finished)}/{num(s.total)} ({num(s.products_failed)} failed)"
            f" · {s.rate:.1f}/s · ETA {duration(s.eta)}"
        )
        lines.append(
            f"  listings    {num(s.listings_seen)} · sellers {num(s.sellers_found)} "
            f"({num(s.sellers_new)} new) · errors {num(s.errors)} · requests {num(s.requests)}"
        )
        if active["stop_requested_at"]:
            lines.append(f"  stop requested at {local_time(active['stop_requested_at'])}")
    for run in waiting:
        lines.append(
            f"Waiting: run #{run['id']} ({run['preset_name']}) since "
            f"{local_time(run['started_at'])}, pid {run['pid']}"
        )
    if latest is not None:
        lines.append(
            f"Last finished: run #{latest['id']} ({latest['preset_name']}) {latest['status']} "
            f"{local_time(latest['finished_at'])}: {latest['finish_reason'] or ''} · "
            f"{num(latest['products_done'])} products, {num(latest['sellers_found'])} sellers "
            f"({num(latest['sellers_new'])} new)"
        )
    return lines


def print_summary(out: Console, summary: RunSummary) -> None:
    for line in summary_lines(summary):
        out.print(line, highlight=False)
