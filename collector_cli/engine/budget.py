"""Enforcing one attempt's limits and the circuit breaker, apart from the pipeline itself.

Every way a limit ends a run goes through the ``stop`` callback the engine hands in, which is
the same clean-stop path as Ctrl-C.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from collector_cli.engine import retry
from collector_cli.engine.events import RunStats
from collector_cli.engine.limits import RunLimits, format_duration
from collector_cli.errors import SourceError


class StopFn(Protocol):
    def __call__(self, reason: str, status: str = ..., limit: bool = ...) -> None: ...


class Budget:
    """Counts this attempt's requests, errors and new sellers against its limits."""

    def __init__(self, limits: RunLimits, stop: StopFn) -> None:
        self.limits = limits
        self.stop = stop
        self.requests = 0
        self.consecutive_failures: dict[str, int] = {}
        self.errors_before = 0
        self.new_before = 0

    def start(self, stats: RunStats) -> None:
        """Limits count per attempt: remember where this attempt begins."""
        self.errors_before = stats.errors
        self.new_before = stats.sellers_new

    async def call(self, source_name: str, fn: Callable[[], Any], count: retry.RequestCount) -> Any:
        """One source call with retries, under the request limit and the circuit breaker."""

        async def attempt() -> Any:
            limit = self.limits.max_requests
            if limit is not None and self.requests >= limit:
                self.stop(f"limit reached: {limit} requests", limit=True)
                raise asyncio.CancelledError
            self.requests += 1
            try:
                result = await fn()
            except SourceError as exc:
                if not exc.retryable:  # one bad product says nothing about the source
                    raise
                failures = self.consecutive_failures.get(source_name, 0) + 1
                self.consecutive_failures[source_name] = failures
                if failures >= self.limits.breaker:
                    self.stop(
                        f"circuit breaker: {failures} consecutive failures of source"
                        f" {source_name} (last: {exc})",
                        status="failed",
                    )
                    raise asyncio.CancelledError from exc
                raise
            self.consecutive_failures[source_name] = 0
            return result

        return await retry.call(attempt, count)

    async def duration_limit(self) -> None:
        limit = self.limits.max_duration_s
        if limit is None:
            return
        await asyncio.sleep(limit)
        self.stop(f"limit reached: {format_duration(limit)} running", limit=True)

    def check_counts(self, stats: RunStats) -> None:
        """Checked after each commit, so a limit can be passed by what one commit brought."""
        limits = self.limits
        errors = stats.errors - self.errors_before
        new = stats.sellers_new - self.new_before
        if limits.max_errors is not None and errors >= limits.max_errors:
            self.stop(
                f"limit reached: {limits.max_errors} errors ({errors} this attempt)", limit=True
            )
        elif limits.max_new_sellers is not None and new >= limits.max_new_sellers:
            self.stop(
                f"limit reached: {limits.max_new_sellers} new sellers ({new} this attempt)",
                limit=True,
            )
