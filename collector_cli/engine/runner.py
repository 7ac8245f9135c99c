"""The two-stage pipeline: categories → best-seller lists → listing pages per product.

Stage one lists each category (paged) and checkpoints its products; stage two searches each
product with bounded concurrency. Finished products go to a buffer that a single writer
commits, several per transaction when they pile up, never splitting one (DESIGN §3).

The engine runs a ``ResolvedRun`` (engine/resolve.py) as given: sources, their options, the
categories and the limits were settled before the run row existed, so nothing here reads the
config file, the source registry or the taxonomy.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time

from collector_cli.engine.budget import Budget
from collector_cli.engine.events import (
    Event,
    Reporter,
    RunStats,
    RunSummary,
    outcome_exit_code,
)
from collector_cli.engine.resolve import ResolvedRun
from collector_cli.engine.signals import StopSignals
from collector_cli.engine.store_thread import StoreThread
from collector_cli.errors import CollectorError, SourceError
from collector_cli.models import Category, Listing, ListingQuery, ProductOutcome
from collector_cli.sources.usage import UsageMeter
from collector_cli.store.db import Store
from collector_cli.store.runs import PendingProduct

PRODUCTS_PER_CATEGORY_GUESS = 100
HEARTBEAT_S = 0.5  # also how often the store's stop flag is read
STOPPED_BY_COMMAND = "stopped by `collector stop`"


class RunEngine:
    """Executes one run. While it runs, every store call goes through ``self.db``, one
    thread (engine/store_thread.py)."""

    def __init__(self, store: Store, run_id: int, run: ResolvedRun, reporter: Reporter) -> None:
        self.store = store
        self.run_id = run_id
        self.run = run
        self.reporter = reporter
        self.stats = RunStats(run_id, run.name)
        self.epoch = int(store.runs.get(run_id)["epoch"])
        self._buffer: list[ProductOutcome] = []
        self._stop_reason: str | None = None
        self._stop_status = "cancelled"
        self._limit_hit = False
        self.meter = UsageMeter()
        self.budget = Budget(run.limits, self.request_stop, self.meter)
        self._tasks: set[asyncio.Task] = set()
        self._platform = run.listing.name
        self._categories = {c.id: c for c in run.categories}
        self._closing = False
        self._active_before = 0.0
        self.db = StoreThread(store, run_id, self.meter)

    # -- control -------------------------------------------------------------------------------

    def request_stop(self, reason: str, status: str = "cancelled", limit: bool = False) -> None:
        """Stop starting work and cancel what is in flight; finished products stay committed.

        Ctrl-C, SIGTERM, `collector stop`, a limit and the circuit breaker all end here.
        """
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        self._stop_status = status
        self._limit_hit = limit
        self.stats.stopping = True
        self.reporter.event(Event("stop_requested", reason), self.stats)
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro) -> asyncio.Task:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- main ----------------------------------------------------------------------------------

    async def main(self, signals: StopSignals) -> RunSummary:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            await self._refresh_stats()
            self.stats.baseline_finished = self.stats.finished
            run = await self.db.call(self.store.runs.get, self.run_id)
            self._active_before = float(run["active_seconds"])
            self.budget.start(self.stats)
            pending_categories = [
                self._categories[c]
                for c in await self.db.call(self.store.runs.pending_categories, self.run_id)
            ]
            per_category = self.run.filters.max_products or PRODUCTS_PER_CATEGORY_GUESS
            self.stats.products_expected = self.stats.products_total + per_category * len(
                pending_categories
            )
            self.reporter.start(self.stats)
            signals.listen(  # replays a stop that came before the loop existed
                lambda reason: loop.call_soon_threadsafe(self.request_stop, reason),
                self.reporter.abort,
            )
            try:
                status, reason = await self._pipeline(pending_categories)
            except CollectorError as exc:
                status, reason = "failed", str(exc)
            except Exception as exc:  # a bug or a broken store: record it, never leave 'running'
                await self._finish("failed", f"internal error ({type(exc).__name__})", started)
                raise
            return await self._finish(status, reason, started)
        finally:
            signals.listen(lambda reason: None, self.reporter.abort)  # the loop is closing
            self.db.shutdown()

    async def _pipeline(self, categories: list[Category]) -> tuple[str, str]:
        ids = self.run.category_ids
        products = self.run.product.open(self.epoch, self.meter, ids)
        try:
            listings = self.run.listing.open(self.epoch, self.meter, ids)
        except BaseException:
            await products.aclose()
            raise
        self._platform = listings.platform
        queue: asyncio.Queue[PendingProduct | None] = asyncio.Queue()
        for item in await self.db.call(self.store.runs.pending_products, self.run_id):
            queue.put_nowait(item)
        dirty = asyncio.Event()
        concurrency = max(1, self.run.concurrency)
        category_slots = asyncio.Semaphore(max(1, min(4, concurrency)))
        try:
            category_tasks = [
                self._spawn(self._list_category(products, c, queue, category_slots))
                for c in categories
            ]
            workers = [
                self._spawn(self._search_worker(listings, queue, dirty)) for _ in range(concurrency)
            ]
            if self._stop_reason is not None:  # asked to stop before the tasks existed
                for task in [*category_tasks, *workers]:
                    task.cancel()
            writer = asyncio.get_running_loop().create_task(self._writer(dirty))
            heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
            timer = asyncio.get_running_loop().create_task(self.budget.duration_limit())

            _raise_unexpected(await asyncio.gather(*category_tasks, return_exceptions=True))
            for _ in workers:
                queue.put_nowait(None)  # cancelled workers never read them; harmless
            _raise_unexpected(await asyncio.gather(*workers, return_exceptions=True))
            self._closing = True
            dirty.set()
            heartbeat.cancel()
            timer.cancel()
            await asyncio.gather(heartbeat, timer, return_exceptions=True)
            await writer  # never cancelled: a cancelled flush would drop its failure events
        finally:
            await products.aclose()
            if listings is not products:
                await listings.aclose()
        if self._stop_reason is not None:
            return self._stop_status, self._stop_reason
        s = self.stats
        if s.categories_total and s.categories_failed == s.categories_total:
            return "failed", "every category failed to list its products"
        failures = s.products_failed + s.categories_failed
        if failures:
            return "completed", f"completed with {failures} failed products/categories"
        return "completed", "all products searched"

    # -- stage one: categories -----------------------------------------------------------------

    async def _list_category(
        self,
        source,  # type: ignore[no-untyped-def]
        category: Category,
        queue: asyncio.Queue[PendingProduct | None],
        slots: asyncio.Semaphore,
    ) -> None:
        async with slots:
            self.stats.current_department = category.department_name
            self.stats.current_category = category.name
            limit = self.run.filters.max_products or 10**9
            found = []
            page = 1
            try:
                while len(found) < limit:
                    result = await self.budget.call(
                        source, lambda p=page: source.product_page(category, p)
                    )
                    found.extend(result.products)
                    if not result.has_more or not result.products:
                        break
                    page += 1
            except SourceError as exc:
                await self.db.call(self.store.runs.fail_category, self.run_id, category, str(exc))
                await self._refresh_stats()
                self.reporter.event(
                    Event("category_failed", str(exc), {"category": category.id}), self.stats
                )
                return
            found = found[:limit]
            skipped = {}
            if self.run.filters.unknown_price == "skip":
                skipped = {p.key: "price unknown" for p in found if not p.price_micros}
            pending = await self.db.write(
                self.store.runs.save_category, self.run_id, category, found, skipped
            )
        await self._refresh_stats()
        per_category = self.run.filters.max_products or PRODUCTS_PER_CATEGORY_GUESS
        self.stats.products_expected = self.stats.products_total + per_category * (
            self.stats.categories_total - self.stats.categories_done - self.stats.categories_failed
        )
        self.reporter.event(
            Event(
                "category_listed",
                f"{category.department_name} › {category.name}: {len(found)} products",
                {"category": category.id, "products": len(found), "skipped": len(skipped)},
            ),
            self.stats,
        )
        for item in pending:
            queue.put_nowait(item)

    # -- stage two: listing search -------------------------------------------------------------

    async def _search_worker(
        self,
        source,  # type: ignore[no-untyped-def]
        queue: asyncio.Queue[PendingProduct | None],
        dirty: asyncio.Event,
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            category = self._categories.get(item.category_id)
            if category is not None:
                self.stats.current_department = category.department_name
                self.stats.current_category = category.name
            outcome = await self._search_product(source, item)
            self._buffer.append(outcome)
            dirty.set()

    async def _search_product(self, source, item: PendingProduct) -> ProductOutcome:  # type: ignore[no-untyped-def]
        filters = self.run.filters
        price = item.product.price_micros
        low = round(price * filters.price_min_ratio) if price else None
        high = round(price * filters.price_max_ratio) if price else None
        seen: dict[str, Listing] = {}
        pages = 0
        try:
            for page in range(1, filters.pages + 1):
                query = ListingQuery(item.product, filters, page, low, high)
                result = await self.budget.call(source, lambda q=query: source.search(q))
                pages += 1
                for listing in result.listings:
                    seen.setdefault(listing.listing_id, listing)
                if not result.has_more:
                    break
        except SourceError as exc:
            return ProductOutcome(item.row_id, "failed", [], pages, str(exc))
        return ProductOutcome(item.row_id, "done", list(seen.values()), pages, None)

    # -- writing -------------------------------------------------------------------------------

    async def _writer(self, dirty: asyncio.Event) -> None:
        while True:
            await dirty.wait()
            dirty.clear()
            try:
                await self._flush()
            except sqlite3.Error as exc:
                # The batch stays pending in the store (resumable); searching on is pointless.
                self.request_stop(f"store error: {exc}", status="failed")
                return
            if self._closing and not self._buffer:
                return

    async def _flush(self) -> None:
        """Commit everything finished so far: several products per transaction, none split."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        await self.db.write(self.store.results.commit, self.run_id, self._platform, batch)
        await self._refresh_stats()
        for outcome in batch:
            if outcome.status == "failed":
                self.reporter.event(
                    Event("product_failed", outcome.error or "", {"row_id": outcome.row_id}),
                    self.stats,
                )
        self.reporter.event(Event("progress", "", {"committed": len(batch)}), self.stats)
        self.budget.check_counts(self.stats)

    async def _heartbeat(self) -> None:
        """Liveness for other processes, and a progress tick when nothing commits for a while."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            s = self.stats
            where = f"{s.current_department} › {s.current_category}" if s.current_category else None
            try:
                stop = await self.db.call(self.store.runs.heartbeat, self.run_id, where, s.total)
                if await self.db.flush_usage():  # requests still in flight count too
                    await self._refresh_stats()
            except sqlite3.Error:
                continue  # a busy store delays a heartbeat; the writer reports real failures
            if stop:
                self.request_stop(STOPPED_BY_COMMAND)
            self.reporter.event(Event("progress"), self.stats)

    async def _refresh_stats(self) -> None:
        self.stats.update(await self.db.call(self.store.results.counters, self.run_id))

    async def _finish(self, status: str, reason: str, started: float) -> RunSummary:
        def record() -> tuple[dict[str, int], int, int]:
            nonlocal reason
            runs = self.store.runs
            nonlocal status
            if status == "cancelled" and not self._limit_hit and runs.stop_requested(self.run_id):
                reason = STOPPED_BY_COMMAND  # the stop command also sends SIGINT; name the cause
            with self.store.transaction():
                if runs.finish(self.run_id, status, reason, time.monotonic() - started):
                    self.store.events.add(
                        self.run_id,
                        "error" if status == "failed" else "info",
                        f"run_{status}",
                        f"run {self.run_id} {status}: {reason}",
                    )
                else:  # another process marked this run while it ran: its verdict stands
                    row = runs.get(self.run_id)
                    status, reason = row["status"], row["finish_reason"] or reason
            return (
                self.store.results.counters(self.run_id),
                runs.remaining_products(self.run_id),
                len(runs.pending_categories(self.run_id)),
            )

        with contextlib.suppress(sqlite3.Error):  # the run's status matters more than the tail
            await self.db.write()
        counters, remaining_products, remaining_categories = await self.db.call(record)
        self.stats.update(counters)
        failures = counters.get("products_failed", 0) + counters.get("categories_failed", 0)
        code = outcome_exit_code(status, reason, failures)
        summary = RunSummary(
            run_id=self.run_id,
            preset=self.run.name,
            status=status,
            finish_reason=reason,
            exit_code=int(code),
            counters=counters,
            duration_s=self._active_before + self.stats.elapsed,
            attempts=int(counters.get("attempts", 1)),
            products_remaining=remaining_products,
            categories_remaining=remaining_categories,
        )
        self.reporter.finish(summary)
        return summary


def _raise_unexpected(results: list[object]) -> None:
    """gather(return_exceptions=True) hides errors; cancellations are expected, others not."""
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
