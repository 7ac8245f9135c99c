"""Run every benchmark and write docs/benchmarks.md (and the raw JSON beside it).

    python bench/run_all.py            # full figures (about 10 minutes on 2 cores)
    python bench/run_all.py --quick    # a smoke run of every script

Each script measures its own baseline in the same invocation and reports medians of at least
three runs; this file only runs them one after another (never in parallel: they would disturb
each other) and renders the figures against the targets of the benchmark issue.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCRIPTS = ["store", "engine", "network", "export", "startup", "resume", "rank", "report"]


def run(name: str, quick: bool) -> dict:
    command = [sys.executable, str(ROOT / "bench" / f"bench_{name}.py")]
    if quick:
        command.append("--quick")
    print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_{name}.py failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    result["_command"] = " ".join(["python", f"bench/bench_{name}.py", *command[2:]])
    result["_seconds"] = round(time.perf_counter() - began, 1)
    return result


def versions() -> str:
    import importlib.metadata as md

    names = ["collector-cli", "aiohttp", "typer", "rich", "sqlite-utils", "croniter"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            continue
    import sqlite3

    return ", ".join([f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}",
                      *found])  # fmt: skip


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(results: dict[str, dict]) -> list[str]:
    """One table row per figure: what, figure, baseline, ratio, target, verdict."""
    out = []
    r = results.get("store")
    if r:
        out.append(f"| 1 store: 1M sightings / 300k sellers through the real store code |"
                   f" {r['real']['sightings_per_s']:,.0f}/s |"
                   f" raw executemany, one transaction, 64 MiB cache: "
                   f"{r['baseline']['sightings_per_s']:,.0f}/s | {r['ratio']:.2f} |"
                   f" ≥ 0.5 | {mark(r['target_met'])} |")  # fmt: skip
    r = results.get("engine")
    if r:
        out.append(f"| 2 engine: sample source, zero latency, {r['listings']:,} listings |"
                   f" {r['listings_per_s']:,}/s; {r['cpu_us_per_listing']} µs CPU per listing |"
                   f" — | — | ≥ 20,000/s | {mark(r['target_met'])} |")  # fmt: skip
    r = results.get("network")
    if r:
        for point in r["results"]:
            limit = f", rate {point['rate_limit']}/s" if point.get("rate_limit") else ""
            verdict = mark(point["ratio_to_bound"] >= 0.9) if point["concurrency"] in (16, 64) \
                and not point.get("rate_limit") else "(shown)"  # fmt: skip
            figure = f"{point['search_rps']:,} req/s | bound {point['bound_rps']:,} req/s"
            out.append(f"| 3 network: emulators at {r['latency_ms']:g} ms, concurrency"
                       f" {point['concurrency']}{limit}, {point['products']:,} products |"
                       f" {figure} | {point['ratio_to_bound']:.2f} | ≥ 0.9 at 16 and 64 |"
                       f" {verdict} |")  # fmt: skip
    r = results.get("export")
    if r:
        for point in r["results"]:
            ok = point["ratio"] <= 2
            out.append(f"| 4 export {point['format']}, {point['sellers']:,} sellers |"
                       f" {point['collector_s']} s, peak RSS {point['collector_peak_rss_mib']}"
                       f" MiB | sqlite3 CLI {point['sqlite3_cli_s']} s | {point['ratio']:.2f} |"
                       f" ≤ 2 × CLI; RSS ≤ 64 MiB, flat | time {mark(ok)}, RSS"
                       f" {mark(point['collector_peak_rss_mib'] <= 64)} |")  # fmt: skip
    r = results.get("startup")
    if r:
        names = {"bare_typer_help": "bare Typer `--help`",
                 "bare_typer_command": "bare Typer command with int/str/Path options"}  # fmt: skip
        for key, label in (("collector_help", "`collector --help`"),
                           ("collector_history", "`collector history`, empty store")):  # fmt: skip
            point = r["results"][key]
            # results saved before the option-bearing baseline compared with bare --help
            point.setdefault("baseline", "bare_typer_help")
            point.setdefault("ratio_to_baseline", point.get("ratio_to_bare_typer", 0))
            base = r["results"][point["baseline"]]["median_ms"]
            out.append(f"| 5 start-up: {label} | {point['median_ms']} ms |"
                       f" {names[point['baseline']]} {base} ms |"
                       f" {point['ratio_to_baseline']:.2f} | ≤ 1.2 |"
                       f" {mark(point['ratio_to_baseline'] <= 1.2)} |")  # fmt: skip
    r = results.get("resume")
    if r:
        for mode in ("sigint", "limit"):
            if mode in r:
                m = r[mode]
                how = "Ctrl-C" if mode == "sigint" else "--max-requests"
                verdict = mark(m["target_met"])
                out.append(f"| 6 resume after an interruption at 90 % ({how}) |"
                           f" {m['resume_requests_median']:,} requests | fresh run"
                           f" {r['baseline']['requests_median']:,} requests |"
                           f" {m['ratio_to_fresh']:.3f} | ≤ 0.10 | {verdict} |")  # fmt: skip
    r = results.get("rank")
    if r:
        p = r["params"]
        out.append(f"| 7 rank: `sellers rank` over {p['evidence_rows']:,} evidence rows,"
                   f" {r['real']['ranked_sellers']:,} sellers ranked |"
                   f" {r['real']['seconds_median']} s in-process; CLI"
                   f" {r['cli']['seconds_median']} s, peak RSS {r['cli']['peak_rss_mib']} MiB |"
                   f" the whole ranking as one SQL query: {r['baseline']['seconds_median']} s |"
                   f" {r['ratio']:.2f} | — | (shown) |")  # fmt: skip
    r = results.get("report")
    if r:
        out.append(f"| 8 report: `collector report`, {r['runs']} runs, {r['sellers']:,} sellers,"
                   f" {r['rows']['seller_evidence']:,} evidence rows | {r['report_end_to_end_s']} s"
                   f" end to end ({r['gather_s']} s gathering, {r['render_s']} s rendering),"
                   f" {r['file_mib']} MiB | — | — | — | (shown) |")  # fmt: skip
    return out


def render(results: dict[str, dict], quick: bool) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    import os

    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} on {os.cpu_count()} cores ({cpu()}), {platform.platform()};"
        f" {versions()}." + (" **Quick mode: smoke figures only.**" if quick else ""),
        "",
        "Every figure is the median of at least three runs, beside a baseline measured in the"
        " same invocation; ratios are figure / baseline. Regenerate with"
        " `python bench/run_all.py` (raw results: `docs/bench-results/*.json`).",
        "",
        "| # what | figure | baseline (same run) | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
        *rows(results),
        "",
        "## Commands",
        "",
    ]
    for result in results.values():
        lines.append(f"- `{result['_command']}` ({result['_seconds']} s)")
    lines += ["", "## Notes", "", NOTES.strip(), ""]
    return "\n".join(lines)


NOTES = """
- **Store (#1).** The real path commits groups of finished products (one transaction each, a
  product never split) with triggers and the per-run tables; the baseline sends the same four
  statements (seller and run_sellers upserts, seller evidence, product update) in one
  transaction. The listings carry ids, URLs and varied prices, so the evidence stored is a
  real run's; the JSON gives its size per listing sighting (`bytes_per_sighting`, by dbstat).
  The store opens with a 64 MiB page cache and checkpoints the WAL every 10,000 pages: that
  took the ratio from 0.53 to about 0.85 on this machine (three statements, before evidence).
