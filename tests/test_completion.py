"""Shell completion of values, through the real completion entry point of the installed CLI
(the protocol bash uses: _COLLECTOR_COMPLETE=complete_bash, COMP_WORDS, COMP_CWORD)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

# The console script pip installed beside this interpreter: completion is keyed to its name.
COLLECTOR = shutil.which("collector", path=str(Path(sys.executable).parent)) or "collector"


def complete(db_path: Path, config_path: Path, line: str) -> list[str]:
    words = shlex.split(line)
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = subprocess_env(db_path, config_path, _COLLECTOR_COMPLETE="complete_bash",
                         COMP_WORDS=line, COMP_CWORD=str(cword))  # fmt: skip
    done = subprocess.run([COLLECTOR], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return [line.split(",", 1)[-1] for line in done.stdout.splitlines()]


@pytest.fixture
def store(cli, db_path: Path) -> Path:
    assert cli("run", "--preset", "demo", "--max-products", "2").exit_code == 0
    assert cli("preset", "add", "headphones", "-c", "electronics-headphones").exit_code == 0
    assert cli("sellers", "add", "Zeta-Special", "--platform", "ebay").exit_code == 0
    return db_path


@pytest.mark.parametrize(
    ("line", "expected", "absent"),
    [
        ("collector preset add x -c electronics-", {"electronics-headphones"}, {"pet-cats"}),
        ("collector preset add x -d toy", {"toys-games"}, {"electronics"}),
        ("collector preset show ", {"demo", "headphones"}, set()),
        ("collector history show ", {"latest", "latest-completed", "1"}, set()),
        ("collector sellers rank --run latest-", {"latest-completed"}, {"1"}),
        ("collector sellers show Zeta-S", {"Zeta-Special"}, set()),
        ("collector sellers flag Zeta-Spec", {"Zeta-Special"}, set()),
        ("collector report --run ", {"latest", "1"}, set()),
    ],
)
def test_values_complete(
    store: Path, config_path: Path, line: str, expected: set[str], absent: set[str]
) -> None:
    got = set(complete(store, config_path, line))
    assert expected <= got, got
    assert not absent & got, got


def test_completion_never_creates_a_store(tmp_path: Path, config_path: Path) -> None:
    missing = tmp_path / "nowhere" / "collector.db"
    assert "demo" in complete(missing, config_path, "collector preset show ")
    assert complete(missing, config_path, "collector history show ") == [
        "latest",
        "latest-completed",
    ]
    assert not missing.parent.exists()
