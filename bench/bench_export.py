#!/usr/bin/env python3
"""Benchmark #4 (export): `collector export --format csv|jsonl|json > file` on stores of 100,000
and 1,000,000 sellers, against the sqlite3 command-line shell writing the same columns from the
same database (`sqlite3 -csv`, a `json_object(...)` query per line, and `sqlite3 -json` for the
one-document format), in the same invocation. Target: at most 1.5 times the shell's time, peak
RSS at most 64 MiB and flat from the small store to the large one.

The stores are built fast but faithfully: `open_store` creates the file and runs the real
migrations, then one `INSERT ... SELECT` over a recursive CTE fills `sellers` (the schema's
triggers fire as they would for real rows), with one completed run the sellers point at.
Names include commas, quotes, non-ASCII letters and a leading `=`, so quoting is exercised.

Each figure is the median of ``--runs`` runs; collector and baseline runs alternate. Peak RSS
is the collector process's own ``ru_maxrss``, through GNU time (/usr/bin/time -f %M).

Usage:  python bench/bench_export.py [--quick] [--runs 3] [--sizes 100000,1000000]
                                    [--formats csv,jsonl,json]
Prints one JSON object on stdout; progress goes to stderr. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import log, machine

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MIB = 1024 * 1024
NOW = "2026-11-24T07:49:31.123+00:00"

# The exporter's columns, in its order (collector_cli/exporters/base.py FIELDS), as SQL.
CSV_COLUMNS = [
    ("name", "name"),
    ("platform", "platform"),
    ("feedback_score", "feedback_score"),
    ("feedback_score_approx",
     "CASE WHEN feedback_score_approx THEN 'true' ELSE 'false' END"),
    ("feedback_percent", "feedback_percent"),
    ("times_seen", "times_seen"),
    ("sightings", "sightings"),
    ("first_seen_run", "first_run_id"),
    ("first_seen_at", "first_seen_at"),
    ("last_seen_run", "last_run_id"),
    ("last_seen_at", "last_seen_at"),
    ("flagged", "CASE WHEN flagged THEN 'true' ELSE 'false' END"),
    ("exported_at", "exported_at"),
]  # fmt: skip
JSON_VALUES = {
    "feedback_score_approx": "json(CASE WHEN feedback_score_approx THEN 'true' ELSE 'false' END)",
    "flagged": "json(CASE WHEN flagged THEN 'true' ELSE 'false' END)",
}
CSV_SQL = (
    "SELECT " + ", ".join(f"{expr} AS {name}" for name, expr in CSV_COLUMNS)
    + " FROM sellers ORDER BY id"
)  # fmt: skip
JSONL_SQL = (
    "SELECT json_object("
    + ", ".join(f"'{name}', {JSON_VALUES.get(name, expr)}" for name, expr in CSV_COLUMNS)
    + ") FROM sellers ORDER BY id"
)  # fmt: skip
# `sqlite3 -json` writes one JSON array of objects; it types values by storage class, so the
# two flags come out as 0/1 rather than false/true (same columns, same work).
JSON_SQL = (
    "SELECT "
    + ", ".join(f"{name if 'CASE' in expr else expr} AS {name}" for name, expr in CSV_COLUMNS)
    + " FROM sellers ORDER BY id"
)  # fmt: skip
TARGET_RATIO = 1.5

FILL_SQL = """
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :n),
named(i, name) AS (
    SELECT i, CASE i % 8
        WHEN 0 THEN 'Smith, Jones & Co ' || i
        WHEN 1 THEN 'Kraków Störe ' || i
        WHEN 2 THEN '"Quoted" shop ' || i
        WHEN 3 THEN '=HYPERLINK("http://x") ' || i
        WHEN 4 THEN 'tech-outlet_us' || i
        WHEN 5 THEN 'Gadget.World ' || i
        WHEN 6 THEN '東京ショップ ' || i
        ELSE 'megashop' || i END
    FROM c
)
INSERT INTO sellers (id, platform, name_key, name, feedback_score, feedback_score_approx,
    feedback_percent, times_seen, sightings, first_run_id, first_seen_at, last_run_id,
    last_seen_at, flagged, exported_at, origin, created_at)
SELECT i, 'ebay', lower(name), name,
    CASE WHEN i % 13 = 0 THEN NULL ELSE (i * 7919) % 500000 END,
    i % 10 = 0,
    CASE WHEN i % 17 = 0 THEN NULL ELSE 90 + (i % 100) / 10.0 END,
    1 + i % 5, 1 + i % 37, 1, :now, 1, :now,
    i % 50 = 0,
    CASE WHEN i % 3 = 0 THEN :now END,
    'run', :now
