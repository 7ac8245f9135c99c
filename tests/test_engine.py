"""Engine and store behaviour on a real SQLite file (DESIGN §3): dedup, counters, repeat runs,
the sample marketplace, and failed products."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sqlite3
import unicodedata
from pathlib import Path

import pytest

from collector_cli import config, taxonomy
from collector_cli.engine import lifecycle
from collector_cli.engine.events import Event, RunStats, RunSummary
from collector_cli.engine.resolve import resolve
from collector_cli.models import Filters, Listing, ListingQuery, Product, ProductOutcome
from collector_cli.presets import DEMO
from collector_cli.sources.base import SourceContext
from collector_cli.sources.sample import SampleMarketplace
from collector_cli.store.db import Store, open_store
from collector_cli.store.results import name_key

HEADPHONES = "electronics-headphones"


# -- helpers ---------------------------------------------------------------------------------------


class RecordingReporter:
    """Implements the Reporter protocol and keeps everything it was told."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.events: list[Event] = []
        self.summaries: list[RunSummary] = []
        self.aborted = 0

    def start(self, stats: RunStats) -> None:
        self.started.append(stats.run_id)

    def event(self, event: Event, stats: RunStats) -> None:
        self.events.append(event)

    def finish(self, summary: RunSummary) -> None:
        self.summaries.append(summary)

    def abort(self) -> None:
        self.aborted += 1

    def kinds(self) -> collections.Counter[str]:
        return collections.Counter(e.kind for e in self.events)


@pytest.fixture
def store(db_path: Path):
    s = open_store(db_path)
    yield s
    s.close()


def write_config(config_path: Path, **sample: object) -> None:
    """Replace the test config's [sources.sample] table (latency stays 0 unless given)."""
    values = {"latency_ms": 0, **sample}
    body = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    config_path.write_text("[sources.sample]\n" + body, encoding="utf-8")
    config.load.cache_clear()


def run_demo(store: Store, concurrency: int = 8) -> tuple[RunSummary, RecordingReporter]:
    reporter = RecordingReporter()
    summary = lifecycle.start_new(store, resolve(DEMO, concurrency=concurrency), reporter)
    return summary, reporter


def scalar(store: Store, sql: str, params: tuple = ()) -> int:
    return store.query_one(sql, params)[0]


def listing(seller: str, n: int, score: int | None = 100, percent: float | None = 99.5) -> Listing:
    return Listing(
        listing_id=f"L{n:06d}",
        title="test item",
        price_micros=10_000_000,
        condition="new",
        free_shipping=True,
        country="US",
        seller_name=seller,
        feedback_score=score,
        feedback_score_approx=False,
        feedback_percent=percent,
    )


def new_run(store: Store, products: list[Product]) -> tuple[int, list[int]]:
    """A run over one category holding ``products``; returns (run id, run_product ids)."""
    cat = taxonomy.category(HEADPHONES)
    run_id = store.runs.create(
        preset_name="hand",
        snapshot={"name": "hand"},
        categories=[cat],
        pid=os.getpid(),
        pid_started_at=0.0,
        hostname="test-host",
    )
    pending = store.runs.save_category(run_id, cat, products, {})
    by_key = {p.product.key: p.row_id for p in pending}
    return run_id, [by_key[p.key] for p in products]


def products(n: int, prefix: str = "B0TEST") -> list[Product]:
    return [Product(f"{prefix}{i:04d}", f"Product {i}", 10_000_000 + i, i) for i in range(1, n + 1)]


