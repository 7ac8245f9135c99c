#!/usr/bin/env python3
"""Benchmark: `collector report` on a store of 100 runs and 100,000 sellers with evidence.

The store is built fast but faithfully: ``open_store`` creates the file and runs the real
migrations, then rows go in with ``executemany`` through raw ``sqlite3`` in dependency order,
so the schema's triggers keep the run counters, ``times_seen`` and the feedback history as a
real run would. Each run searches 200 products (20 categories of 10) with 30 evidence rows
each: the run's 1,000 new sellers once, the rest drawn Zipf-like (s = 1) from every seller
known so far, so a few sellers are everywhere and most are seen once. Each seller's feedback
is recorded in every run that saw it (growing by a per-seller rate), the last observation
through the schema's own trigger. Names include quotes, ``&``, ``<`` and a leading ``=``.

Measured, each the median of ``--repeat`` repetitions:
- end to end: ``python -m collector_cli report -o FILE`` as a subprocess (start-up, store
  open, ranking, rendering, the atomic write);
- in process: ``gather`` (the store reads and the ranking) and ``render`` (plotly and HTML).
Also the size of the page (most of it is the inlined plotly.js).

Usage:  python bench/bench_report.py [--quick] [--repeat 3] [--tmp DIR]
Prints one JSON object on stdout; progress goes to stderr. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import log, machine  # noqa: E402 (after the sys.path line above)

from collector_cli.store.db import open_store  # noqa: E402

MIB = 1024 * 1024
CATEGORIES, PRODUCTS_PER_CATEGORY, SELLERS_PER_PRODUCT = 20, 10, 30
START = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
HOSTILE = ['=HYPERLINK("http://x") {n}', 'The "Best" & <Co> {n}', "O'Brien ⭐ {n}"]


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def sample(runs: int, sellers: int, seed: int) -> list[list[dict[int, int]]]:
    """Per run, per product: {seller id: listings}. Every seller is new in exactly one run."""
    rng = random.Random(seed)
    per_run = sellers // runs
    slots = CATEGORIES * PRODUCTS_PER_CATEGORY * SELLERS_PER_PRODUCT
    if per_run > slots:
        raise SystemExit(f"{sellers} sellers over {runs} runs need more than {slots} slots a run")
    cum = list(accumulate(1.0 / rank for rank in range(1, sellers + 1)))
    found = []
    for r in range(runs):
        new = list(range(r * per_run + 1, (r + 1) * per_run + 1))
        known = r * per_run
        if known:
            drawn = rng.choices(range(1, known + 1), cum_weights=cum[:known], k=slots - len(new))
            ids = new + drawn
        else:  # the first run: only new sellers, each several times
            ids = (new * (slots // len(new) + 1))[:slots]
        rng.shuffle(ids)
        products = []
        for p in range(0, slots, SELLERS_PER_PRODUCT):
            seen: dict[int, int] = {}
            for seller in ids[p : p + SELLERS_PER_PRODUCT]:
                seen[seller] = seen.get(seller, 0) + 1
            products.append(seen)
        found.append(products)
    return found


def build(path: Path, runs: int, sellers: int, seed: int) -> dict[str, int]:
    """The store at ``path``: schema by ``open_store``, rows by ``executemany``."""
    open_store(path).close()
    plan = sample(runs, sellers, seed)
    rng = random.Random(seed + 1)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    sightings: dict[int, int] = {}
    for r, products in enumerate(plan, 1):
        for seen in products:
            for seller, listings in seen.items():
                first.setdefault(seller, r)
                last[seller] = r
                sightings[seller] = sightings.get(seller, 0) + listings
    when = {r: START + timedelta(days=r - 1) for r in range(1, runs + 1)}
    base = {s: 50 + (s * 7919) % 20_000 for s in first}
    growth = {s: 1 + (s * 104_729) % 40 for s in first}
    markup = {s: 1.04 + (s % 13) / 100 if s % 50 == 0 else 0.8 + (s % 41) / 100 for s in first}

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO runs (id, preset_name, preset, status, finish_reason, epoch, started_at,"
        " attempt_started_at, finished_at, active_seconds, products_done, listings_seen,"
        " cost_micros) VALUES (?, 'bench', '{}', 'completed', 'done', 1, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r, _iso(when[r]), _iso(when[r]), _iso(when[r] + timedelta(minutes=30)),
             rng.uniform(600, 3600), CATEGORIES * PRODUCTS_PER_CATEGORY,
             sum(sum(seen.values()) for seen in plan[r - 1]), rng.randint(2, 9) * 100_000)
            for r in range(1, runs + 1)
        ],
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO sellers (id, platform, name_key, name, sightings, first_run_id,"
        " first_seen_at, last_run_id, last_seen_at, created_at)"
        " VALUES (?, 'ebay', ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (s, name.casefold(), name, sightings[s], first[s], _iso(when[first[s]]), last[s],
             _iso(when[last[s]]), _iso(when[first[s]]))
            for s in sorted(first)
            for name in [HOSTILE[s % 3].format(n=s) if s % 997 == 0 else f"seller-{s:06d}"]
        ],
    )  # fmt: skip
    product_id = 0
    for r, products in enumerate(plan, 1):
        conn.executemany(
            "INSERT INTO run_categories (run_id, category_id, department_id, position, status,"
            " products_found) VALUES (?, ?, ?, ?, 'done', ?)",
            [(r, f"cat-{c:02d}", f"dep-{c % 4}", c, PRODUCTS_PER_CATEGORY)
             for c in range(CATEGORIES)],
        )  # fmt: skip
        product_rows, evidence, in_run = [], [], {}
        for p, seen in enumerate(products):
            product_id += 1
            price = 5_000_000 + (p * 7_777_777) % 95_000_000
            c = p // PRODUCTS_PER_CATEGORY
            product_rows.append(
                (product_id, r, f"cat-{c:02d}", f"dep-{c % 4}", f"B{p:09d}", p % 10 + 1,
                 f"Bench product {p} <{c}> & \"{r}\"", price, sum(seen.values()), len(seen))
            )  # fmt: skip
            for seller, listings in seen.items():
                low = round(price * markup[seller] / 10_000) * 10_000
                item = f"{100_000_000_000 + product_id * 1_000 + len(evidence) % 1_000}"
                evidence.append((product_id, seller, listings, low, low + 10_000 * (listings - 1),
                                 item, f"https://www.ebay.com/itm/{item}"))  # fmt: skip
                in_run[seller] = in_run.get(seller, 0) + listings
        conn.executemany(
            "INSERT INTO run_products (id, run_id, category_id, department_id, product_key, rank,"
            " title, price_micros, status, pages, listings_seen, sellers_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'done', 1, ?, ?)",
            product_rows,
        )
        conn.executemany(
            "INSERT INTO run_sellers (run_id, seller_id, sightings, is_new) VALUES (?, ?, ?, ?)",
            [(r, s, n, int(first[s] == r)) for s, n in in_run.items()],
        )
        conn.executemany(
            "INSERT INTO seller_evidence (run_product_id, seller_id, listings, price_min_micros,"
            " price_max_micros, example_listing_id, example_url) VALUES (?, ?, ?, ?, ?, ?, ?)",
            evidence,
        )
        conn.executemany(  # every run's observation but the last, which the trigger below adds
            "INSERT INTO seller_feedback (seller_id, run_id, recorded_at, feedback_score,"
            " feedback_percent) VALUES (?, ?, ?, ?, 99.0)",
            [(s, r, _iso(when[r]), base[s] + growth[s] * r) for s in in_run if last[s] != r],
        )
        if r % 10 == 0 or r == runs:
            log(f"  run {r}/{runs}: {product_id:,} products")
    conn.executemany(  # the trigger records each seller's latest feedback, as a real run does
        "UPDATE sellers SET feedback_score = ?, feedback_percent = 99.0 WHERE id = ?",
        [(base[s] + growth[s] * last[s], s) for s in first],
    )
    conn.execute("COMMIT")
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("runs", "sellers", "run_products", "run_sellers", "seller_evidence",
                      "seller_feedback")
    }  # fmt: skip
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


def end_to_end(path: Path, out: Path, config: Path) -> float:
    env = dict(os.environ, COLLECTOR_DB=str(path), COLLECTOR_CONFIG=str(config))
    env["PYTHONPATH"] = str(ROOT)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "collector_cli", "report", "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"collector report failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def in_process(path: Path) -> tuple[float, float, int]:
    """(gather seconds, render seconds, page bytes), as the command does them."""
    from collector_cli.insight.report import gather, render
    from collector_cli.ui.runs import run_dict

    store = open_store(path)
    try:
        started = time.perf_counter()
        yield_run = store.export.resolve_run("latest")
        report = gather(store, [run_dict(r) for r in store.runs.list()], yield_run)
        gathered = time.perf_counter()
        page = render(report).encode("utf-8")
        rendered = time.perf_counter()
    finally:
        store.close()
    return gathered - started, rendered - gathered, len(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke: 10 runs, 10,000 sellers")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--sellers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp", default=None, help="directory for the temporary store")
    args = parser.parse_args()
    runs = args.runs or (10 if args.quick else 100)
    sellers = args.sellers or (10_000 if args.quick else 100_000)

    work = Path(tempfile.mkdtemp(prefix="bench-report-", dir=args.tmp))
    try:
        path, config = work / "store.db", work / "config.toml"
        config.write_text("", encoding="utf-8")
        log(f"building a store of {runs} runs and {sellers:,} sellers in {work}")
        started = time.perf_counter()
        counts = build(path, runs, sellers, args.seed)
        built = time.perf_counter() - started
        log(f"built in {built:.1f} s: {counts}")
        e2e, gathers, renders = [], [], []
        size = 0
        for i in range(args.repeat):
            out = work / f"report-{i}.html"
            e2e.append(end_to_end(path, out, config))
            size = out.stat().st_size
            gather_s, render_s, page_bytes = in_process(path)
            gathers.append(gather_s)
            renders.append(render_s)
            log(f"  #{i + 1}: end to end {e2e[-1]:.2f} s, gather {gather_s:.2f} s,"
                f" render {render_s:.2f} s, {page_bytes / MIB:.2f} MiB")  # fmt: skip
        result: dict[str, Any] = {
            "benchmark": "report",
            "runs": runs,
            "sellers": sellers,
            "rows": counts,
            "store_mib": round(path.stat().st_size / MIB, 1),
            "build_store_s": round(built, 1),
            "repeat": args.repeat,
            "report_end_to_end_s": round(statistics.median(e2e), 2),
            "report_end_to_end_all_s": [round(s, 2) for s in e2e],
            "gather_s": round(statistics.median(gathers), 2),
            "render_s": round(statistics.median(renders), 2),
            "build_in_process_s": round(statistics.median(gathers) + statistics.median(renders), 2),
            "file_mib": round(size / MIB, 2),
            "machine": machine(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
