"""The test suite under load: both cores kept busy while the README's test command runs.

A suite that passes only on an idle machine fails CI by chance. This script starts one
busy-loop process per core (plain `while True: pass`, normal priority), then

1. runs the README's test command ``--suite-runs`` times in a row, and
2. runs the tests that used to race the clock ``--repeat`` times each,

and prints every pytest summary line, plus one JSON object on stdout with the counts. The busy
loops are killed however the script ends. Exit status: 0 when every run passed.

    python bench/stress_suite.py                    # 3 suite runs, 20 x the named tests
    python bench/stress_suite.py --suite-runs 0 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import log, machine

ROOT = Path(__file__).resolve().parents[1]
# The four tests that failed under load before the suite synchronised on observable state.
RACED = [
    "tests/test_export.py::test_ctrl_c_while_writing_leaves_no_file",
    "tests/test_lifecycle_cli.py::test_reads_while_a_run_writes_never_see_a_lock",
    "tests/test_lifecycle_cli.py::test_watch_follows_a_run_and_sigint_only_detaches",
    "tests/test_lifecycle_cli.py::test_max_new_sellers_ends_the_run_well_before_the_end",
]
SUMMARY_RE = re.compile(r"^=*\s*(\d+ (passed|failed).*) in [\d.]+s.*$")


def busy_loops(count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(count)
    ]


def pytest(args: list[str]) -> tuple[bool, str, float]:
    """One pytest run: (passed, its summary line, seconds)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if SUMMARY_RE.match(line)), "")
    if done.returncode != 0:
        failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        log("\n".join(failures) or done.stdout[-3000:] + done.stderr[-2000:])
    return done.returncode == 0, summary.strip("= ") or f"exit {done.returncode}", took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite-runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy loops")
    parser.add_argument("--workers", default="auto", help="pytest-xdist -n for suite runs")
    opts = parser.parse_args()

    result: dict[str, object] = {"machine": machine(), "busy_loops": opts.busy}
    loops = busy_loops(opts.busy)
    log(f"{opts.busy} busy loops started: pids {[p.pid for p in loops]}")
    ok = True
    try:
        suites = []
        for n in range(1, opts.suite_runs + 1):
            passed, summary, took = pytest(["-n", opts.workers])
            ok &= passed
            suites.append({"passed": passed, "summary": summary, "seconds": round(took, 1)})
            log(f"suite run {n}/{opts.suite_runs}: {summary} ({took:.0f} s under load)")
        result["suite_runs"] = suites

        repeats: dict[str, dict[str, int]] = {test: {"passed": 0, "failed": 0} for test in RACED}
        for n in range(1, opts.repeat + 1):
            for test in RACED:
                passed, summary, _ = pytest(["-n", "0", test])
                repeats[test]["passed" if passed else "failed"] += 1
                ok &= passed
            log(f"repeat {n}/{opts.repeat}: " + ", ".join(
                f"{t.split('::')[1]} {c['passed']}/{n}" for t, c in repeats.items()
            ))  # fmt: skip
        result["repeats"] = repeats
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        log("busy loops stopped")
    result["all_passed"] = ok
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
