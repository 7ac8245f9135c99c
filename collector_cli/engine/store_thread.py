"""The one thread through which a run talks to the store, and the usage it writes with it.

Every store call of a run goes through one thread, one at a time and in order: the event loop
(and so Ctrl-C) stays responsive while SQLite waits for a lock or syncs a commit, and the
connection is used by one thread at a time.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from collector_cli.sources.usage import UsageMeter
from collector_cli.store.db import Store

T = TypeVar("T")


class StoreThread:
    def __init__(self, store: Store, run_id: int, meter: UsageMeter) -> None:
        self.store = store
        self.run_id = run_id
        self.meter = meter
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="collector-db")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call on the thread. A caller cancelled while it waits does not cancel
        the call: a queued or started commit always finishes whole (the durability contract),
        and the cancellation is passed on afterwards."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(future)
            except asyncio.CancelledError:
                if future.done():
                    raise
                cancelled = True
                continue
            if cancelled:
                raise asyncio.CancelledError
            return result

    async def write(self, fn: Callable[..., T] | None = None, *args: Any) -> T | None:
        """Run a store write (or none) and add the sources' usage so far in the same
        transaction, so the requests behind committed work are never lost, however the
        process ends. A write that fails is rolled back and its usage counted with the next."""
        delta = self.meter.take_delta()
        if fn is None and not delta:
            return None
        usage = {name: u.to_dict() for name, u in delta.items()}

        def write() -> T | None:
            with self.store.transaction():
                result = fn(*args) if fn is not None else None
                self.store.results.add_usage(self.run_id, usage)
            return result

        try:
            return await self.call(write)
        except sqlite3.Error:
            self.meter.untake(delta)
            raise

    async def flush_usage(self) -> bool:
        """Write the usage that grew since the last write, if any; True if it wrote."""
        if not self.meter.has_delta():
            return False
        await self.write()
        return True

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