FROM named
"""


def build_store(path: Path, sellers: int) -> float:
    """A real store (migrations by the product's own code), then sellers by raw SQL."""
    sys.path.insert(0, str(ROOT))
    from collector_cli.store.db import open_store

    start = time.perf_counter()
    open_store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO runs (id, preset_name, preset, status, epoch, started_at,"
        " attempt_started_at, finished_at) VALUES (1, 'bench', '{}', 'completed', 1, ?, ?, ?)",
        (NOW, NOW, NOW),
    )
    conn.execute(FILL_SQL, {"n": sellers, "now": NOW})
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


TIME = shutil.which("time", path="/usr/bin:/bin")


def run_to_file(argv: list[str], out: Path, env: dict[str, str], work: Path) -> dict:
    """Run ``argv > out``; wall time, CPU and peak RSS of that very process.

    Peak RSS comes from GNU time's %M (its own child's ru_maxrss): ``wait4`` here would
    report the high-water mark this (larger) Python process had when it forked the child.
    """
    stats = work / "time.txt"
    wrapped = [TIME, "-o", str(stats), "-f", "%M %U %S", *argv]
    with open(out, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=sink, stderr=subprocess.PIPE, env=env)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise SystemExit(f"{argv[0]} … failed (exit {proc.returncode}): {err}")
    rss_kib, user, system = stats.read_text().split()[-3:]
    rss_mib, cpu = int(rss_kib) / 1024, float(user) + float(system)
    return {"wall_s": wall, "cpu_s": cpu, "max_rss_mib": rss_mib, "bytes": out.stat().st_size}


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def check_outputs(fmt: str, mine: Path, theirs: Path, sellers: int) -> dict:
    """Same rows and the same first values: CSV rows and JSONL objects compared whole, the
    JSON documents' first objects by name (one object per line in both)."""
    want = sellers + (1 if fmt == "csv" else 0)
    lines = (count_lines(mine), count_lines(theirs))
    ok = lines == ((want + 2, want) if fmt == "json" else (want, want))
    if fmt == "json" and ok:
        with open(mine, encoding="utf-8") as a, open(theirs, encoding="utf-8") as b:
            a.readline()  # {"exported_at": …, "sellers": [
            for _ in range(8):
                x = json.loads(a.readline().strip().rstrip(","))
                y = json.loads(b.readline().strip().lstrip("[").rstrip(",").rstrip("]"))
                ok = ok and x["name"] == y["name"] and x["sightings"] == y["sightings"]
    if fmt == "jsonl" and ok:
        with open(mine, encoding="utf-8") as a, open(theirs, encoding="utf-8") as b:
            for _ in range(8):
                x, y = json.loads(a.readline()), json.loads(b.readline())
                ok = ok and x == y
    if fmt == "csv" and ok:
        import csv

        with (
            open(mine, encoding="utf-8", newline="") as a,
            open(theirs, encoding="utf-8", newline="") as b,
        ):
            ra, rb = csv.reader(a), csv.reader(b)
            for _ in range(9):
                ok = ok and next(ra) == next(rb)
    return {"lines": lines[0], "baseline_lines": lines[1], "same_rows": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k sellers")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median; ≥ 3)")
    parser.add_argument("--sizes", default="100000,1000000", help="seller counts")
    parser.add_argument("--formats", default="csv,jsonl,json", help="export formats")
    parser.add_argument("--sqlite3", default=shutil.which("sqlite3") or "sqlite3")
    parser.add_argument("--workdir", help="where the stores go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and outputs")
    parser.add_argument(
        "--no-unbuffered-check",
        action="store_true",
        help="skip the extra CSV runs with PYTHONUNBUFFERED=1 at the largest size",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes = "10000,100000"
    if not shutil.which(args.sqlite3):
        raise SystemExit("the sqlite3 shell is needed: apt-get install -y sqlite3")
    if not TIME:
        raise SystemExit("GNU time is needed for peak RSS: apt-get install -y time")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    baselines = {
        "csv": ["-csv", "-header", CSV_SQL],
        "jsonl": ["-list", "-noheader", JSONL_SQL],
        "json": ["-json", JSON_SQL],
    }

    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.workdir))
    # A clean environment: PYTHONUNBUFFERED=1 (common in containers and CI) makes sys.stdout
    # write through; the export writes fd 1 through its own buffer, which is checked below.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COLLECTOR_")
        and k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
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
    sqlite_version = subprocess.run(
        [args.sqlite3, "--version"], capture_output=True, text=True
    ).stdout.split()[0]
    results = []
    try:
        # What the CLI costs before the first seller: at 100k sellers it is most of the time.
        tiny = work / "sellers-1.db"
        build_store(tiny, 1)
        start = [PY, "-m", "collector_cli", "--db", str(tiny), "export"]
        startup = statistics.median(
            run_to_file(start, work / "out-1.csv", env, work)["wall_s"]
            for _ in range(max(3, args.runs))
        )
        log(f"start-up: collector export of 1 seller {startup:.2f}s (median)")
        for n in sizes:
            db = work / f"sellers-{n}.db"
            built = build_store(db, n)
            log(f"{n:,} sellers: store built in {built:.1f}s ({db.stat().st_size / MIB:.0f} MiB)")
            count_lines(db)  # read the file once, so no run pays for a cold page cache
            for fmt in formats:
                mine, theirs = work / f"out-{n}.{fmt}", work / f"base-{n}.{fmt}"
                collector = [PY, "-m", "collector_cli", "--db", str(db), "export",
                             "--format", fmt]  # fmt: skip
                *mode, sql = baselines[fmt]
                baseline = [args.sqlite3, *mode, str(db), sql]
                ours, base = [], []
                for i in range(args.runs):  # alternate, so drift hits both alike
                    ours.append(run_to_file(collector, mine, env, work))
                    base.append(run_to_file(baseline, theirs, env, work))
                    log(
                        f"  {fmt:<5} run {i + 1}: collector {ours[-1]['wall_s']:.2f}s"
                        f" ({ours[-1]['max_rss_mib']:.1f} MiB), sqlite3"
                        f" {base[-1]['wall_s']:.2f}s ({base[-1]['max_rss_mib']:.1f} MiB)"
                    )
                check = check_outputs(fmt, mine, theirs, n)
                if not check["same_rows"]:
                    log(f"  warning: outputs differ: {check}")

                def med(samples: list[dict], key: str) -> float:
                    return statistics.median(s[key] for s in samples)

                wall, base_wall = med(ours, "wall_s"), med(base, "wall_s")
                results.append(
                    {
                        "sellers": n,
                        "format": fmt,
                        "collector_s": round(wall, 3),
                        "sqlite3_cli_s": round(base_wall, 3),
                        "ratio": round(wall / base_wall, 2),
                        "collector_cpu_s": round(med(ours, "cpu_s"), 2),
                        "collector_peak_rss_mib": round(max(s["max_rss_mib"] for s in ours), 1),
                        "sqlite3_peak_rss_mib": round(max(s["max_rss_mib"] for s in base), 1),
                        "collector_rows_per_s": round(n / wall),
                        "output_mib": round(ours[-1]["bytes"] / MIB, 1),
                        "baseline_output_mib": round(base[-1]["bytes"] / MIB, 1),
                        "check": check,
                        "samples_collector_s": [round(s["wall_s"], 3) for s in ours],
                        "samples_sqlite3_s": [round(s["wall_s"], 3) for s in base],
                    }
                )
                if fmt == "csv" and n == max(sizes) and not args.no_unbuffered_check:
                    unbuffered = [
                        run_to_file(collector, mine, {**env, "PYTHONUNBUFFERED": "1"}, work)
                        for _ in range(args.runs)
                    ]
                    u = med(unbuffered, "wall_s")
                    results[-1]["with_PYTHONUNBUFFERED_1"] = {
                        "collector_s": round(u, 3),
                        "ratio": round(u / base_wall, 2),
                        "note": "sys.stdout writes through; the export writes fd 1 itself,"
                        " a block of lines at a time",
                    }
                    log(f"  csv with PYTHONUNBUFFERED=1: collector {u:.2f}s (median)")
                for path in (mine, theirs):
                    if not args.keep:
                        path.unlink(missing_ok=True)
            if not args.keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    targets: dict[str, bool] = {}
    small, large = min(sizes), max(sizes)
    for r in results:
        if r["sellers"] == large:  # the time target is for the large store
            targets[f"{r['format']}_{r['sellers']}_ratio_le_1_5"] = r["ratio"] <= TARGET_RATIO
        targets[f"{r['format']}_{r['sellers']}_rss_le_64mib"] = r["collector_peak_rss_mib"] <= 64
    flat = {}
    for fmt in formats:
        rss = {r["sellers"]: r["collector_peak_rss_mib"] for r in results if r["format"] == fmt}
        if small in rss and large in rss and small != large:
            growth = rss[large] - rss[small]
            flat[fmt] = {"rss_small_mib": rss[small], "rss_large_mib": rss[large],
                         "growth_mib": round(growth, 1)}  # fmt: skip
            # "the same": within 2 MiB or 5 %, whichever is larger (allocator noise)
            targets[f"{fmt}_rss_flat_{small}_to_{large}"] = growth <= max(2.0, 0.05 * rss[small])
    report = {
        "benchmark": "export (#4)",
        "machine": {**machine(), "sqlite3_cli": sqlite_version},
        "quick": args.quick,
        "runs_per_figure": args.runs,
        "commands": {
            "collector": "python -m collector_cli --db DB export --format csv|jsonl|json > FILE",
            "baseline_csv": f'sqlite3 -csv -header DB "{CSV_SQL}" > FILE',
            "baseline_jsonl": f'sqlite3 -list -noheader DB "{JSONL_SQL}" > FILE',
            "baseline_json": f'sqlite3 -json DB "{JSON_SQL}" > FILE',
        },
        "target": f"ratio ≤ {TARGET_RATIO} at the largest size; peak RSS ≤ 64 MiB and flat",
        "collector_startup_s": round(startup, 3),
        "metric": "wall seconds (median), ratio = collector / sqlite3 CLI; peak RSS = max"
        " ru_maxrss of the collector process over the runs",
        "results": results,
        "rss_growth": flat,
        "targets_met": targets,
        "bench_wall_s": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
