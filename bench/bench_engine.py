#!/usr/bin/env python3
"""Benchmark #2 (issue 7): engine overhead, a whole run on the sample source at zero latency.

A preset over every department (75 categories), 100 products per category, up to 5 result
pages per product (about a quarter of a million listings) runs through
``collector_cli.engine.lifecycle.start_new`` with a silent reporter, against a fresh store in
a temporary directory, with a config file setting ``[sources.sample] latency_ms = 0``
(COLLECTOR_CONFIG / COLLECTOR_DB point into the temporary directory).

Each repetition runs in its own child process (this script with ``--worker``), so no
repetition inherits another's warm caches or garbage. The clock covers ``start_new`` only:
creating the run, listing categories, searching, committing and finishing; not the
interpreter start or opening the store. CPU is the worker's user + system time over the same
span (all its threads, the DB thread included), from ``resource.getrusage``.

Target: >= 20,000 listings/s end to end; CPU per listing reported. No baseline (the issue
names none for this row). Each figure is the median of the repetitions.

Prints one JSON object on stdout; progress lines go to stderr.

    python bench/bench_engine.py            # full: all departments, 100 products, 5 pages
    python bench/bench_engine.py --quick    # smoke: one department, 20 products, 2 pages
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import log, machine

ROOT = Path(__file__).resolve().parents[1]
TARGET_LISTINGS_PER_S = 20_000


# -- worker (one repetition, in its own process) --------------------------------------------------


class SilentReporter:
    """The Reporter protocol with nothing behind it: the engine's cost alone."""

    def start(self, stats) -> None:  # type: ignore[no-untyped-def]
        pass

    def event(self, event, stats) -> None:  # type: ignore[no-untyped-def]
        pass

    def finish(self, summary) -> None:  # type: ignore[no-untyped-def]
        pass

    def abort(self) -> None:
        pass


def worker(args: argparse.Namespace) -> None:
    import resource

    sys.path.insert(0, str(ROOT))
    from collector_cli import taxonomy
    from collector_cli.engine import lifecycle
    from collector_cli.engine.resolve import resolve
    from collector_cli.models import Filters, Preset
    from collector_cli.store.db import open_store

    if args.departments == "all":
        departments = [d.id for d in taxonomy.departments()]
    else:
        departments = [d for d in args.departments.split(",") if d]
    preset = Preset(
        name="bench-engine",
        departments=departments,
        filters=Filters(max_products=args.max_products, pages=args.pages),
        product_source="sample",
        listing_source="sample",
        source_options={"sample": {"latency_ms": 0}},
    )
    store = open_store(os.environ["COLLECTOR_DB"])
    try:
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = usage0.ru_utime + usage0.ru_stime
        t0 = time.perf_counter()
        summary = lifecycle.start_new(
            store, resolve(preset, concurrency=args.concurrency), SilentReporter()
        )
        wall = time.perf_counter() - t0
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage1.ru_utime + usage1.ru_stime - cpu0
        commits = store.conn.execute(
            "SELECT count(DISTINCT updated_at) FROM run_products WHERE run_id = ?"
            " AND status = 'done'",
            (summary.run_id,),
        ).fetchone()[0]
    finally:
        store.close()
    c = summary.counters
    print(
        json.dumps(
            {
                "status": summary.status,
                "finish_reason": summary.finish_reason,
                "seconds": wall,
                "cpu_seconds": cpu,
                "listings": c["listings_seen"],
                "products_done": c["products_done"],
                "products_total": c["products_total"],
                "requests": c["requests"],
                "sellers_found": c["sellers_found"],
                "categories": c["categories_total"],
                "commits_approx": commits,
                "max_rss_mib": round(usage1.ru_maxrss / 1024, 1),
            }
        )
    )


