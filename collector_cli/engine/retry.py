"""Retrying one source call: exponential backoff with jitter, only for retryable errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from collector_cli.errors import SourceError

T = TypeVar("T")


@dataclass(slots=True)
class RequestCount:
    requests: int = 0
    retries: int = 0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SourceError) and exc.retryable


async def call(
    fn: Callable[[], Awaitable[T]],
    count: RequestCount,
    *,
    attempts: int = 4,
    initial: float = 0.2,
    maximum: float = 5.0,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs or attempts run out.

    Every attempt is counted as a request; every attempt after the first as a retry.
    """
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=initial, jitter=initial, max=maximum),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            count.requests += 1
            if attempt.retry_state.attempt_number > 1:
                count.retries += 1
            return await fn()
    raise AssertionError("unreachable: tenacity reraises the last error")
