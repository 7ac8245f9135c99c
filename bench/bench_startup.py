#!/usr/bin/env python3
"""Benchmark #5 (start-up): `collector --help` and `collector history` on an empty store,
against a bare Typer app run by the same interpreter, in the same invocation.

The baseline for `collector history` is the bare app running a command that has the same
kinds of options (a root `--db PATH`, then an int, a str and a flag): typer (>= 0.25) converts
option values through pydantic, and a bare app with options pays for that import too. The
baseline for `collector --help` is the bare app's `--help`.

Every command is run ``--runs`` times (≥ 10), round-robin so drift hits all alike, after one
untimed warm-up each (bytecode caches written, the empty store created and migrated). The
figure is the median wall time of the whole process, start to exit.

It also runs each collector command once under ``python -X importtime`` and reports which
heavy modules it imported (HTTP client, cron, crontab, notifications, sqlite-utils, HTML
parser: they belong only to the commands that use them) and the biggest imports by
cumulative time.

Usage:  python bench/bench_startup.py [--quick] [--runs 15]
Prints one JSON object on stdout; progress goes to stderr. Not part of the test suite.
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
PY = sys.executable

# Modules the issue names (must not be imported by --help / history) …
HEAVY = {
    "aiohttp": "HTTP client (real sources)",
    "croniter": "croniter (schedules)",
    "crontab": "python-crontab (schedules)",
    "apprise": "apprise (notifications)",
    "sqlite_utils": "sqlite-utils (migrations only)",
    "selectolax": "selectolax (eBay HTML pages)",
}
# … and others worth knowing about, reported but not part of the target.
NOTABLE = ["aiolimiter", "cron_descriptor", "psutil", "pyperclip", "tenacity", "tomli_w",
           "platformdirs", "rich", "rich.console", "rich.table", "rich.live", "asyncio",
           "sqlite3", "typer", "click", "collector_cli.engine", "collector_cli.sources",
           "collector_cli.schedule", "collector_cli.ui"]  # fmt: skip

BARE_APP = '''\
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="A bare Typer app: the start-up baseline.")


@app.callback()
def root(db: Annotated[Path | None, typer.Option("--db")] = None) -> None:
    """Global options, like collector's --db."""


@app.command()
def hello(
    name: str = "world",
    count: int = 1,
    status: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Say hello (an int, a str, an optional str and a flag, like `collector history`)."""
    for _ in range(count):
        typer.echo(f"hello {name}")


@app.command()
def bye(name: str = "world") -> None:
    """Say goodbye."""
    typer.echo(f"bye {name}")


if __name__ == "__main__":
    app()
'''


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return wall


def imports(argv: list[str], env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """module -> (self µs, cumulative µs) from -X importtime."""
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True
    )
    found: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        found[name.strip()] = (int(self_us), int(cumulative))
    return found


def heavy_report(found: dict[str, tuple[int, int]]) -> dict:
    def has(prefix: str) -> bool:
        return any(m == prefix or m.startswith(prefix + ".") for m in found)

    heavy = [name for name in HEAVY if has(name)]
    top = sorted(
        ((name, cum) for name, (_, cum) in found.items() if "." not in name),
        key=lambda x: -x[1],
    )[:12]
    return {
        "heavy_imported": heavy,
        "heavy_not_imported": [name for name in HEAVY if name not in heavy],
        "notable_imported": [name for name in NOTABLE if name in found],
        "modules": len(found),
        "top_level_by_cumulative_ms": {name: round(us / 1000, 1) for name, us in top},
        "collector_cli_modules": sorted(m for m in found if m.startswith("collector_cli")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs each")
    parser.add_argument("--runs", type=int, default=20, help="runs per command (median; ≥ 10)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 10

    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        bare = work / "bare_app.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTOR_")}
        env.update(
            {
                "HOME": str(work / "home"),
                "XDG_DATA_HOME": str(work / "home" / "data"),
                "XDG_CONFIG_HOME": str(work / "home" / "config"),
                "COLLECTOR_DB": str(work / "store" / "collector.db"),
                "COLLECTOR_CONFIG": str(work / "absent.toml"),
                "PYTHONPATH": str(ROOT),
                "COLUMNS": "100",
            }
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # let the warm-up write .pyc files
        env.pop("PYTHONUNBUFFERED", None)
        script = shutil.which("collector", path=str(Path(PY).parent))
        commands = {
            "bare_typer_help": [PY, str(bare), "--help"],
            # the baseline of `collector history`: a command with the same kinds of options
            # (typer >= 0.25 builds pydantic TypeAdapters for them; --help does not)
            "bare_typer_command": [
                PY,
                str(bare),
                "--db",
                str(work / "x.db"),
                "hello",
                "--count",
                "1",
            ],
            "collector_help": [PY, "-m", "collector_cli", "--help"],
            "collector_history": [PY, "-m", "collector_cli", "history"],
        }
        if script:  # the installed console script, as users run it (informational)
            commands["collector_help_script"] = [script, "--help"]
        for argv in commands.values():  # warm-up: .pyc written, store created + migrated
            timed(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env))
        medians = {name: statistics.median(s) for name, s in samples.items()}
        for name, s in samples.items():
            log(f"{name:<22} median {1000 * medians[name]:6.1f} ms"
                f"  (min {1000 * min(s):.1f}, max {1000 * max(s):.1f})")  # fmt: skip

        imported = {
            name: heavy_report(imports(commands[name], env))
            for name in (
                "collector_help",
                "collector_history",
                "bare_typer_help",
                "bare_typer_command",
            )
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    baselines = {"collector_history": "bare_typer_command"}  # the rest: bare --help
    results = {
        name: {
            "median_ms": round(1000 * medians[name], 1),
            "baseline": baselines.get(name, "bare_typer_help"),
            "ratio_to_baseline": round(
                medians[name] / medians[baselines.get(name, "bare_typer_help")], 3
            ),
            "samples_ms": [round(1000 * x, 1) for x in samples[name]],
        }
        for name in commands
    }
    targets = {
        "help_le_1.2x": results["collector_help"]["ratio_to_baseline"] <= 1.2,
        "history_le_1.2x": results["collector_history"]["ratio_to_baseline"] <= 1.2,
        "help_no_heavy_imports": not imported["collector_help"]["heavy_imported"],
        "history_no_heavy_imports": not imported["collector_history"]["heavy_imported"],
    }
    report = {
        "benchmark": "start-up (#5)",
        "machine": machine(),
        "quick": args.quick,
        "runs_per_command": args.runs,
        "commands": {
            name: " ".join(argv).replace(str(work), "$TMP") for name, argv in commands.items()
        },
        "metric": "median wall time of the whole process; ratio = command / its baseline"
        " (history: the bare app running a command with options; others: bare --help)",
        "results": results,
        "imports": imported,
        "targets_met": targets,
        "bench_wall_s": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
