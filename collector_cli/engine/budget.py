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
from collector_cli.models import format_money
from collector_cli.sources.usage import UsageMeter


class StopFn(Protocol):
    def __call__(self, reason: str, status: str = ..., limit: bool = ...) -> None: ...


class Budget:
    """Counts this attempt's requests, money, errors and new sellers against its limits."""

    def __init__(self, limits: RunLimits, stop: StopFn, meter: UsageMeter) -> None:
        self.limits = limits
        self.stop = stop
        self.meter = meter
        self.requests = 0
        self.consecutive_failures: dict[str, int] = {}
        self.errors_before = 0
        self.new_before = 0

    def start(self, stats: RunStats) -> None:
        """Limits count per attempt: remember where this attempt begins."""
        self.errors_before = stats.errors
        self.new_before = stats.sellers_new

    async def call(self, source: Any, fn: Callable[[], Any]) -> Any:
        """One source call with retries, under the request and cost limits and the breaker.

        The most the call can cost is reserved before it is sent, so concurrent calls can
        never overshoot ``--max-cost`` together.
        """
        source_name = source.name
        cost = int(getattr(source, "call_cost_micros", 0))

        async def attempt() -> Any:
            limit = self.limits.max_requests
            if limit is not None and self.requests >= limit:
                self.stop(f"limit reached: {limit} requests", limit=True)
                raise asyncio.CancelledError
            max_cost = self.limits.max_cost_micros
            if max_cost is not None and cost:
                committed = self.meter.cost_micros + self.meter.reserved_micros
                if committed + cost > max_cost:
                    self.stop(
                        f"limit reached: {format_money(max_cost)} cost"
                        f" ({format_money(self.meter.cost_micros)} spent)",
                        limit=True,
                    )
                    raise asyncio.CancelledError
            self.requests += 1
            self.meter.reserved_micros += cost
            try:
                result = await fn()
            except SourceError as exc:
                self.meter.record(source_name, failures=1)
                if exc.fatal:  # credentials rejected, quota used up: every call would fail
                    self.stop(str(exc), status="failed")
                    raise asyncio.CancelledError from exc
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
            finally:
                self.meter.reserved_micros -= cost
            self.consecutive_failures[source_name] = 0
            return result

        return await retry.call(attempt, lambda: self.meter.record(source_name, retries=1))

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
