#!/usr/bin/env python3
"""Benchmark #6 (issue 7): what resuming a run interrupted at 90 % costs in requests.

Each repetition, with fresh stores in a temporary directory and the real CLI in
subprocesses (``python -m collector_cli``) on the sample source:

1. baseline: a fresh run of the preset to the end; its ``runs.requests`` is the baseline.
2. ``sigint``: the same preset in another fresh store; this script watches the store and
   sends SIGINT (the Ctrl-C / ``collector stop`` path) as soon as the finished products
   reach 90 % of the baseline's products; then ``collector resume RUN``. The resume's
   requests are ``runs.requests`` after the resume minus before it.
3. ``limit``: the same with ``--max-requests`` = 90 % of the baseline's requests instead of
   a signal (the run ends cleanly at the limit, exit 6), then ``collector resume RUN``.

Both interrupted runs get epoch 1 like the baseline (a fresh store each), so their markets
are identical and the request counts comparable. The sample source runs with some latency
(so a signal can land mid-run) and a small page size (so a product takes several pages and
an interruption can leave one half searched). Target: resume <= 10 % of a fresh run's
requests. Each figure is the median of the repetitions.

Prints one JSON object on stdout; progress lines go to stderr.

    python bench/bench_resume.py            # full: 3 departments, 60 products, 3 pages
    python bench/bench_resume.py --quick    # smoke: 1 department, 30 products
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import log, machine

ROOT = Path(__file__).resolve().parents[1]
PRESET = "bench-resume"
TARGET_RATIO = 0.10
INTERRUPT_AT = 0.90


class Store:
    """One fresh collector store + config in its own directory, driven through the CLI."""

    def __init__(self, root: Path, name: str, args: argparse.Namespace) -> None:
        self.dir = root / name
        self.dir.mkdir()
        self.db = self.dir / "collector.db"
        self.config = self.dir / "config.toml"
        self.config.write_text(
            f"[sources.sample]\nlatency_ms = {args.latency_ms}\npage_size = {args.page_size}\n",
            encoding="utf-8",
        )
        self.env = dict(os.environ)
        self.env.update(
            {
                "COLLECTOR_DB": str(self.db),
                "COLLECTOR_CONFIG": str(self.config),
                "HOME": str(self.dir / "home"),
                "PYTHONPATH": str(ROOT),
            }
        )
        self.stderr_path = self.dir / "stderr.txt"
        cmd = ["preset", "add", PRESET, "--max-products", str(args.max_products),
               "--pages", str(args.pages)]  # fmt: skip
        for dep in args.departments.split(","):
            cmd += ["--department", dep]
        self.cli(cmd, expect=(0,))

    def start(self, cmd: list[str]) -> subprocess.Popen:
        self._err = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "collector_cli", *cmd],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
            start_new_session=True,
        )

    def finish(self, proc: subprocess.Popen, expect: tuple[int, ...], cmd: list[str]) -> int:
        code = proc.wait(timeout=600)
        self._err.close()
        if code not in expect:
            raise RuntimeError(
                f"`collector {' '.join(cmd)}` exited {code}, expected {expect}:\n"
                + self.stderr_path.read_text(encoding="utf-8")[-3000:]
            )
        return code

    def cli(self, cmd: list[str], expect: tuple[int, ...]) -> int:
        return self.finish(self.start(cmd), expect, cmd)

    def run_row(self) -> dict[str, object] | None:
        if not self.db.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return None
        try:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            return dict(row) if row else None
        except sqlite3.Error:
            return None
        finally:
            conn.close()


def finished(row: dict[str, object]) -> int:
    return int(row["products_done"]) + int(row["products_failed"]) + int(row["products_skipped"])


def fresh_run(store: Store) -> dict[str, object]:
    t0 = time.perf_counter()
    store.cli(["run", "--preset", PRESET, "--json"], expect=(0,))
    row = store.run_row()
    assert row and row["status"] == "completed", row
    row["_seconds"] = time.perf_counter() - t0
    return row


def resume(store: Store, run_id: int, before: dict[str, object]) -> dict[str, object]:
    t0 = time.perf_counter()
    store.cli(["resume", str(run_id), "--json"], expect=(0,))
    after = store.run_row()
    assert after and after["status"] == "completed", after
    return {
        "resume_requests": int(after["requests"]) - int(before["requests"]),
        "resume_products": finished(after) - finished(before),
        "resume_seconds": time.perf_counter() - t0,
        "interrupted_requests": int(before["requests"]),
        "interrupted_finished": finished(before),
        "interrupted_status": before["status"],
        "interrupted_reason": before["finish_reason"],
        "total_requests": int(after["requests"]),
        "final_listings": int(after["listings_seen"]),
        "final_sellers": int(after["sellers_found"]),
        "final_products_done": int(after["products_done"]),
        "attempts": int(after["attempts"]),
    }


def interrupted_by_signal(store: Store, products_total: int, poll_s: float) -> dict[str, object]:
    """Start the run, SIGINT it once 90 % of the products are finished, then resume it."""
    cmd = ["run", "--preset", PRESET, "--json"]
    proc = store.start(cmd)
    threshold = INTERRUPT_AT * products_total
    signalled_at = None
    try:
        while proc.poll() is None:
            row = store.run_row()
            if row and row["status"] == "running" and finished(row) >= threshold:
                signalled_at = finished(row)
                os.kill(proc.pid, signal.SIGINT)
                break
            time.sleep(poll_s)
    except BaseException:
        proc.kill()
        raise
    if signalled_at is None:
        store.finish(proc, (0,), cmd)
        raise RuntimeError("the run ended before it could be interrupted: raise --latency-ms")
    store.finish(proc, (130,), cmd)
    before = store.run_row()
    assert before and before["status"] == "cancelled", before
    result = resume(store, int(before["id"]), before)
    result["signalled_at_finished"] = signalled_at
    return result


def interrupted_by_limit(store: Store, max_requests: int) -> dict[str, object]:
    store.cli(
        ["run", "--preset", PRESET, "--json", "--max-requests", str(max_requests)], expect=(6,)
    )
    before = store.run_row()
    assert before and before["status"] == "cancelled", before
    return resume(store, int(before["id"]), before)


def summarize(runs: list[dict[str, object]], fresh: list[dict[str, object]]) -> dict[str, object]:
    ratios = [r["resume_requests"] / int(f["requests"]) for r, f in zip(runs, fresh, strict=True)]
    products_total = [int(f["products_total"]) for f in fresh]
    overhead = [r["total_requests"] - int(f["requests"]) for r, f in zip(runs, fresh, strict=True)]
    ratio = statistics.median(ratios)
    return {
        "resume_requests_median": statistics.median(r["resume_requests"] for r in runs),
        "resume_requests": [r["resume_requests"] for r in runs],
        "ratio_to_fresh": round(ratio, 4),
        "ratio_runs": [round(x, 4) for x in ratios],
        "interrupted_at_fraction": [
            round(r["interrupted_finished"] / t, 4)
            for r, t in zip(runs, products_total, strict=True)
        ],
        "interrupted_at_request_fraction": [
            round(r["interrupted_requests"] / int(f["requests"]), 4)
            for r, f in zip(runs, fresh, strict=True)
        ],
        "interrupted_requests": [r["interrupted_requests"] for r in runs],
        "interrupted_reason": runs[0]["interrupted_reason"],
        "resume_products": [r["resume_products"] for r in runs],
        # Requests of the interrupted attempt that bought nothing: pages of products that
        # were in flight when it stopped, fetched again by the resume.
        "wasted_requests": overhead,
        "wasted_share_of_fresh": [
            round(w / int(f["requests"]), 4) for w, f in zip(overhead, fresh, strict=True)
        ],
        # What the resume would have cost had those pages been kept (page-level checkpoint
        # or letting in-flight products finish on a clean stop).
        "ratio_if_inflight_pages_kept": round(
            statistics.median(
                (r["resume_requests"] - w) / int(f["requests"])
                for r, w, f in zip(runs, overhead, fresh, strict=True)
            ),
            4,
        ),
        "resume_seconds": [round(r["resume_seconds"], 2) for r in runs],
        "same_result_as_fresh": all(
            r["final_listings"] == int(f["listings_seen"])
            and r["final_sellers"] == int(f["sellers_found"])
            and r["final_products_done"] == int(f["products_done"])
            for r, f in zip(runs, fresh, strict=True)
        ),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a small run")
    parser.add_argument("--mode", choices=("sigint", "limit", "both"), default="both")
    parser.add_argument("--departments", default=None, help="comma-separated department ids")
    parser.add_argument("--max-products", type=int, default=None)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=20, help="sample source page size")
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument("--poll", type=float, default=0.02, help="store poll interval (s)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median; >= 3)")
    parser.add_argument("--tmp", default=None, help="directory for the temporary stores")
    args = parser.parse_args()
    if args.departments is None:
        args.departments = "electronics" if args.quick else "electronics,home-kitchen,toys-games"
    if args.max_products is None:
        args.max_products = 30 if args.quick else 60
    if args.latency_ms is None:
        args.latency_ms = 10 if args.quick else 20
    modes = ("sigint", "limit") if args.mode == "both" else (args.mode,)
    repeat = max(3, args.repeat)

    started = time.perf_counter()
    log(
        f"bench_resume: departments={args.departments} max_products={args.max_products}"
        f" pages={args.pages} page_size={args.page_size} latency={args.latency_ms}ms,"
        f" modes {', '.join(modes)}, {repeat} repetitions"
    )
    fresh: list[dict[str, object]] = []
    by_mode: dict[str, list[dict[str, object]]] = {m: [] for m in modes}
    for rep in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="bench-resume-", dir=args.tmp))
        try:
            base = fresh_run(Store(root, "fresh", args))
            fresh.append(base)
            log(
                f"  rep {rep + 1}/{repeat} fresh:  {base['requests']} requests,"
                f" {base['products_total']} products, {base['_seconds']:.1f}s"
            )
            for mode in modes:
                store = Store(root, mode, args)
                if mode == "sigint":
                    r = interrupted_by_signal(store, int(base["products_total"]), args.poll)
                else:
                    r = interrupted_by_limit(store, int(INTERRUPT_AT * int(base["requests"])))
                by_mode[mode].append(r)
                log(
                    f"  rep {rep + 1}/{repeat} {mode:6s}: stopped at"
                    f" {r['interrupted_finished']}/{base['products_total']} products after"
                    f" {r['interrupted_requests']} requests; resume made {r['resume_requests']}"
                    f" requests = {r['resume_requests'] / int(base['requests']):.1%} of fresh"
                )
        finally:
            shutil.rmtree(root, ignore_errors=True)

    result: dict[str, object] = {
        "benchmark": "resume",
        "target": "#6: resuming a run interrupted at 90 % uses <= 10 % of a fresh run's requests",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "params": {
            "departments": args.departments,
            "max_products": args.max_products,
            "pages": args.pages,
            "page_size": args.page_size,
            "latency_ms": args.latency_ms,
            "concurrency": 8,
            "interrupt_at": INTERRUPT_AT,
            "repetitions": repeat,
            "driver": "python -m collector_cli run/resume --json in subprocesses",
        },
        "baseline": {
            "what": "a fresh run's requests (runs.requests), same preset, epoch 1",
            "requests_median": statistics.median(int(f["requests"]) for f in fresh),
            "requests": [int(f["requests"]) for f in fresh],
            "products_total": [int(f["products_total"]) for f in fresh],
            "seconds": [round(f["_seconds"], 2) for f in fresh],
        },
    }
    for mode in modes:
        result[mode] = summarize(by_mode[mode], fresh)
    result["target_met"] = all(result[m]["target_met"] for m in modes)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    for mode in modes:
        m = result[mode]
        log(
            f"bench_resume [{mode}]: resume {m['resume_requests_median']} requests ="
            f" {m['ratio_to_fresh']:.1%} of fresh (target <= {TARGET_RATIO:.0%}:"
            f" {'met' if m['target_met'] else 'MISSED'})"
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
