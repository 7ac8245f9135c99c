"""Shared fixtures: every test gets its own store file and config, never the user's."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "collector.db"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A config that makes the sample marketplace answer instantly (tests need no latency)."""
    path = tmp_path / "config.toml"
    path.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, db_path: Path, config_path: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLLECTOR_DB", str(db_path))
    monkeypatch.setenv("COLLECTOR_CONFIG", str(config_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COLLECTOR_DEBUG", raising=False)
    from collector_cli import config

    config.load.cache_clear()


@pytest.fixture
def cli() -> Callable[..., object]:
    """Invoke the real CLI in-process; stdout and stderr are kept apart."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def subprocess_env(db_path: Path, config_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "COLLECTOR_DB": str(db_path),
            "COLLECTOR_CONFIG": str(config_path),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def start_collector(
    args: list[str], db_path: Path, config_path: Path, **extra: str
) -> subprocess.Popen[str]:
    """A real `python -m collector_cli` process (its own process group for signals)."""
    return subprocess.Popen(
        [sys.executable, "-m", "collector_cli", *args],
        env=subprocess_env(db_path, config_path, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    return conn


def dump(db_path: Path) -> list[str]:
    """The whole database as SQL text: equal dumps mean an unchanged store."""
    if not db_path.exists():
        return []
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
