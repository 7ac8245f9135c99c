#!/usr/bin/env python3
"""Benchmark #7 (ranking): `collector sellers rank` over more than a million evidence rows.

The store: ``open_store`` creates it and runs the real migrations, then raw ``sqlite3``
``executemany`` fills it like 20 completed runs would have: 5,000 best-selling products per
run (drawn from a pool of 350 per category, so products recur across runs) in 20 categories
of 5 departments, with product prices (3 % unknown); 100,000 sellers; about 12 sellers per
product in ``seller_evidence`` (drawn Zipf-like, so a few sellers span thousands of products
and most only a few), 1.2 million rows, each with a listings count, a lowest/highest price at
a markup around the seller's own (some steady, some erratic), a 12-digit example listing id
and its eBay URL; and 2-3 ``seller_feedback`` rows per seller, days apart, the last written by
the schema's own trigger, so feedback growth figures exist. ``run_sellers`` is left empty
(ranking does not read it).

Measured in the same invocation, each the median of ``--repeat`` repetitions, alternating:

- real, in-process: ``insight.ranking.rank(store.evidence, Scope())``, every seller ranked
  (the store is opened before the clock starts, a fresh connection each repetition);
- real, CLI: ``python -m collector_cli --db DB sellers rank --limit 20 --json`` as a
  subprocess (interpreter start, imports and JSON output included); peak RSS through GNU time;
- baseline, full: ONE raw SQL query through ``sqlite3`` that computes the whole ranking -
  per seller products, categories, departments, listings, runs seen, the median markup and
  its median absolute deviation (window functions), runs possible, feedback growth, the score
  and the order - and fetches every row. It covers everything the real path does except
  building ``SellerFigures`` objects; its top 20 is checked against the real one;
- baseline, summary: the real path's own aggregation query (``store.evidence._SUMMARY``,
  group_concat of the markups) through raw ``sqlite3``, all rows fetched: the SQL share of
  the real path; the median, spread, growth and score are then Python's.

One more, untimed against anything, splits the real path into its steps (summary query,
feedback pass, figures) to show where its time goes.

Prints one JSON object on stdout; progress lines go to stderr.

    python bench/bench_rank.py            # full: 20 runs x 5,000 products, 100k sellers
    python bench/bench_rank.py --quick    # smoke: 4 runs x 1,000 products, 10k sellers
"""

from __future__ import annotations

import argparse
import gc
import json
import math
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

from collector_cli.insight.figures import figures, growth_by_seller  # noqa: E402
from collector_cli.insight.ranking import rank  # noqa: E402
from collector_cli.store.db import open_store  # noqa: E402
from collector_cli.store.evidence import _SUMMARY, Scope  # noqa: E402

PY = sys.executable
MIB = 1024 * 1024
PLATFORM = "ebay"
ITEM_URL = "https://www.ebay.com/itm/"
FIRST_RUN_AT = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
RUN_INTERVAL = timedelta(days=3, hours=12)
TOP = 20
TIME = shutil.which("time", path="/usr/bin:/bin")


def iso(when: datetime) -> str:
    """The store's timestamp format (db.utcnow)."""
    return when.isoformat(timespec="milliseconds")


# -- the store ------------------------------------------------------------------------------------


