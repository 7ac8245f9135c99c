"""Three ways to show a run: Rich live view (terminal), plain lines (cron, pipes), JSON lines."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from collector_cli.engine.events import Event, RunStats, RunSummary
from collector_cli.models import format_money
from collector_cli.ui.fmt import duration, num
from collector_cli.ui.summary import summary_lines


class _RunView:
    """A renderable that reads the stats at every refresh, so it never lags the engine."""

    def __init__(self, stats: RunStats) -> None:
        self.stats = stats
        self.note = ""

    def __rich__(self) -> Group:
        s = self.stats
        total = max(s.total, 1)
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text(f"run #{s.run_id}", style="bold"),
            Text(s.preset, style="cyan"),
            ProgressBar(total=total, completed=s.finished, width=40),
            Text(f"{100 * s.finished / total:3.0f}%  {num(s.finished)}/{num(s.total)} products"),
        )
        where = Text("  ")
        if s.current_category:
            where.append(f"{s.current_department} › {s.current_category}", style="magenta")
        where.append(
            f"   categories {s.categories_done + s.categories_failed}/{s.categories_total}"
        )
        numbers = Text(
            f"  listings {num(s.listings_seen)} · sellers {num(s.sellers_found)} "
            f"({num(s.sellers_new)} new) · errors {num(s.errors)} · {_spend(s)}"
            f"{s.rate:.1f} products/s · elapsed {duration(s.elapsed)} · "
            f"ETA {duration(s.eta)}"
        )
        parts = [head, where, numbers]
        if self.note:
            parts.append(Text(f"  {self.note}", style="yellow"))
        return Group(*parts)


class LiveReporter:
    def __init__(self, err: Console, out: Console) -> None:
        self.err, self.out = err, out
        self.live: Live | None = None
        self.view: _RunView | None = None

    def start(self, stats: RunStats) -> None:
        self.view = _RunView(stats)
        self.live = Live(self.view, console=self.err, refresh_per_second=8, transient=False)
        self.live.start()

    def event(self, event: Event, stats: RunStats) -> None:
        if self.view is None:
            return
        if event.kind == "stop_requested":
            self.view.note = "Stopping: finishing commits… (Ctrl-C again quits at once)"
        elif event.kind in ("product_failed", "category_failed") and self.live:
            self.live.console.print(f"[red]✗[/] {event.message}", highlight=False)

    def finish(self, summary: RunSummary) -> None:
        if self.live:
            self.live.stop()
        style = {"completed": "green", "cancelled": "yellow"}.get(summary.status, "red")
        lines = summary_lines(summary)
        self.out.print(Text(lines[0], style=f"bold {style}"))
        for line in lines[1:]:
            self.out.print(line, highlight=False)

    def abort(self) -> None:
        if self.live:
            self.live.stop()


class PlainReporter:
    """Timestamped progress lines on stderr every few seconds: readable in cron mail and logs."""

    def __init__(self, err: TextIO | None = None, out: TextIO | None = None, every: float = 5.0):
        self.err = err or sys.stderr
        self.out = out or sys.stdout
        self.every = every
        self._last = 0.0

    def _line(self, text: str) -> None:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {text}", file=self.err, flush=True)

    def start(self, stats: RunStats) -> None:
        self._last = time.monotonic()
        self._line(
            f"run #{stats.run_id} ({stats.preset}) started: {stats.categories_total} categories"
        )

    def event(self, event: Event, stats: RunStats) -> None:
        if event.kind in ("stop_requested", "product_failed", "category_failed"):
            self._line(f"{event.kind.replace('_', ' ')}: {event.message}")
        now = time.monotonic()
        if event.kind == "progress" and now - self._last >= self.every:
            self._last = now
            self._line(
                f"{num(stats.finished)}/{num(stats.total)} products · listings "
                f"{num(stats.listings_seen)} · sellers {num(stats.sellers_found)} "
                f"({num(stats.sellers_new)} new) · errors {stats.errors} · {_spend(stats)}"
                f"{stats.rate:.1f}/s · ETA {duration(stats.eta)}"
            )

    def finish(self, summary: RunSummary) -> None:
        lines = summary_lines(summary)
        self._line(lines[0])
        try:
            for line in lines:
                print(line, file=self.out, flush=True)
        except BrokenPipeError:
            _mute_stdout()

    def abort(self) -> None:
        pass


def _mute_stdout() -> None:
    """The reader of stdout went away (`| head`): drop further output, keep the run going.

    The run's results are in the store, so losing a pipe reader is no reason to lose work.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class JsonReporter:
    """JSON-lines events on stdout; progress events at most every ``every`` seconds."""

    def __init__(self, out: TextIO | None = None, every: float = 0.5) -> None:
        self.out = out or sys.stdout
        self.every = every
        self._last = 0.0
        self.closed = False

    def _emit(self, kind: str, payload: dict) -> None:
        record = {"type": kind, "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        record.update(payload)
        if self.closed:
            return
        try:
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.out.flush()
        except BrokenPipeError:
            self.closed = True
            _mute_stdout()

    def start(self, stats: RunStats) -> None:
        self._emit("run_started", stats.to_dict())

    def event(self, event: Event, stats: RunStats) -> None:
        if event.kind == "progress":
            now = time.monotonic()
            if now - self._last < self.every:
                return
            self._last = now
        self._emit(event.kind, {"message": event.message, **event.data, "stats": stats.to_dict()})

    def finish(self, summary: RunSummary) -> None:
        self._emit("run_finished", summary.to_dict())

    def abort(self) -> None:
        pass


def _spend(stats: RunStats) -> str:
    """Retries and money, shown once there are any (the sample marketplace is free)."""
    bits = []
    if stats.retries:
        bits.append(f"retries {num(stats.retries)}")
    if stats.cost_micros:
        bits.append(f"cost {format_money(stats.cost_micros)}")
    return "".join(f"{bit} · " for bit in bits)
