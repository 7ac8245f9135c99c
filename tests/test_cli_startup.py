"""Start-up cost: everyday commands do not import the heavy modules of other commands; bad
option values fail with one clear line in plain words (not pydantic's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

# pydantic is not in the list: typer (>= 0.25) converts every option value through it, so a
# bare Typer app with options pays for it too (bench/bench_startup.py compares the two).
HEAVY = ("aiohttp", "croniter", "crontab", "apprise", "sqlite_utils", "selectolax", "plotly")
PROBE = """
import json, sys
sys.argv = ["collector", *{args!r}]
from collector_cli.cli.app import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "loaded": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


@pytest.mark.parametrize("args", [["--help"], ["history"], ["history", "--limit", "3"], ["status"]])
def test_everyday_commands_stay_light(args: list[str], db_path: Path, config_path: Path) -> None:
    """On an existing store (creating one runs the migrations, which need sqlite-utils)."""
    env = subprocess_env(db_path, config_path)
    subprocess.run([sys.executable, "-m", "collector_cli", "history"], env=env, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None), done.stderr
    assert result["loaded"] == []


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["history", "--limit", "abc"], "--limit"),
        (["history", "--limit", "1.5"], "--limit"),
        (["sellers", "list", "--limit", "x"], "--limit"),
    ],
)
def test_bad_plain_values_are_one_usage_line(cli, args: list[str], option: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "not a whole number" in lines[0]
