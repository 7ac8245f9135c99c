#!/usr/bin/env python3
"""Benchmark #1 (issue 7): the store's hot path against raw SQLite.

Real path: 1,000,000 listing sightings over 300,000 distinct sellers committed through
``store.results.commit`` (the code the engine calls), a group of finished products per
transaction, products of 50-200 listings each, like the engine's writer does. Every listing
carries what a real one does: a 12-digit listing id, its eBay page
(``https://www.ebay.com/itm/<id>``) and a price within 0.8-1.2 of the product's, so the
store records the same seller evidence a real run records.

Baseline, measured in the same invocation: the same four statements (the seller upsert, the
run_sellers upsert, the seller_evidence insert and the run_products update) through raw
``sqlite3`` ``executemany`` in ONE transaction with ``PRAGMA cache_size = -65536`` (64 MiB),
on the same schema (same triggers and indexes). The two upserts get one row per sighting; the
evidence insert gets one row per (product, seller) - its primary key allows no other - with
the listings count, the price range and the cheapest listing as example, as the real path
stores them. All parameter lists are built before the clock starts: it measures what SQLite
itself can do.

Also reported (outside the timing, from the first real repetition): the bytes the evidence
takes in the store per listing sighting - the pages of ``seller_evidence`` and its index
from SQLite's ``dbstat`` table, or, where SQLite lacks it, the size difference between the
store and the same store after ``DELETE FROM seller_evidence`` (both VACUUMed) - and the whole
store's bytes per sighting.

Every repetition uses fresh database files in a temporary directory. Each figure is the
median of the repetitions. Target: real >= 0.5 x baseline sightings/s.

Prints one JSON object on stdout; progress lines go to stderr.

    python bench/bench_store.py            # full: 1M sightings, 300k sellers, 3 repetitions
    python bench/bench_store.py --quick    # smoke: 100k sightings, 30k sellers
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import log, machine  # noqa: E402 (after the sys.path line above)

from collector_cli.models import Category, Listing, Product, ProductOutcome  # noqa: E402
from collector_cli.store import results as results_mod  # noqa: E402
from collector_cli.store.db import open_store, utcnow  # noqa: E402

PLATFORM = "sample"
PRODUCTS_PER_CATEGORY = 100
PRODUCT_PRICE_MICROS = 19_990_000
ITEM_URL = "https://www.ebay.com/itm/"
TARGET_RATIO = 0.5


# -- workload -------------------------------------------------------------------------------------


def make_workload(
    sightings: int, sellers: int, seed: int, min_size: int, max_size: int
) -> list[list[Listing]]:
    """Products (lists of listings) holding ``sightings`` listings by exactly ``sellers``
    distinct sellers: each seller once, the rest drawn Zipf-like (s = 1) so a few giants
    and a long tail, all shuffled. Each listing has a distinct 12-digit id, its eBay URL and
    a price within 0.8-1.2 of the product's (whole cents). Deterministic from ``seed``."""
    if sellers > sightings:
        raise SystemExit("--sellers must not exceed --sightings")
    rng = random.Random(seed)
    cum = list(accumulate(1.0 / (rank + 1) for rank in range(sellers)))
    ids = list(range(sellers))
    ids += rng.choices(range(sellers), cum_weights=cum, k=sightings - sellers)
    rng.shuffle(ids)
    names = [f"seller{n}" for n in range(sellers)]
    # One run sees one feedback value per seller, as the sample marketplace gives.
    scores = [100 + (n * 7919) % 50_000 for n in range(sellers)]
    percents = [round(90 + (n % 100) / 10, 1) for n in range(sellers)]
    cents = PRODUCT_PRICE_MICROS // 10_000
    low_cents, high_cents = cents * 8 // 10, cents * 12 // 10
    products: list[list[Listing]] = []
    pos = 0
    while pos < sightings:
        size = min(rng.randint(min_size, max_size), sightings - pos)
        chunk = ids[pos : pos + size]
        # Distinct ids: a step coprime to 9e11 visits each 12-digit number once before repeating.
        item_ids = [str(100_000_000_000 + (pos + i) * 7_919_011 % 900_000_000_000)
                    for i in range(size)]  # fmt: skip
        products.append(
            [
                Listing(
                    listing_id=item_ids[i],
                    title="Bench product",
                    price_micros=rng.randint(low_cents, high_cents) * 10_000,
                    condition="new",
                    free_shipping=True,
                    country="US",
                    seller_name=names[sid],
                    feedback_score=scores[sid],
                    feedback_score_approx=False,
                    feedback_percent=percents[sid],
                    url=ITEM_URL + item_ids[i],
                )
                for i, sid in enumerate(chunk)
            ]
        )
        pos += size
    return products


