"""A real HTTP server on 127.0.0.1 in a background thread, for the API emulators.

Each emulator is an aiohttp ``web.Application`` plus this harness: it listens on a free port,
records every request it receives (for assertions about what went over the wire) and applies
faults from a plan that tests fill in before or during a run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    """One injected failure. ``times`` requests get it (-1: every request from now on).

    ``match`` limits it to requests whose path, query or body contains the text.
    """

    kind: str
    times: int = 1
    retry_after: str | None = None
    delay: float = 0.0
    match: str | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    fault: str | None = None

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, times: int = 1, **options: Any) -> None:
        with self.lock:
            self.faults.append(Fault(kind, times, **options))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def take(self, text: str) -> Fault | None:
        """The first fault that applies to a request with this text, used up by one."""
        with self.lock:
            for fault in self.faults:
                if fault.match is not None and fault.match not in text:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                return fault
        return None


RECORDED = web.RequestKey("recorded", Recorded)


class BackgroundServer:
    """Runs ``app_factory()`` on 127.0.0.1:<free port> until ``stop()``."""

    def __init__(self, app_factory: Callable[[], web.Application]) -> None:
        self._factory = app_factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.requests: list[Recorded] = []
        self.faults = FaultPlan()
        self._log_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        app = self._factory()
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        body = await request.read()
        entry = Recorded(
            request.method,
            request.path,
            list(request.query.items()),
            dict(request.headers),
            body,
        )
        with self._log_lock:
            self.requests.append(entry)
        request[RECORDED] = entry
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            entry.status = exc.status
            raise
        entry.status = response.status
        return response

    def take_fault(self, request: web.Request) -> Fault | None:
        """The fault for this request, if any; recorded on the request's log entry."""
        entry = request[RECORDED]
        text = f"{entry.path}?{request.query_string}\n{entry.body.decode('utf-8', 'replace')}"
        fault = self.faults.take(text)
        if fault is not None:
            entry.fault = fault.kind
        return fault

    def count(self, path: str) -> int:
        with self._log_lock:
            return sum(1 for r in self.requests if r.path == path)