- **Network (#3).** The emulators run in a separate process with 50 ms added to every request;
  the metric is eBay searches over the search phase as the server saw it. `replay` in the raw
  results is a bare aiohttp client sending the same searches: the collector matches it.
- **Export (#4), time target missed, with the reason.** Peak memory meets the target (about
  41 MiB at 100k and at 1M: the export reads with a small page cache). Time does not: merely
  fetching the 13 columns of 1M rows through Python's sqlite3 module takes about as long as the
  whole `sqlite3 -csv` export, so ≤ 2× would need the rows formatted inside SQLite. The collector
  keeps its exact CSV (RFC 4180, `--excel` neutralizing) and JSON formats instead; it writes
  about 180k rows/s.
- **Start-up (#5).** typer (>= 0.25) converts every non-bool option value through a pydantic
  TypeAdapter, so any Typer app whose command has options imports pydantic. `collector history`
  is compared with a bare Typer app running a command with the same kinds of options (a root
  `--db PATH`, an int, a str, a flag), so both pay for it; nothing of typer's internals is
  patched (the private hook of 0.29 that skipped pydantic is gone). Heavy modules of our own
  (aiohttp, croniter, python-crontab, apprise, sqlite-utils, selectolax, plotly) are not
  imported by either command (`tests/test_cli_startup.py` checks it).
- **Resume (#6), borderline by construction.** The resume searches exactly the products not
  finished; the overshoot (about 0.5 % of a fresh run) is the pages of products that were in
  flight when the run stopped, which a clean stop (Ctrl-C within a second) discards. Stopping
  at 90 % leaves 10 % by definition, so the target cannot hold with any product in flight.
- **Measured under load (#1, #7, #8), 2026-12-02.** The store, rank and report figures were
  taken while other test suites kept the load average at 4 to 11 on the 2 cores, so their
  absolute times are 2 to 7 times the idle ones (the report took 6.4 s end to end on a quieter
  run the same day); the ratios are measured within one invocation, alternating real and
  baseline, and hold better. The evidence costs 81.9 bytes per listing seen (92.6 per evidence
  row, its index included). The report is one self-contained file of 5.05 MiB, of which
  plotly.js is about 4.8 MB.
- **Rank (#7).** A store of 20 runs × 5,000 products, 100k sellers and 1.2M evidence rows, built
  by raw SQL on the real schema. The baseline computes the whole ranking (median markup and its
  spread by window functions, growth, score, order) in one query; the real path runs one
  aggregation query and does the median, growth and score in Python. `real_breakdown` in the raw
  results shows where its time goes.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=SCRIPTS)
    parser.add_argument(
        "--render", action="store_true", help="only re-render the page from the saved results"
    )
    args = parser.parse_args()
    out_dir = DOCS / "bench-results"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for name in [] if args.render else args.only or SCRIPTS:
        results[name] = run(name, args.quick)
        (out_dir / f"{name}.json").write_text(json.dumps(results[name], indent=2) + "\n")
    if args.only or args.render:  # re-render with the other figures already on disk
        for name in SCRIPTS:
            path = out_dir / f"{name}.json"
            if name not in results and path.exists():
                results[name] = json.loads(path.read_text())
        results = {name: results[name] for name in SCRIPTS if name in results}
    (DOCS / "benchmarks.md").write_text(render(results, args.quick))
    print(f"wrote {DOCS / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
