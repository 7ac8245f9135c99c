"""A terminal that cannot show every character (latin-1, ASCII) never crashes a command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env


@pytest.fixture
def store_with_unicode(cli, db_path: Path) -> Path:
    result = cli("sellers", "add", "東京ストア", "Łódź Trading", "plain")
    assert result.exit_code == 0, result.stderr
    return db_path


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_display_commands_replace_what_the_terminal_cannot_show(
    store_with_unicode: Path, config_path: Path, encoding: str
) -> None:
    env = subprocess_env(store_with_unicode, config_path, PYTHONIOENCODING=encoding)
    for args in (["sellers", "list"], ["sellers", "show", "東京ストア"], ["sellers", "log"]):
        done = subprocess.run([sys.executable, "-m", "collector_cli", *args], env=env,
                              capture_output=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, (args, done.stderr)
        assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr
        assert b"?" in done.stdout  # the name, shown as well as the terminal can
    # Data keeps every character: exports write UTF-8 whatever the terminal's encoding.
    done = subprocess.run([sys.executable, "-m", "collector_cli", "export", "-f", "text"],
                          env=env, capture_output=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "東京ストア" in done.stdout.decode("utf-8")
