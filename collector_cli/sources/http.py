"""The HTTP policy every real source shares: one client, timeouts, a rate limit, counting.

aiohttp rather than httpx: at 64 concurrent requests with 50 ms latency httpx 0.28 reached
0.07 of the ideal throughput on this machine (its pool, encode/httpx#3215), aiohttp 0.94.

Retrying is not done here: the engine retries whole source calls (with backoff, jitter and
the ``Retry-After`` this module reads), so one policy covers every source and every request is
counted once. This module only says, through ``SourceError``, whether a failure is retryable.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

from collector_cli import __version__
from collector_cli.errors import SourceError
from collector_cli.sources.usage import UsageMeter

# 408 and 429, the 5xx family, and Oxylabs' own 612/613 ("retry at no cost").
RETRYABLE_STATUSES = frozenset({408, 429, 612, 613}) | frozenset(range(500, 600))
MAX_RETRY_AFTER_S = 120.0


class RequestTimeout(SourceError):
    """The request went out but no answer came in time: the vendor may still bill it."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self, what: str) -> Any:
        """The body as JSON; a cut or garbled body is retryable (the next answer may be whole)."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise SourceError(
                f"{what}: malformed JSON in the answer ({len(self.body)} bytes)", retryable=True
            ) from None

    def text(self, limit: int = 160) -> str:
        """A short, single-line excerpt of the body for error messages."""
        text = self.body.decode("utf-8", "replace")
        return " ".join(text.split())[:limit]

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    delay = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, delay), MAX_RETRY_AFTER_S)


class HttpClient:
    """One aiohttp session per source, created inside the run's event loop."""

    def __init__(
        self,
        source: str,
        meter: UsageMeter | None,
        *,
        timeout_s: float,
        rate_per_s: float | None,
        concurrency: int,
        on_unanswered: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        # Called when a request went out but its answer never came (timeout, cancelled run):
        # a vendor that bills per job may bill it anyway, so the ledger counts it.
        self.on_unanswered = on_unanswered
        self.meter = meter if meter is not None else UsageMeter()
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(30.0, timeout_s))
        self.limiter = None
        if rate_per_s:  # bursts of at most a tenth of a second's worth (a whole second's
            # worth at start-up overshot a 400/s limit by 23 %, bench/bench_network.py)
            if rate_per_s >= 10:
                self.limiter = AsyncLimiter(rate_per_s / 10, 0.1)
            else:
                self.limiter = AsyncLimiter(1, 1 / rate_per_s)
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300),
                timeout=self.timeout,
                headers={"User-Agent": f"collector-cli/{__version__}"},
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        quota: bool = False,
        **kwargs: Any,
    ) -> HttpResponse:
        """Send one request and read the whole answer; network trouble is a retryable error.

        ``what`` names the call in error messages: it must never hold a credential, which is
        why the URL and headers are not part of any message.
        """
        if self.limiter is not None:
            await self.limiter.acquire()
        self.meter.record(self.source, requests=1, quota_calls=int(quota))
        try:
            async with self._client().request(method, url, **kwargs) as response:
                body = await response.read()
                return HttpResponse(response.status, dict(response.headers), body)
        except asyncio.CancelledError:
            if self.on_unanswered is not None:
                self.on_unanswered()
            raise
        except TimeoutError:
            if self.on_unanswered is not None:
                self.on_unanswered()
            raise RequestTimeout(
                f"{what}: no answer within {self.timeout.total:g}s", retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            raise SourceError(
                f"{what}: connection failed ({type(exc).__name__})", retryable=True
            ) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector close its sockets before the loop ends
            self._session = None


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` header value (aiohttp's BasicAuth is deprecated in 3.14)."""
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def status_error(response: HttpResponse, what: str, detail: str = "") -> SourceError:
    """The error for a non-success status: retryable ones carry the server's Retry-After."""
    status = response.status
    message = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status in RETRYABLE_STATUSES:
        return SourceError(message, retryable=True, retry_after=response.retry_after)
    return SourceError(message)
