"""Retrying one source call: exponential backoff with jitter, only for retryable errors.

A server that says how long to wait (``Retry-After``, carried on the SourceError) is
obeyed when it asks for longer than the backoff would wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from collector_cli.errors import SourceError

T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SourceError) and exc.retryable


class _WaitHonouringRetryAfter:
    def __init__(self, initial: float, maximum: float) -> None:
        self.backoff = wait_exponential_jitter(multiplier=initial, jitter=initial, max=maximum)

    def __call__(self, state: RetryCallState) -> float:
        delay = self.backoff(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        return max(delay, asked) if asked is not None else delay


async def call(
    fn: Callable[[], Awaitable[T]],
    on_retry: Callable[[], None],
    *,
    attempts: int = 4,
    initial: float = 0.2,
    maximum: float = 5.0,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs or attempts run out.

    ``on_retry`` is told of every attempt after the first, so retries are counted.
    """
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_WaitHonouringRetryAfter(initial, maximum),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                on_retry()
            return await fn()
    raise AssertionError("unreachable: tenacity reraises the last error")
