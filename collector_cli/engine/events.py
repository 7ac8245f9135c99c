"""Typed events the engine emits, and the live statistics reporters read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class RunStats:
    """Live numbers of one run; refreshed from the store after each commit."""

    run_id: int
    preset: str
    started: float = field(default_factory=time.monotonic)
    categories_total: int = 0
    categories_done: int = 0
    categories_failed: int = 0
    products_expected: int = 0
    products_total: int = 0
    products_done: int = 0
    products_failed: int = 0
    products_skipped: int = 0
    listings_seen: int = 0
    sellers_found: int = 0
    sellers_new: int = 0
    errors: int = 0
    requests: int = 0
    retries: int = 0
    request_failures: int = 0
    billed_results: int = 0
    cost_micros: int = 0
    quota_calls: int = 0
    current_department: str = ""
    current_category: str = ""
    stopping: bool = False
    baseline_finished: int = 0  # products finished before this attempt (resume)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def finished(self) -> int:
        return self.products_done + self.products_failed + self.products_skipped

    @property
    def total(self) -> int:
        """Products known so far, or the estimate while categories are still being listed."""
        return max(self.products_expected, self.products_total, self.finished)

    @property
    def rate(self) -> float:
        """Products per second during this attempt."""
        elapsed = self.elapsed
        done = self.finished - self.baseline_finished
        return done / elapsed if elapsed > 0 and done > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if rate <= 0:
            return None
        return max(0.0, (self.total - self.finished) / rate)

    def update(self, counters: dict[str, int]) -> None:
        for key, value in counters.items():
            if hasattr(self, key):
                setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "preset": self.preset,
            "categories_total": self.categories_total,
            "categories_done": self.categories_done,
            "categories_failed": self.categories_failed,
            "products_total": self.total,
            "products_done": self.products_done,
            "products_failed": self.products_failed,
            "products_skipped": self.products_skipped,
            "listings_seen": self.listings_seen,
            "sellers_found": self.sellers_found,
            "sellers_new": self.sellers_new,
            "errors": self.errors,
            "requests": self.requests,
            "retries": self.retries,
            "request_failures": self.request_failures,
            "cost_micros": self.cost_micros,
            "elapsed_s": round(self.elapsed, 3),
            "rate_products_s": round(self.rate, 3),
            "eta_s": None if self.eta is None else round(self.eta, 1),
            "category": self.current_category,
        }


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    preset: str
    status: str
    finish_reason: str
    exit_code: int
    counters: dict[str, int]
    duration_s: float
    products_remaining: int
    categories_remaining: int
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "preset": self.preset,
            "status": self.status,
            "finish_reason": self.finish_reason,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "attempts": self.attempts,
            "products_remaining": self.products_remaining,
            "categories_remaining": self.categories_remaining,
            **self.counters,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened. ``kind`` is stable and is the JSON event's type."""

    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Reporter(Protocol):
    def start(self, stats: RunStats) -> None: ...

    def event(self, event: Event, stats: RunStats) -> None: ...

    def finish(self, summary: RunSummary) -> None: ...

    def abort(self) -> None:
        """The process is about to exit at once (second Ctrl-C): restore the terminal."""
        ...


def outcome_exit_code(status: str, reason: str | None, failures: int) -> int:
    """The process exit code that reports a run's outcome (README, `--help`)."""
    from collector_cli.errors import ExitCode

    if status == "completed":
        return int(ExitCode.PARTIAL if failures else ExitCode.OK)
    if status == "cancelled" and (reason or "").startswith("limit reached"):
        return int(ExitCode.LIMIT)
    if status == "cancelled":
        return int(ExitCode.CANCELLED)
    return int(ExitCode.ERROR)