def run_worker(args: argparse.Namespace, tmp: str | None) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-engine-", dir=tmp))
    try:
        config = workdir / "config.toml"
        config.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
        env = dict(os.environ)
        env.update(
            {
                "COLLECTOR_CONFIG": str(config),
                "COLLECTOR_DB": str(workdir / "collector.db"),
                "HOME": str(workdir / "home"),
                "PYTHONPATH": str(ROOT),
            }
        )
        cmd = [
            sys.executable, __file__, "--worker",
            "--departments", args.departments,
            "--max-products", str(args.max_products),
            "--pages", str(args.pages),
            "--concurrency", str(args.concurrency),
        ]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a small run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--departments", default=None, help="comma-separated ids, or 'all'")
    parser.add_argument("--max-products", type=int, default=None)
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median; >= 3)")
    parser.add_argument("--tmp", default=None, help="directory for the temporary stores")
    args = parser.parse_args()
    if args.departments is None:
        args.departments = "electronics" if args.quick else "all"
    if args.max_products is None:
        args.max_products = 20 if args.quick else 100
    if args.pages is None:
        args.pages = 2 if args.quick else 5
    if args.worker:
        worker(args)
        return

    started = time.perf_counter()
    repeat = max(3, args.repeat)
    log(
        f"bench_engine: departments={args.departments} max_products={args.max_products}"
        f" pages={args.pages} concurrency={args.concurrency}, {repeat} repetitions"
    )
    runs = []
    for rep in range(repeat):
        r = run_worker(args, args.tmp)
        if r["status"] != "completed":
            raise RuntimeError(f"run did not complete: {r}")
        runs.append(r)
        log(
            f"  rep {rep + 1}/{repeat}: {r['listings']:,} listings in {r['seconds']:.2f}s"
            f" = {r['listings'] / r['seconds']:,.0f}/s, cpu {r['cpu_seconds']:.2f}s"
            f" = {1e6 * r['cpu_seconds'] / r['listings']:.1f} µs/listing,"
            f" {r['requests']:,} requests, {r['products_done']:,} products"
        )
    rates = [r["listings"] / r["seconds"] for r in runs]
    cpu_per = [r["cpu_seconds"] / r["listings"] for r in runs]
    rate = statistics.median(rates)
    result = {
        "benchmark": "engine",
        "target": "#2: >= 20,000 listings/s end to end on the sample source at zero latency",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "params": {
            "departments": args.departments,
            "categories": runs[0]["categories"],
            "max_products": args.max_products,
            "pages": args.pages,
            "concurrency": args.concurrency,
            "latency_ms": 0,
            "repetitions": repeat,
            "driver": "lifecycle.start_new in a child process, silent reporter",
        },
        "listings": runs[0]["listings"],
        "products_done": runs[0]["products_done"],
        "requests": runs[0]["requests"],
        "sellers_found": runs[0]["sellers_found"],
        "listings_per_s": round(rate),
        "listings_per_s_runs": [round(x) for x in rates],
        "seconds_median": round(statistics.median(r["seconds"] for r in runs), 3),
        "seconds": [round(r["seconds"], 3) for r in runs],
        "cpu_seconds": [round(r["cpu_seconds"], 3) for r in runs],
        "cpu_us_per_listing": round(1e6 * statistics.median(cpu_per), 2),
        "cpu_us_per_listing_runs": [round(1e6 * x, 2) for x in cpu_per],
        "commits_approx": [r["commits_approx"] for r in runs],
        "max_rss_mib": [r["max_rss_mib"] for r in runs],
        "target_listings_per_s": TARGET_LISTINGS_PER_S,
        "ratio_to_target": round(rate / TARGET_LISTINGS_PER_S, 3),
        "target_met": rate >= TARGET_LISTINGS_PER_S,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    log(
        f"bench_engine: {rate:,.0f} listings/s, {result['cpu_us_per_listing']} µs CPU/listing"
        f" (target >= {TARGET_LISTINGS_PER_S:,}/s: {'met' if result['target_met'] else 'MISSED'})"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