def assert_run_counters_match_rows(store: Store, run_id: int) -> dict:
    """Every counter of the runs row equals what its rows say."""
    run = dict(store.runs.get(run_id))

    def q(sql: str) -> int:
        return scalar(store, sql, (run_id,))

    assert run["products_total"] == q("SELECT count(*) FROM run_products WHERE run_id = ?")
    for status in ("done", "failed", "skipped"):
        assert run[f"products_{status}"] == q(
            f"SELECT count(*) FROM run_products WHERE run_id = ? AND status = '{status}'"
        ), status
    listings_done = q(
        "SELECT coalesce(sum(listings_seen), 0) FROM run_products WHERE run_id = ?"
        " AND status = 'done'"
    )
    listings_all = q("SELECT coalesce(sum(listings_seen), 0) FROM run_products WHERE run_id = ?")
    sightings = q("SELECT coalesce(sum(sightings), 0) FROM run_sellers WHERE run_id = ?")
    assert run["listings_seen"] == listings_done == listings_all == sightings
    assert run["sellers_found"] == q("SELECT count(*) FROM run_sellers WHERE run_id = ?")
    assert run["sellers_new"] == q("SELECT count(*) FROM run_sellers WHERE run_id = ? AND is_new")
    assert run["sellers_new"] == q("SELECT count(*) FROM sellers WHERE first_run_id = ?")
    assert run["errors"] == q("SELECT count(*) FROM events WHERE run_id = ? AND level = 'error'")
    assert run["categories_total"] == q("SELECT count(*) FROM run_categories WHERE run_id = ?")
    assert run["categories_done"] == q(
        "SELECT count(*) FROM run_categories WHERE run_id = ? AND status = 'done'"
    )
    assert run["categories_failed"] == q(
        "SELECT count(*) FROM run_categories WHERE run_id = ? AND status = 'failed'"
    )
    # Per product: distinct sellers can never outnumber the listings they came from.
    assert (
        q("SELECT count(*) FROM run_products WHERE run_id = ? AND sellers_seen > listings_seen")
        == 0
    )
    return run


def assert_store_wide_seller_totals(store: Store) -> None:
    bad = store.query(
        "SELECT s.id, s.name, s.sightings, s.times_seen, count(rs.run_id) AS runs,"
        " coalesce(sum(rs.sightings), 0) AS total"
        " FROM sellers s LEFT JOIN run_sellers rs ON rs.seller_id = s.id GROUP BY s.id"
        " HAVING s.sightings != total OR s.times_seen != runs"
    )
    assert [dict(r) for r in bad] == []
    assert store.integrity_check() == "ok"


# -- name_key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "Acme Store",
        "  Acme\u00a0 Store ",
        "ACME STORE",
        "acme store",
        "ａｃｍｅ store",  # fullwidth letters
        "ＡＣＭＥ\u3000ＳＴＯＲＥ",  # fullwidth letters and ideographic space
        "Acme\tStore\n",
        "acme \u2003\u2009 store",  # em space + thin space
    ],
)
def test_name_key_variants_are_equal(variant: str) -> None:
    assert name_key(variant) == "acme store"


def test_name_key_unicode_normalisation_and_casefold() -> None:
    nfc = unicodedata.normalize("NFC", "Café")
    nfd = unicodedata.normalize("NFD", "Café")
    assert nfc != nfd
    assert name_key(nfc) == name_key(nfd) == name_key(" CAFÉ ") == "café"
    assert name_key("Straße") == name_key("STRASSE") == "strasse"  # casefold, not lower
    assert name_key("ﬁne goods") == "fine goods"  # NFKC ligature
    assert name_key("   \t ") == ""
    # Different sellers stay different.
    assert name_key("Acme Store") != name_key("AcmeStore")
    assert name_key("Acme Store 1") != name_key("Acme Store 2")


# -- dedup on hand-made batches --------------------------------------------------------------------