def prepare_store(path: Path, n_products: int):  # type: ignore[no-untyped-def]
    """A fresh store with a running run and its run_products rows (all pending), through
    the real ``runs.create`` and ``runs.save_category``. Returns (store, run_id, row_ids)."""
    store = open_store(path)
    n_categories = -(-n_products // PRODUCTS_PER_CATEGORY)
    categories = [
        Category(f"bench-cat-{c}", f"Bench {c}", str(1000 + c), "bench-dep", "Bench")
        for c in range(n_categories)
    ]
    run_id = store.runs.create(
        preset_name="bench",
        snapshot={"name": "bench"},
        categories=categories,
        pid=os.getpid(),
        pid_started_at=0.0,
        hostname=socket.gethostname(),
    )
    row_ids: list[int] = []
    for c, category in enumerate(categories):
        first = c * PRODUCTS_PER_CATEGORY
        products = [
            Product(f"B{p:09d}", f"Bench product {p}", PRODUCT_PRICE_MICROS, p - first + 1)
            for p in range(first, min(first + PRODUCTS_PER_CATEGORY, n_products))
        ]
        pending = store.runs.save_category(run_id, category, products, {})
        row_ids.extend(p.row_id for p in pending)
    if len(row_ids) != n_products:
        raise RuntimeError(f"expected {n_products} pending products, got {len(row_ids)}")
    return store, run_id, row_ids


def evidence_pairs(products: list[list[Listing]]) -> int:
    """Evidence rows a commit of ``products`` must store: distinct sellers per product."""
    return sum(len({lst.seller_name for lst in listings}) for listings in products)


def check(store, run_id: int, sightings: int, sellers: int, n_products: int, pairs: int) -> None:  # type: ignore[no-untyped-def]
    """The store must hold exactly what was committed (outside the timing)."""
    got_sellers, got_sightings = store.conn.execute(
        "SELECT count(*), coalesce(sum(sightings), 0) FROM sellers"
    ).fetchone()
    run = store.conn.execute(
        "SELECT products_done, listings_seen, sellers_found FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    evidence = store.conn.execute(
        "SELECT count(*), coalesce(sum(listings), 0), count(example_url) FROM seller_evidence"
    ).fetchone()
    want = (sellers, sightings, n_products, sightings, sellers, pairs, sightings, pairs)
    got = (got_sellers, got_sightings, run[0], run[1], run[2], *evidence)
    if got != want:
        raise RuntimeError(f"store check failed: got {got}, want {want}")


def store_bytes(store, sightings: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What the evidence costs on disk per listing sighting (outside the timing).

    ``dbstat`` counts the pages of ``seller_evidence`` and its index exactly, WAL included.
    Without it, the store is VACUUMed, measured, emptied of evidence, VACUUMed and measured
    again (this rewrites the store: call it last).
    """
    conn = store.conn
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    total = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
    rows = conn.execute("SELECT count(*) FROM seller_evidence").fetchone()[0]
    try:
        parts = {
            name: size
            for name, size in conn.execute(
                "SELECT name, sum(pgsize) FROM dbstat"
                " WHERE name IN ('seller_evidence', 'seller_evidence_seller') GROUP BY name"
            )
        }
        method = "dbstat: sum(pgsize) of seller_evidence and seller_evidence_seller"
        evidence = sum(parts.values())
    except sqlite3.OperationalError:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        with_evidence = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        conn.execute("DELETE FROM seller_evidence")
        conn.execute("VACUUM")
        without = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        parts, evidence = {}, with_evidence - without
        method = "size difference, VACUUMed, before and after DELETE FROM seller_evidence"
    return {
        "method": method,
        "evidence_bytes": evidence,
        "evidence_bytes_by_btree": parts,
        "evidence_rows": rows,
        "evidence_bytes_per_sighting": round(evidence / sightings, 1),
        "evidence_bytes_per_row": round(evidence / rows, 1) if rows else None,
        "store_bytes": total,
        "store_bytes_per_sighting": round(total / sightings, 1),
    }


# -- the two contenders ---------------------------------------------------------------------------


def run_real(
    workdir: Path,
    products: list[list[Listing]],
    group: int,
    sightings: int,
    sellers: int,
    pairs: int,
    measure_bytes: bool = False,
) -> dict[str, Any]:
    store, run_id, row_ids = prepare_store(workdir / "real.db", len(products))
    try:
        outcomes = [
            ProductOutcome(row_id, "done", listings, 2, None)
            for row_id, listings in zip(row_ids, products, strict=True)
        ]
        batches = [outcomes[i : i + group] for i in range(0, len(outcomes), group)]
        commit = store.results.commit
        gc.collect()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for batch in batches:
            commit(run_id, PLATFORM, batch)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        check(store, run_id, sightings, sellers, len(products), pairs)
        sizes = store_bytes(store, sightings) if measure_bytes else None
    finally:
        store.close()
    return {"seconds": elapsed, "cpu_seconds": cpu, "commits": len(batches), "bytes": sizes}


def run_baseline(
    workdir: Path, products: list[list[Listing]], sightings: int, sellers: int, pairs: int
) -> dict[str, Any]:
    store, run_id, row_ids = prepare_store(workdir / "baseline.db", len(products))
    try:
        now = utcnow()
        name_key = results_mod.name_key
        seller_rows, run_seller_rows, evidence_rows, product_rows = [], [], [], []
        for row_id, listings in zip(row_ids, products, strict=True):
            keys = set()
            # (product, seller) -> [listings, lowest, highest, cheapest listing], as stored
            per_seller: dict[str, list[Any]] = {}
            for lst in listings:
                key = name_key(lst.seller_name)
                keys.add(key)
                price = lst.price_micros if lst.price_micros > 0 else None
                found = per_seller.get(key)
                if found is None:
                    per_seller[key] = [1, price, price, lst]
                else:
                    found[0] += 1
                    if price is not None and (found[1] is None or price < found[1]):
                        found[1], found[3] = price, lst
                    if price is not None and (found[2] is None or price > found[2]):
                        found[2] = price
                seller_rows.append(
                    (
                        PLATFORM,
                        key,
                        lst.seller_name,
                        lst.feedback_score,
                        int(lst.feedback_score_approx),
                        lst.feedback_percent,
                        1,
                        run_id,
                        now,
                        run_id,
                        now,
                        now,
                    )
                )
                run_seller_rows.append((run_id, 1, run_id, PLATFORM, key))
            evidence_rows.extend(
                (row_id, n, low, high, example.listing_id or None, example.url, PLATFORM, key)
                for key, (n, low, high, example) in per_seller.items()
            )
            product_rows.append((len(listings), len(keys), 2, now, row_id))
        conn = store.conn
        conn.execute("PRAGMA cache_size = -65536")
        gc.collect()
        cpu0, t0 = time.process_time(), time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(results_mod._UPSERT_SELLER, seller_rows)
        conn.executemany(results_mod._UPSERT_RUN_SELLER, run_seller_rows)
        conn.executemany(results_mod._INSERT_EVIDENCE, evidence_rows)
        conn.executemany(
            "UPDATE run_products SET status = 'done', listings_seen = ?, sellers_seen = ?,"
            " pages = ?, attempts = attempts + 1, error = NULL, updated_at = ?"
            " WHERE id = ? AND status IN ('pending', 'failed')",
            product_rows,
        )
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        del seller_rows, run_seller_rows, evidence_rows
        check(store, run_id, sightings, sellers, len(products), pairs)
    finally:
        store.close()
    return {"seconds": elapsed, "cpu_seconds": cpu, "commits": 1}


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 100k sightings, 30k sellers"
    )
    parser.add_argument("--sightings", type=int, default=None)
    parser.add_argument("--sellers", type=int, default=None)
    parser.add_argument("--group", type=int, default=8, help="products per commit (default 8)")
    parser.add_argument("--min-listings", type=int, default=50)
    parser.add_argument("--max-listings", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median; >= 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp", default=None, help="directory for the temporary databases")
    args = parser.parse_args()
    sightings = args.sightings or (100_000 if args.quick else 1_000_000)
    sellers = args.sellers or (30_000 if args.quick else 300_000)
    repeat = max(3, args.repeat)

    started = time.perf_counter()
    log(f"bench_store: generating {sightings:,} sightings over {sellers:,} sellers…")
    products = make_workload(sightings, sellers, args.seed, args.min_listings, args.max_listings)
    pairs = evidence_pairs(products)
    log(f"  {len(products):,} products, {pairs:,} evidence rows, {args.group} per commit")

    real_runs, base_runs = [], []
    for rep in range(repeat):
        # Alternate the order so neither always runs with a warmer page cache.
        order = ("baseline", "real") if rep % 2 == 0 else ("real", "baseline")
        for which in order:
            workdir = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.tmp))
            try:
                if which == "real":
                    first = not real_runs
                    r = run_real(workdir, products, args.group, sightings, sellers, pairs, first)
                    real_runs.append(r)
                else:
                    r = run_baseline(workdir, products, sightings, sellers, pairs)
                    base_runs.append(r)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            log(
                f"  rep {rep + 1}/{repeat} {which:8s} {r['seconds']:7.2f}s"
                f"  {sightings / r['seconds']:>10,.0f} sightings/s  cpu {r['cpu_seconds']:.2f}s"
            )

    real_s = statistics.median(r["seconds"] for r in real_runs)
    base_s = statistics.median(r["seconds"] for r in base_runs)
    real_rate, base_rate = sightings / real_s, sightings / base_s
    ratio = real_rate / base_rate
    # The same ratio from CPU seconds: less disturbed when other processes share the cores.
    ratio_cpu = statistics.median(r["cpu_seconds"] for r in base_runs) / statistics.median(
        r["cpu_seconds"] for r in real_runs
    )
    sizes = real_runs[0]["bytes"]
    result = {
        "benchmark": "store",
        "target": "#1: real store code >= 0.5 x raw executemany baseline (sightings/s)",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "params": {
            "sightings": sightings,
            "distinct_sellers": sellers,
            "products": len(products),
            "evidence_rows": pairs,
            "listings_per_product": [args.min_listings, args.max_listings],
            "products_per_commit": args.group,
            "commits": real_runs[0]["commits"],
            "repetitions": repeat,
            "seed": args.seed,
        },
        "real": {
            "sightings_per_s": round(real_rate),
            "seconds_median": round(real_s, 3),
            "seconds": [round(r["seconds"], 3) for r in real_runs],
            "cpu_seconds": [round(r["cpu_seconds"], 3) for r in real_runs],
        },
        "baseline": {
            "what": "same four statements, raw sqlite3 executemany, ONE transaction,"
            " cache_size=-65536; seller and run_sellers upserts one row per sighting,"
            " evidence insert one row per (product, seller)",
            "sightings_per_s": round(base_rate),
            "seconds_median": round(base_s, 3),
            "seconds": [round(r["seconds"], 3) for r in base_runs],
            "cpu_seconds": [round(r["cpu_seconds"], 3) for r in base_runs],
        },
        "ratio": round(ratio, 3),
        "ratio_cpu": round(ratio_cpu, 3),
        "bytes_per_sighting": sizes["evidence_bytes_per_sighting"],
        "storage": sizes,
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    log(
        f"bench_store: real {real_rate:,.0f}/s vs baseline {base_rate:,.0f}/s = {ratio:.2f}x"
        f" (by CPU seconds {ratio_cpu:.2f}x)"
        f" (target >= {TARGET_RATIO}x: {'met' if result['target_met'] else 'MISSED'});"
        f" evidence {sizes['evidence_bytes_per_sighting']} B per sighting"
        f" ({sizes['evidence_bytes_per_row']} B per row), whole store"
        f" {sizes['store_bytes_per_sighting']} B per sighting"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