def build_store(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A real store (migrations by the product's own code), then runs, products, sellers,
    evidence and feedback by raw SQL. Deterministic from ``args.seed``."""
    start = time.perf_counter()
    open_store(path).close()
    rng = random.Random(args.seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")

    n_runs, n_sellers = args.runs, args.sellers
    categories = [(f"cat-{d}-{c}", f"dep-{d}") for d in range(args.departments)
                  for c in range(args.categories // args.departments)]  # fmt: skip
    per_category = args.products // len(categories)
    pool = per_category * 7 // 5  # best-seller lists churn: 5 of every 7 products per run
    prices = {
        (cat, k): None if rng.random() < 0.03 else int(10 ** rng.uniform(2.7, 4.5)) * 10_000
        for cat, _ in categories
        for k in range(pool)
    }
    run_times = [FIRST_RUN_AT + RUN_INTERVAL * r for r in range(n_runs)]
    conn.executemany(
        "INSERT INTO runs (id, preset_name, preset, status, finish_reason, epoch, started_at,"
        " attempt_started_at, finished_at) VALUES (?, 'bench', '{}', 'completed', 'done', 1,"
        " ?, ?, ?)",
        [(r + 1, iso(t), iso(t), iso(t + timedelta(hours=2))) for r, t in enumerate(run_times)],
    )
    conn.executemany(
        "INSERT INTO run_categories (run_id, category_id, department_id, position, status,"
        " products_found, attempts, updated_at) VALUES (?, ?, ?, ?, 'done', ?, 1, ?)",
        [
            (r + 1, cat, dep, i, per_category, iso(run_times[r]))
            for r in range(n_runs)
            for i, (cat, dep) in enumerate(categories)
        ],
    )

    # Sellers: a markup of their own (most near the product price, some well above) and how
    # steady it is; inserted without feedback (their feedback rows come last, in time order).
    names = [f"{rng.choice(('shop', 'Deals', 'outlet', 'store', 'Mega'))}_{n:06d}"
             for n in range(n_sellers)]  # fmt: skip
    base_markup = [math.exp(rng.gauss(0.05, 0.12)) for _ in range(n_sellers)]
    noise = [rng.choice((0.005, 0.02, 0.05, 0.15)) for _ in range(n_sellers)]
    created = iso(run_times[0])
    conn.executemany(
        "INSERT INTO sellers (id, platform, name_key, name, created_at) VALUES (?, ?, ?, ?, ?)",
        [(n + 1, PLATFORM, name.lower(), name, created) for n, name in enumerate(names)],
    )

    cum = list(accumulate(1.0 / (rank + 50) for rank in range(n_sellers)))
    first_run = [0] * n_sellers
    last_run = [0] * n_sellers
    seen_runs = [0] * n_sellers
    sightings = [0] * n_sellers
    evidence_rows = listings_total = 0
    row_id = item = 0
    for r in range(n_runs):
        run_id, when = r + 1, iso(run_times[r] + timedelta(hours=1))
        products, evidence = [], []
        in_run: set[int] = set()
        for cat, dep in categories:
            for position, k in enumerate(sorted(rng.sample(range(pool), per_category)), 1):
                row_id += 1
                price = prices[(cat, k)]
                want = max(1, round(rng.gauss(args.sellers_per_product, 4)))
                picked: set[int] = set()
                while len(picked) < want:
                    picked.update(rng.choices(range(n_sellers), cum_weights=cum, k=want))
                listings_here = 0
                for sid in sorted(picked)[:want]:
                    listings = 1 if rng.random() < 0.8 else rng.randint(2, 4)
                    low = high = None
                    if price is not None and rng.random() >= 0.02:
                        ratio = max(0.3, base_markup[sid] * (1 + rng.gauss(0, noise[sid])))
                        low = max(1, round(price * ratio / 10_000)) * 10_000
                        cents = rng.randint(0, low // 100_000) if listings > 1 else 0  # <= 10 %
                        high = low + cents * 10_000
                    item += 1
                    listing_id = str(100_000_000_000 + item * 7_919_011 % 900_000_000_000)
                    evidence.append(
                        (row_id, sid + 1, listings, low, high, listing_id, ITEM_URL + listing_id)
                    )
                    listings_here += listings
                    sightings[sid] += listings
                    if sid not in in_run:
                        in_run.add(sid)
                        seen_runs[sid] += 1
                        first_run[sid] = first_run[sid] or run_id
                        last_run[sid] = run_id
                products.append(
                    (row_id, run_id, cat, dep, f"P-{cat}-{k:04d}", position,
                     f"Best seller {k} of {cat}", price, listings_here, len(picked), when)
                )  # fmt: skip
                listings_total += listings_here
        conn.executemany(
            "INSERT INTO run_products (id, run_id, category_id, department_id, product_key, rank,"
            " title, price_micros, status, attempts, pages, listings_seen, sellers_seen,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'done', 1, 2, ?, ?, ?)",
            products,
        )
        conn.executemany("INSERT INTO seller_evidence VALUES (?, ?, ?, ?, ?, ?, ?)", evidence)
        evidence_rows += len(evidence)
        log(f"  run {run_id}/{n_runs}: {len(products):,} products, {evidence_rows:,} evidence rows")

    # Feedback: 1-2 earlier observations a few days apart, inserted in time order, then the
    # seller's current numbers set by UPDATE, whose trigger records the last observation at
    # last_seen_at, as a run would. 5 % never show feedback; 10 % only approximate scores.
    earlier, current = [], []
    for sid in range(n_sellers):
        last_at = run_times[last_run[sid] - 1] if last_run[sid] else run_times[0]
        last_at += timedelta(hours=1)
        if rng.random() < 0.05:
            current.append((None, 0, None, sid))
        else:
            approx = rng.random() < 0.1
            score = int(10 ** rng.uniform(1, 6))
            per_day = score * rng.uniform(0, 0.01)
            percent = round(rng.uniform(95, 100), 1)
            gaps = [rng.uniform(2, 7) for _ in range(rng.randint(1, 2))]
            for days in reversed(list(accumulate(gaps))):  # days before the last, oldest first
                old = max(0, round(score - per_day * days))
                old = round(old, -2) if approx and old >= 10_000 else old
                at = iso(last_at - timedelta(days=days))
                earlier.append((sid + 1, last_run[sid] or None, at, old, int(approx), percent))
            shown = round(score, -2) if approx and score >= 10_000 else score
            current.append((shown, int(approx), percent, sid))
    conn.executemany(
        "INSERT INTO seller_feedback (seller_id, run_id, recorded_at, feedback_score,"
        " feedback_score_approx, feedback_percent) VALUES (?, ?, ?, ?, ?, ?)",
        earlier,
    )
    conn.executemany(
        "UPDATE sellers SET feedback_score = ?, feedback_score_approx = ?, feedback_percent = ?,"
        " times_seen = ?, sightings = ?, first_run_id = ?, first_seen_at = ?, last_run_id = ?,"
        " last_seen_at = ? WHERE id = ?",
        [
            (
                score,
                approx,
                percent,
                seen_runs[sid],
                sightings[sid],
                first_run[sid] or None,
                iso(run_times[first_run[sid] - 1] + timedelta(hours=1)) if first_run[sid] else None,
                last_run[sid] or None,
                iso(run_times[last_run[sid] - 1] + timedelta(hours=1)) if last_run[sid] else None,
                sid + 1,
            )
            for score, approx, percent, sid in current
        ],
    )
    conn.execute(
        "UPDATE runs SET products_done = products_total, listings_seen = (SELECT"
        " sum(listings_seen) FROM run_products p WHERE p.run_id = runs.id),"
        " categories_done = categories_total"
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    feedback_rows = conn.execute("SELECT count(*) FROM seller_feedback").fetchone()[0]
    conn.close()
    return {
        "runs": n_runs,
        "departments": args.departments,
        "categories": len(categories),
        "products_per_run": per_category * len(categories),
        "product_pool": pool * len(categories),
        "run_products": row_id,
        "sellers": n_sellers,
        "sellers_with_evidence": sum(1 for f in first_run if f),
        "evidence_rows": evidence_rows,
        "evidence_listings": listings_total,
        "feedback_rows": feedback_rows,
        "db_mib": round(path.stat().st_size / MIB, 1),
        "build_seconds": round(time.perf_counter() - start, 1),
    }


# -- the contenders -------------------------------------------------------------------------------


def real_in_process(db: Path) -> dict[str, Any]:
    store = open_store(db)
    try:
        gc.collect()
        cpu0, t0 = time.process_time(), time.perf_counter()
        ranked = rank(store.evidence, Scope())
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        store.close()
    top = [(f.seller_id, f.score) for f in ranked[:TOP]]
    return {"seconds": elapsed, "cpu_seconds": cpu, "ranked": len(ranked), "top": top}


def real_cli(db: Path, env: dict[str, str], work: Path) -> dict[str, Any]:
    """The command end to end; peak RSS is the child's own (GNU time %M)."""
    stats = work / "time.txt"
    argv = [PY, "-m", "collector_cli", "--db", str(db), "sellers", "rank",
            "--limit", str(TOP), "--json"]  # fmt: skip
    wrapped = [TIME, "-o", str(stats), "-f", "%M %U %S", *argv] if TIME else argv
    t0 = time.perf_counter()
    done = subprocess.run(wrapped, capture_output=True, env=env, cwd=work)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise SystemExit(f"collector sellers rank failed (exit {done.returncode}): {err}")
    rss = cpu = None
    if TIME:
        rss_kib, user, system = stats.read_text().split()[-3:]
        rss, cpu = int(rss_kib) / 1024, float(user) + float(system)
    rows = json.loads(done.stdout)
    top = [(row["seller_id"], row["score"]) for row in rows]
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mib": rss, "top": top}


# The whole ranking as one query: what SQLite alone can do with the same evidence. Mirrors
# insight/figures.py: markups rounded to 4 places as the summary query does, median and median
# absolute deviation (the mean of the two middle values for an even count), runs possible
# counted from the seller's first run among the runs with evidence, growth from the first and
# last exact feedback scores at least a day apart (else from any scores, flagged approximate).
FULL_SQL = """
WITH ev AS MATERIALIZED (
    SELECT e.seller_id, e.listings, p.product_key, p.category_id, p.department_id, p.run_id,
        CASE WHEN p.price_micros > 0 AND e.price_min_micros IS NOT NULL
            THEN round(CAST(e.price_min_micros AS REAL) / p.price_micros, 4) END AS markup
    FROM seller_evidence e JOIN run_products p ON p.id = e.run_product_id
    WHERE p.status = 'done'
),
agg AS (
    SELECT seller_id, count(DISTINCT product_key) AS products,
        count(DISTINCT category_id) AS categories, count(DISTINCT department_id) AS departments,
        sum(listings) AS listings, count(DISTINCT run_id) AS runs_seen, min(run_id) AS first_run
    FROM ev GROUP BY seller_id HAVING count(DISTINCT product_key) >= 1
),
ranked AS MATERIALIZED (
    SELECT seller_id, markup, count(*) OVER (PARTITION BY seller_id) AS n,
        row_number() OVER (PARTITION BY seller_id ORDER BY markup) AS i
    FROM ev WHERE markup IS NOT NULL
),
med AS (
    SELECT seller_id, avg(markup) AS markup FROM ranked
    WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY seller_id
),
dev AS (
    SELECT r.seller_id, r.n, abs(r.markup - m.markup) AS d,
        row_number() OVER (PARTITION BY r.seller_id ORDER BY abs(r.markup - m.markup)) AS i
    FROM ranked r JOIN med m USING (seller_id)
),
mad AS (
    SELECT seller_id, avg(d) AS spread FROM dev WHERE i IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY seller_id
),
possible AS MATERIALIZED (  -- runs with evidence from each run on
    SELECT run_id, count(*) OVER (ORDER BY run_id DESC) AS possible
    FROM (SELECT DISTINCT run_id FROM ev)
),
fb AS (
    SELECT seller_id, min(id) AS first_any, max(id) AS last_any,
        min(CASE WHEN NOT feedback_score_approx THEN id END) AS first_exact,
        max(CASE WHEN NOT feedback_score_approx THEN id END) AS last_exact
    FROM seller_feedback WHERE feedback_score IS NOT NULL GROUP BY seller_id
),
growth AS (
    SELECT fb.seller_id,
        julianday(le.recorded_at) - julianday(fe.recorded_at) AS exact_days,
        CAST(le.feedback_score - fe.feedback_score AS REAL) AS exact_change,
        julianday(la.recorded_at) - julianday(fa.recorded_at) AS any_days,
        CAST(la.feedback_score - fa.feedback_score AS REAL) AS any_change
    FROM fb JOIN seller_feedback fa ON fa.id = fb.first_any
    JOIN seller_feedback la ON la.id = fb.last_any
    LEFT JOIN seller_feedback fe ON fe.id = fb.first_exact
    LEFT JOIN seller_feedback le ON le.id = fb.last_exact
),
fig AS MATERIALIZED (
    SELECT a.*, m.markup, d.spread, coalesce(r.possible, 0) AS possible,
        CASE WHEN g.exact_days >= 1 THEN g.exact_change / g.exact_days * 30
            WHEN g.any_days >= 1 THEN g.any_change / g.any_days * 30 END AS growth,
        NOT coalesce(g.exact_days >= 1, 0) AND g.any_days >= 1 AS growth_approx
    FROM agg a LEFT JOIN med m USING (seller_id) LEFT JOIN mad d USING (seller_id)
    LEFT JOIN growth g USING (seller_id) LEFT JOIN possible r ON r.run_id = a.first_run
)
SELECT f.seller_id, s.name, s.platform, s.feedback_score, s.feedback_percent, s.flagged,
    f.products, f.categories, f.departments, f.listings, f.markup, f.spread, f.runs_seen,
    max(f.possible, f.runs_seen) AS runs_possible, f.growth, f.growth_approx,
    10 * ln(1 + f.products) * (1 + 0.3 * ln(max(f.categories, 1)))
    * CASE WHEN f.markup IS NULL OR f.markup <= 0 OR f.spread IS NULL THEN 0.5
        ELSE 1 / (1 + 10 * f.spread / f.markup) END
    * (0.5 + 0.5 * CASE WHEN f.possible > 0 THEN CAST(f.runs_seen AS REAL) / f.possible
        ELSE 0 END)
    * CASE WHEN f.growth > 0 THEN min(1.5, 1 + 0.1 * ln(1 + f.growth / 100)) ELSE 1 END
    AS score
FROM fig f JOIN sellers s ON s.id = f.seller_id
ORDER BY score DESC, f.products DESC, lower(s.name), f.seller_id
"""

SUMMARY_SQL = _SUMMARY.format(where="p.status = 'done'")


def baseline(db: Path, sql: str, params: tuple = ()) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA cache_size = -65536")  # what open_store gives the real path
    try:
        gc.collect()
        cpu0, t0 = time.process_time(), time.perf_counter()
        rows = conn.execute(sql, params).fetchall()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        conn.close()
    top = [(row[0], row[-1]) for row in rows[:TOP]] if sql is FULL_SQL else []
    return {"seconds": elapsed, "cpu_seconds": cpu, "rows": len(rows), "top": top}


def breakdown(db: Path) -> dict[str, float]:
    """The real path step by step (what ranking.rank does, timed in pieces)."""
    store = open_store(db)
    repo, scope = store.evidence, Scope()
    try:
        gc.collect()
        t0 = time.perf_counter()
        summaries = list(repo.summaries(scope))
        t1 = time.perf_counter()
        wanted = {row["seller_id"] for row in summaries}
        points = list(repo.feedback_points(None))
        t2 = time.perf_counter()
        growth = growth_by_seller(p for p in points if p["seller_id"] in wanted)
        t3 = time.perf_counter()
        runs = repo.runs_with_evidence(scope)
        t4 = time.perf_counter()
        figures(summaries, runs, growth)
        t5 = time.perf_counter()
    finally:
        store.close()
    return {
        "summary_query_s": round(t1 - t0, 3),
        "feedback_query_s": round(t2 - t1, 3),
        "growth_python_s": round(t3 - t2, 3),
        "runs_with_evidence_s": round(t4 - t3, 3),
        "figures_python_s": round(t5 - t4, 3),
        "total_s": round(t5 - t0, 3),
        "feedback_points": len(points),
    }


def same_top(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> dict[str, Any]:
    ids_a, ids_b = [x[0] for x in a], [x[0] for x in b]
    diffs = [abs(x[1] - y[1]) for x, y in zip(a, b, strict=False) if x[0] == y[0]]
    return {
        "same_order": ids_a == ids_b,
        "common": len(set(ids_a) & set(ids_b)),
        "max_score_diff": round(max(diffs), 6) if diffs else None,
    }


def read_through(path: Path) -> None:
    """Read the file once so no contender pays for a cold OS page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 4 runs x 1,000 products, 10k sellers"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs in the store (20)")
    parser.add_argument("--products", type=int, default=None, help="products per run (5000)")
    parser.add_argument("--sellers", type=int, default=None, help="sellers (100000)")
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--departments", type=int, default=5)
    parser.add_argument("--sellers-per-product", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median; >= 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=None, help="where the store goes (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the store")
    args = parser.parse_args()
    args.runs = args.runs or (4 if args.quick else 20)
    args.products = args.products or (1_000 if args.quick else 5_000)
    args.sellers = args.sellers or (10_000 if args.quick else 100_000)
    if args.categories % args.departments or args.products < args.categories:
        raise SystemExit("--categories must be a multiple of --departments and <= --products")
    repeat = max(3, args.repeat)

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-rank-", dir=args.workdir))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COLLECTOR_") and k not in ("PYTHONUNBUFFERED",)
    }
    env.update(
        {
            "HOME": str(work / "home"),
            "XDG_DATA_HOME": str(work / "home" / "data"),
            "XDG_CONFIG_HOME": str(work / "home" / "config"),
            "COLLECTOR_CONFIG": str(work / "absent.toml"),
            "PYTHONPATH": str(ROOT),
        }
    )
    db = work / "rank.db"
    try:
        log(f"bench_rank: building {args.runs} runs x {args.products:,} products,"
            f" {args.sellers:,} sellers…")  # fmt: skip
        store = build_store(db, args)
        log(f"  {store['evidence_rows']:,} evidence rows, {store['feedback_rows']:,} feedback"
            f" rows, {store['db_mib']} MiB, built in {store['build_seconds']}s")  # fmt: skip
        read_through(db)

        samples: dict[str, list[dict[str, Any]]] = {k: [] for k in ("real", "cli", "full", "sum")}
        contenders = {
            "real": lambda: real_in_process(db),
            "cli": lambda: real_cli(db, env, work),
            "full": lambda: baseline(db, FULL_SQL),
            "sum": lambda: baseline(db, SUMMARY_SQL, (1,)),
        }
        for rep in range(repeat):
            order = list(contenders) if rep % 2 == 0 else list(reversed(contenders))
            for which in order:
                r = contenders[which]()
                samples[which].append(r)
                rss = f"  peak RSS {r['peak_rss_mib']:.0f} MiB" if r.get("peak_rss_mib") else ""
                log(f"  rep {rep + 1}/{repeat} {which:4s} {r['seconds']:7.2f}s"
                    f"  cpu {r['cpu_seconds'] or 0:.2f}s{rss}")  # fmt: skip
        steps = breakdown(db)
        log(f"  real path by step: {steps}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"  kept {db}")

    def med(which: str) -> float:
        return statistics.median(s["seconds"] for s in samples[which])

    def figure(which: str) -> dict[str, Any]:
        return {
            "seconds_median": round(med(which), 3),
            "seconds": [round(s["seconds"], 3) for s in samples[which]],
            "cpu_seconds": [
                None if s["cpu_seconds"] is None else round(s["cpu_seconds"], 3)
                for s in samples[which]
            ],
        }

    real_s, cli_s, full_s, sum_s = med("real"), med("cli"), med("full"), med("sum")
    rss = [s["peak_rss_mib"] for s in samples["cli"] if s["peak_rss_mib"] is not None]
    ratio = real_s / full_s
    # The same from CPU seconds: less disturbed when other processes share the cores.
    ratio_cpu = statistics.median(s["cpu_seconds"] for s in samples["real"]) / statistics.median(
        s["cpu_seconds"] for s in samples["full"]
    )
    result = {
        "benchmark": "rank",
        "target": "none set; > 3 x the one-query SQL baseline would call for a profile",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "params": {**store, "repetitions": repeat, "seed": args.seed, "top": TOP},
        "real": {
            "what": "insight.ranking.rank(store.evidence, Scope()) in-process, every seller",
            "ranked_sellers": samples["real"][0]["ranked"],
            **figure("real"),
        },
        "cli": {
            "what": f"python -m collector_cli --db DB sellers rank --limit {TOP} --json",
            **figure("cli"),
            "peak_rss_mib": round(max(rss), 1) if rss else None,
            "peak_rss_mib_samples": [round(x, 1) for x in rss],
        },
        "baseline": {
            "what": "ONE raw SQL query computing the whole ranking (aggregates, median markup"
            " and its MAD by window functions, runs possible, feedback growth, score, order),"
            " every row fetched through sqlite3, cache_size=-65536",
            "rows": samples["full"][0]["rows"],
            **figure("full"),
        },
        "baseline_summary": {
            "what": "the real path's own summary query (store.evidence._SUMMARY, markups as"
            " group_concat), every row fetched through sqlite3: SQL only; median, spread,"
            " growth and score are left to Python",
            "rows": samples["sum"][0]["rows"],
            **figure("sum"),
        },
        "ratio": round(ratio, 2),
        "ratio_cpu": round(ratio_cpu, 2),
        "ratio_cli": round(cli_s / full_s, 2),
        "ratio_to_summary_query": round(real_s / sum_s, 2),
        "real_breakdown": steps,
        "check": {
            "top_vs_cli": same_top(samples["real"][0]["top"], samples["cli"][0]["top"]),
            "top_vs_sql_baseline": same_top(samples["real"][0]["top"], samples["full"][0]["top"]),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    log(
        f"bench_rank: real {real_s:.2f}s (CLI {cli_s:.2f}s, peak RSS"
        f" {result['cli']['peak_rss_mib']} MiB) vs one SQL query {full_s:.2f}s = {ratio:.2f}x"
        f" (by CPU seconds {ratio_cpu:.2f}x);"
        f" summary query alone {sum_s:.2f}s"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