def test_sellers_dedup_by_name_key_within_and_across_batches(store: Store) -> None:
    run_id, (p1, p2, p3, p4) = new_run(store, products(4))
    nfc_cafe = unicodedata.normalize("NFC", "Café Ñandú")
    nfd_cafe = unicodedata.normalize("NFD", "café ñandú")
    first_batch = [
        ProductOutcome(
            p1,
            "done",
            [
                listing("Acme Store", 1, score=10),
                listing("  acme   store ", 2, score=11),
                listing("ACME STORE", 3, score=12),
                listing("Zeta", 4),
            ],
            pages=1,
        ),
        ProductOutcome(
            p2,
            "done",
            [listing("ａｃｍｅ store", 5, score=13), listing("Acme\u00a0 Store", 6, score=14)],
            pages=1,
        ),
    ]
    store.results.commit(run_id, "sample", first_batch)
    second_batch = [
        ProductOutcome(
            p3,
            "done",
            [
                listing("acme store", 7, score=15),
                listing(nfc_cafe, 8),
                listing(nfd_cafe, 9),
            ],
            pages=2,
        ),
        ProductOutcome(p4, "failed", [], pages=0, error="sample: HTTP 400 boom"),
    ]
    store.results.commit(run_id, "sample", second_batch)

    sellers = {r["name_key"]: r for r in store.query("SELECT * FROM sellers")}
    assert set(sellers) == {"acme store", "zeta", "café ñandú"}
    acme = sellers["acme store"]
    assert acme["name"] == "Acme Store"  # display name is the first seen, never overwritten
    assert acme["sightings"] == 6
    assert acme["times_seen"] == 1
    assert acme["first_run_id"] == acme["last_run_id"] == run_id
    assert acme["feedback_score"] == 15  # the latest sighting's score
    assert acme["platform"] == "sample"
    assert sellers["café ñandú"]["name"] == nfc_cafe
    assert sellers["café ñandú"]["sightings"] == 2
    assert sellers["zeta"]["sightings"] == 1

    run_sellers = {
        r["seller_id"]: r
        for r in store.query("SELECT * FROM run_sellers WHERE run_id = ?", (run_id,))
    }
    assert len(run_sellers) == 3  # one row per (run, seller), whatever the batching
    assert {run_sellers[s["id"]]["sightings"] for s in sellers.values()} == {6, 1, 2}
    assert all(r["is_new"] == 1 for r in run_sellers.values())

    rows = {
        r["id"]: r for r in store.query("SELECT * FROM run_products WHERE run_id = ?", (run_id,))
    }
    assert (rows[p1]["status"], rows[p1]["listings_seen"], rows[p1]["sellers_seen"]) == (
        "done",
        4,
        2,
    )
    assert (rows[p2]["listings_seen"], rows[p2]["sellers_seen"]) == (2, 1)
    assert (rows[p3]["listings_seen"], rows[p3]["sellers_seen"], rows[p3]["pages"]) == (3, 2, 2)
    assert rows[p4]["status"] == "failed"
    assert rows[p4]["error"] == "sample: HTTP 400 boom"

    run = assert_run_counters_match_rows(store, run_id)
    assert run["listings_seen"] == 9
    assert run["sellers_found"] == 3
    assert run["sellers_new"] == 3
    assert run["products_done"] == 3
    assert run["products_failed"] == 1
    assert run["errors"] == 1
    # Requests are the usage ledger's business (run_usage), not the product commit's.
    assert (run["requests"], run["retries"]) == (0, 0)
    store.results.add_usage(run_id, {"sample": {"requests": 6, "retries": 1}})
    store.results.add_usage(run_id, {"sample": {"requests": 2, "failures": 1, "cost_micros": 5}})
    run = store.runs.get(run_id)
    assert (run["requests"], run["retries"], run["request_failures"]) == (8, 1, 1)
    assert run["cost_micros"] == 5
    assert store.results.usage(run_id) == [
        {"source": "sample", "requests": 8, "retries": 1, "failures": 1, "billed_results": 0,
         "cost_micros": 5, "quota_calls": 0}
    ]  # fmt: skip
    events = store.events.for_run(run_id, level="error")
    assert [(e["kind"], e["message"]) for e in events] == [
        ("product_failed", "sample: HTTP 400 boom")
    ]
    assert_store_wide_seller_totals(store)


def test_sellers_across_runs_keep_identity_and_count_runs(store: Store) -> None:
    run1, (a, b) = new_run(store, products(2))
    store.results.commit(
        run1,
        "sample",
        [
            ProductOutcome(a, "done", [listing("Acme Store", 1, score=100)]),
            ProductOutcome(b, "done", [listing("Old Timer", 2), listing("acme store", 3)]),
        ],
    )
    store.runs.finish(run1, "completed", "all products searched", 0.1)

    run2, (c,) = new_run(store, products(1, prefix="B0NEXT"))
    store.results.commit(
        run2,
        "sample",
        [
            ProductOutcome(
                c,
                "done",
                [
                    listing("  ACME   STORE", 4, score=120),
                    listing("Newbie", 5),
                    listing("newbie", 6),
                ],
            )
        ],
    )
    sellers = {r["name_key"]: r for r in store.query("SELECT * FROM sellers")}
    assert len(sellers) == 3
    acme = sellers["acme store"]
    assert acme["name"] == "Acme Store"
    assert acme["times_seen"] == 2
    assert acme["sightings"] == 3
    assert acme["first_run_id"] == run1
    assert acme["last_run_id"] == run2
    assert acme["feedback_score"] == 120
    assert sellers["old timer"]["last_run_id"] == run1
    assert sellers["newbie"]["first_run_id"] == run2
    assert sellers["newbie"]["name"] == "Newbie"

    is_new = {
        r["seller_id"]: r["is_new"]
        for r in store.query("SELECT * FROM run_sellers WHERE run_id = ?", (run2,))
    }
    assert is_new == {acme["id"]: 0, sellers["newbie"]["id"]: 1}
    r2 = assert_run_counters_match_rows(store, run2)
    assert (r2["sellers_found"], r2["sellers_new"], r2["listings_seen"]) == (2, 1, 3)
    r1 = assert_run_counters_match_rows(store, run1)
    assert (r1["sellers_found"], r1["sellers_new"], r1["listings_seen"]) == (2, 2, 3)
    assert_store_wide_seller_totals(store)


def test_a_failed_commit_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: if any statement fails, no seller, sighting or done mark lands."""
    run_id, (p1, p2) = new_run(store, products(2))
    before = [tuple(r) for r in store.query("SELECT * FROM runs")]
    original = store.events.add

    def add_invalid_level(run_id, level, kind, message, data=None):  # type: ignore[no-untyped-def]
        return original(run_id, "fatal", kind, message, data)  # violates the CHECK

    monkeypatch.setattr(store.events, "add", add_invalid_level)
    batch = [
        ProductOutcome(p1, "done", [listing("Acme Store", 1)], pages=1),
        ProductOutcome(p2, "failed", [], error="boom"),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        store.results.commit(run_id, "sample", batch)
    monkeypatch.undo()

    assert not store.conn.in_transaction
    assert scalar(store, "SELECT count(*) FROM sellers") == 0
    assert scalar(store, "SELECT count(*) FROM run_sellers") == 0
    assert scalar(store, "SELECT count(*) FROM events WHERE level = 'error'") == 0
    assert scalar(store, "SELECT count(*) FROM run_products WHERE status != 'pending'") == 0
    assert [tuple(r) for r in store.query("SELECT * FROM runs")] == before
    # The same batch commits fine once the store is healthy again.
    store.results.commit(run_id, "sample", batch)
    run = assert_run_counters_match_rows(store, run_id)
    assert (run["products_done"], run["products_failed"], run["errors"]) == (1, 1, 1)


# -- a real run: counters equal rows --------------------------------------------------------------


@pytest.mark.parametrize("fatal_rate", [0, 0.15], ids=["clean", "with-failures"])
def test_run_counters_equal_rows(store: Store, config_path: Path, fatal_rate: float) -> None:
    write_config(config_path, fatal_rate=fatal_rate)
    summary, reporter = run_demo(store)
    run = assert_run_counters_match_rows(store, summary.run_id)
    assert run["status"] == "completed"
    assert run["finished_at"] is not None
    assert run["categories_total"] == run["categories_done"] == 4
    assert run["products_total"] == 100  # 4 categories x max_products 25
    assert run["products_done"] + run["products_failed"] + run["products_skipped"] == 100
    assert run["products_skipped"] > 0  # products with unknown price are skipped
    assert scalar(store, "SELECT count(*) FROM run_products WHERE status = 'pending'") == 0
    skipped = store.query("SELECT price_micros, error FROM run_products WHERE status = 'skipped'")
    assert all(r["price_micros"] is None and r["error"] == "price unknown" for r in skipped)
    assert run["listings_seen"] > 1000
    assert 0 < run["sellers_found"] < run["listings_seen"]
    assert run["sellers_new"] == run["sellers_found"]  # first run: everyone is new
    assert run["requests"] >= run["products_done"] + run["products_failed"] + 4
    if fatal_rate:
        assert run["products_failed"] > 0
        assert summary.exit_code == 5  # PARTIAL
        assert "failed" in run["finish_reason"]
    else:
        assert run["products_failed"] == 0
        assert run["errors"] == 0
        assert summary.exit_code == 0
        assert run["finish_reason"] == "all products searched"

    # The reporter saw the same numbers the store holds.
    assert reporter.started == [summary.run_id]
    assert len(reporter.summaries) == 1
    counters = store.results.counters(summary.run_id)
    assert summary.counters == counters
    assert summary.status == "completed"
    assert summary.products_remaining == 0
    kinds = reporter.kinds()
    assert kinds["category_listed"] == 4
    assert kinds["progress"] >= 1
    assert kinds["product_failed"] == run["products_failed"]
    assert sum(e.data["committed"] for e in reporter.events if e.kind == "progress") == (
        run["products_done"] + run["products_failed"]
    )
    assert reporter.aborted == 0
    assert_store_wide_seller_totals(store)


# -- repeat runs -----------------------------------------------------------------------------------


def test_repeat_runs(store: Store) -> None:
    s1, _ = run_demo(store)
    after_first = {r["id"]: dict(r) for r in store.query("SELECT * FROM sellers")}
    s2, _ = run_demo(store)
    assert (s1.run_id, s2.run_id) == (1, 2)
    assert store.runs.get(2)["epoch"] == 2
    r1 = assert_run_counters_match_rows(store, 1)
    r2 = assert_run_counters_match_rows(store, 2)

    times = store.query(
        "SELECT s.times_seen, (SELECT count(*) FROM run_sellers rs WHERE rs.seller_id = s.id) AS n"
        " FROM sellers s"
    )
    assert all(r["times_seen"] == r["n"] for r in times)
    assert {r["times_seen"] for r in times} == {1, 2}
    assert r2["sellers_new"] == scalar(store, "SELECT count(*) FROM sellers WHERE first_run_id = 2")
    assert r1["sellers_new"] == r1["sellers_found"]
    assert 0 < r2["sellers_new"] < r1["sellers_new"] / 4  # far fewer new sellers the second time
    assert r2["sellers_found"] > r2["sellers_new"] * 4  # most sellers of run 2 are known ones

    # Sellers seen in both runs: feedback only grows (the sample market drifts upwards).
    both = store.query("SELECT s.* FROM sellers s WHERE s.first_run_id = 1 AND s.last_run_id = 2")
    assert len(both) > 100
    grew = 0
    for s in both:
        old = after_first[s["id"]]
        assert s["feedback_score"] >= old["feedback_score"], s["name"]
        assert s["name"] == old["name"]
        assert s["first_seen_at"] == old["first_seen_at"]
        assert s["last_seen_at"] >= old["last_seen_at"]
        grew += s["feedback_score"] > old["feedback_score"]
    assert grew > len(both) / 2
    # Sellers only in run 1 kept their run-1 data untouched.
    only_first = store.query("SELECT * FROM sellers WHERE last_run_id = 1")
    assert only_first
    for s in only_first:
        assert dict(s) == after_first[s["id"]]
    assert_store_wide_seller_totals(store)


# -- the sample marketplace ------------------------------------------------------------------------


def _market(epoch: int = 1, seed: int = 7, **options: object) -> SampleMarketplace:
    return SampleMarketplace(SourceContext(epoch, {"seed": seed, **options}))


async def _demo_products(market: SampleMarketplace) -> list[Product]:
    found = []
    for cat_id in DEMO.categories:
        page = await market.product_page(taxonomy.category(cat_id), 1)
        found.extend(page.products[: DEMO.filters.max_products])
    return found


def _band(product: Product, filters: Filters) -> tuple[int, int]:
    assert product.price_micros is not None
    return (
        round(product.price_micros * filters.price_min_ratio),
        round(product.price_micros * filters.price_max_ratio),
    )


async def _search_all(market: SampleMarketplace, product: Product, filters: Filters) -> list:
    """Every listing the engine would see for ``product`` (all pages the filters allow)."""
    low, high = _band(product, filters) if product.price_micros else (None, None)
    out = []
    for page in range(1, filters.pages + 1):
        result = await market.search(ListingQuery(product, filters, page, low, high))
        out.extend(result.listings)
        if not result.has_more:
            break
    return out


def test_sample_is_deterministic() -> None:
    async def go() -> None:
        a, b = _market(), _market()
        cat = taxonomy.category(HEADPHONES)
        for page in (1, 2):
            assert await a.product_page(cat, page) == await b.product_page(cat, page)
        prods = await _demo_products(a)
        assert prods == await _demo_products(b)
        unfiltered = Filters(condition="any", free_shipping=False, domestic_only=False)
        for p in prods[:30]:
            for f in (DEMO.filters, unfiltered):
                low, high = _band(p, f) if p.price_micros else (None, None)
                for page in (1, 2):
                    q = ListingQuery(p, f, page, low, high)
                    assert await a.search(q) == await b.search(q)
        # A different seed is a different market.
        c = _market(seed=8)
        assert await c.product_page(cat, 1) != await a.product_page(cat, 1)

    asyncio.run(go())


def test_sample_epoch_moves_the_market_a_little() -> None:
    everything = Filters(condition="any", free_shipping=False, domestic_only=False, pages=100)

    async def unfiltered(market: SampleMarketplace, product: Product) -> list[Listing]:
        out: list[Listing] = []
        for page in range(1, everything.pages + 1):
            result = await market.search(ListingQuery(product, everything, page, None, None))
            out.extend(result.listings)
            if not result.has_more:
                return out
        raise AssertionError("more pages than expected")

    async def go() -> dict[str, tuple[int, int]]:
        one, two = _market(epoch=1), _market(epoch=2)
        prods = [p for p in await _demo_products(one) if p.price_micros]
        assert prods == [p for p in await _demo_products(two) if p.price_micros]
        totals = {"all": (0, 0), "demo": (0, 0)}
        for p in prods[:40]:
            a, b = await unfiltered(one, p), await unfiltered(two, p)
            assert len(a) == len(b)  # the same slots; some of them change hands
            ids_a, ids_b = {x.listing_id for x in a}, {x.listing_id for x in b}
            kept, changed = totals["all"]
            totals["all"] = (kept + len(ids_a & ids_b), changed + len(ids_a - ids_b))
            da = {x.listing_id for x in await _search_all(one, p, DEMO.filters)}
            db = {x.listing_id for x in await _search_all(two, p, DEMO.filters)}
            kept, changed = totals["demo"]
            totals["demo"] = (kept + len(da & db), changed + len(da ^ db))
        return totals

    for kept, changed in asyncio.run(go()).values():
        assert changed > 0
        assert kept > 0.7 * (kept + changed)


def test_sample_applies_filters() -> None:
    async def go() -> None:
        market = _market()
        f = DEMO.filters
        assert (f.condition, f.free_shipping, f.domestic_only, f.country) == (
            "new",
            True,
            True,
            "US",
        )
        unfiltered = Filters(condition="any", free_shipping=False, domestic_only=False, pages=10)
        seen = rejected_exists = 0
        for p in await _demo_products(market):
            if p.price_micros is None:
                continue
            low, high = _band(p, f)
            listings = await _search_all(market, p, f)
            for lst in listings:
                assert lst.condition == "new"
                assert lst.free_shipping is True
                assert lst.country == "US"
                assert low <= lst.price_micros <= high
            seen += len(listings)
            # The filters really bite: without them there is more, including every kind.
            raw = await _search_all(market, p, unfiltered)
            assert len(raw) > len(listings)
            rejected_exists += any(
                lst.condition != "new"
                or not lst.free_shipping
                or lst.country != "US"
                or not low <= lst.price_micros <= high
                for lst in raw
            )
        assert seen > 1000
        assert rejected_exists > 50

    asyncio.run(go())


def test_sample_has_products_without_price() -> None:
    async def go() -> list[Product]:
        market = _market()
        found = []
        for dep in taxonomy.departments()[:3]:
            for cat in dep.categories[:4]:
                for page in (1, 2):
                    found.extend((await market.product_page(cat, page)).products)
        return found

    found = asyncio.run(go())
    unknown = [p for p in found if p.price_micros is None]
    assert unknown
    assert len(unknown) < len(found) / 5
    assert all(p.price_micros > 0 for p in found if p.price_micros is not None)
    assert len({p.key for p in found}) == len(found)


def test_sample_popularity_is_skewed() -> None:
    async def go() -> tuple[int, collections.Counter[str]]:
        market = _market()
        per_seller: collections.Counter[str] = collections.Counter()
        searched = 0
        for p in await _demo_products(market):
            if p.price_micros is None:
                continue
            searched += 1
            per_seller.update(
                {lst.seller_name for lst in await _search_all(market, p, DEMO.filters)}
            )
        return searched, per_seller

    searched, per_seller = asyncio.run(go())
    top_name, top_products = per_seller.most_common(1)[0]
    assert top_products > 0.6 * searched, (top_name, top_products, searched)
    once = sum(1 for n in per_seller.values() if n == 1)
    assert once > 0.5 * len(per_seller)
    assert len(per_seller) > 5 * searched


def test_demo_run_sellers_include_hostile_names(store: Store) -> None:
    summary, _ = run_demo(store)
    names = [r["name"] for r in store.query("SELECT name FROM sellers")]
    assert len(names) == summary.counters["sellers_found"]
    assert any(not n.isascii() for n in names)
    assert any("," in n for n in names)
    assert any('"' in n for n in names)
    assert any("'" in n for n in names)
    for lead in "=+-@":
        assert any(n.startswith(lead) for n in names), lead
    assert '=HYPERLINK("http://x")' in names
    assert "東京ストア" in names
    # Names are stored verbatim (the tab in this one is kept), keys are normalized.
    row = store.query_one("SELECT name, name_key FROM sellers WHERE name_key = 'łódź trading'")
    assert row is not None
    assert row["name"] == "Łódź\tTrading"
    assert row["name_key"] == "łódź trading"
    # Many sellers were seen exactly once in the run; the top one is seen very often.
    once = scalar(
        store, "SELECT count(*) FROM run_sellers WHERE run_id = ? AND sightings = 1", (1,)
    )
    assert once > 0.3 * len(names)
    assert scalar(store, "SELECT max(sightings) FROM run_sellers") > 50


# -- failing products ----------------------------------------------------------------------------


def test_failed_search_is_recorded_and_run_continues(store: Store, config_path: Path) -> None:
    write_config(config_path, fatal_rate=0.2)
    summary, reporter = run_demo(store)
    run_id = summary.run_id
    failed = store.query(
        "SELECT * FROM run_products WHERE run_id = ? AND status = 'failed' ORDER BY id", (run_id,)
    )
    assert failed
    for row in failed:
        assert row["error"] == f"sample: HTTP 400 for {row['product_key']} (query rejected)"
        assert row["listings_seen"] == 0
        assert row["attempts"] == 1
    events = store.events.for_run(run_id, level="error")
    product_events = [e for e in events if e["kind"] == "product_failed"]
    assert sorted(e["message"] for e in product_events) == sorted(r["error"] for r in failed)
    assert len(product_events) == len(failed)
    assert {json.loads(e["data"])["run_product_id"] for e in product_events} == {
        r["id"] for r in failed
    }
    # Non-retryable: one request, no retries for a rejected query.
    assert store.runs.get(run_id)["retries"] == 0

    run = assert_run_counters_match_rows(store, run_id)
    assert run["status"] == "completed"
    assert run["finish_reason"] == f"completed with {len(failed)} failed products/categories"
    assert run["products_done"] > 2 * len(failed)
    assert run["products_done"] + len(failed) + run["products_skipped"] == run["products_total"]
    assert summary.exit_code == 5
    assert [e.message for e in reporter.events if e.kind == "product_failed"] == [
        e["message"] for e in product_events
    ]
    breakdown = {r["category_id"]: r for r in store.runs.category_breakdown(run_id)}
    assert sum(r["failed"] for r in breakdown.values()) == len(failed)
    assert [dict(r)["product_key"] for r in store.runs.failed_products(run_id)] == [
        r["product_key"] for r in failed
    ]


# -- commit edge cases -----------------------------------------------------------------------------


def test_committing_a_done_product_again_changes_nothing(store: Store) -> None:
    """The commit is idempotent per product: a replayed outcome is never counted twice."""
    run_id, (row_id,) = new_run(store, products(1))
    outcome = ProductOutcome(row_id, "done", [listing("Acme", 1), listing("Acme", 2)], pages=1)
    store.results.commit(run_id, "sample", [outcome])
    before = [dict(r) for r in store.query("SELECT * FROM sellers")] + [
        dict(r) for r in store.query("SELECT * FROM run_sellers")
    ]
    run_before = dict(store.runs.get(run_id))
    store.results.commit(run_id, "sample", [outcome])
    after = [dict(r) for r in store.query("SELECT * FROM sellers")] + [
        dict(r) for r in store.query("SELECT * FROM run_sellers")
    ]
    assert after == before
    run_after = dict(store.runs.get(run_id))
    for key in ("listings_seen", "sellers_found", "products_done", "requests"):
        assert run_after[key] == run_before[key], key
    assert scalar(store, "SELECT sightings FROM sellers") == 2
    assert_run_counters_match_rows(store, run_id)


def test_listings_without_a_seller_name_are_not_sightings(store: Store) -> None:
    run_id, (row_id,) = new_run(store, products(1))
    listings = [listing("Acme", 1), listing("   ", 2), listing("", 3), listing("Acme", 4)]
    store.results.commit(run_id, "sample", [ProductOutcome(row_id, "done", listings, pages=1)])
    run = assert_run_counters_match_rows(store, run_id)
    assert run["listings_seen"] == 2
    assert scalar(store, "SELECT count(*) FROM sellers") == 1
