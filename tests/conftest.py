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


# Stands in for `crontab` on PATH in every test: the invoking user's table is never read or
# written by accident. Tests of the real command run it inside a private namespace instead.
_CRONTAB_GUARD = """#!/bin/sh
echo "crontab: a test tried to use the invoking user's crontab (set COLLECTOR_CRONTAB or use\
 the cron_namespace fixture)" >&2
exit 97
"""


@pytest.fixture(scope="session")
def crontab_guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the guard `crontab`, outside every test's own tmp_path."""
    folder = tmp_path_factory.mktemp("guard-bin")
    (folder / "crontab").write_text(_CRONTAB_GUARD, encoding="utf-8")
    (folder / "crontab").chmod(0o755)
    return folder


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch,
    db_path: Path,
    config_path: Path,
    tmp_path: Path,
    crontab_guard: Path,
) -> None:
    monkeypatch.setenv("COLLECTOR_DB", str(db_path))
    monkeypatch.setenv("COLLECTOR_CONFIG", str(config_path))
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    # platformdirs prefers the XDG variables over HOME: a developer's own must not leak in.
    xdg = {"XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share",
           "XDG_STATE_HOME": ".local/state", "XDG_CACHE_HOME": ".cache"}  # fmt: skip
    for name, sub in xdg.items():
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("PATH", f"{crontab_guard}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("COLLECTOR_DEBUG", raising=False)
    for name in ("OXYLABS_USERNAME", "OXYLABS_PASSWORD", "OXYLABS_URL", "EBAY_CLIENT_ID",
                 "EBAY_CLIENT_SECRET", "EBAY_URL"):  # fmt: skip
        monkeypatch.delenv(f"COLLECTOR_{name}", raising=False)  # never a developer's own
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


# -- loopback emulators of the real APIs -------------------------------------------------------

# Distinctive credentials, so the secrets test can grep every output for them.
OXY_USER, OXY_PASS = "oxy-user-7Qz", "oxy-pass-Kd93xLq"
EBAY_ID, EBAY_SECRET = "ebay-client-P4w", "ebay-secret-Vb72mNs"
EMULATED_CATEGORIES = ["electronics-headphones", "toys-building-toys"]


@pytest.fixture(scope="session")
def catalogue():
    """The emulators' world: best sellers of EMULATED_CATEGORIES' nodes and their offers."""
    from collector_cli import taxonomy
    from tests.emulators.catalogue import Catalogue

    return Catalogue([taxonomy.category(c).node_id for c in EMULATED_CATEGORIES])


@pytest.fixture
def oxylabs(catalogue):
    from tests.emulators.oxylabs import OxylabsEmulator

    with OxylabsEmulator(catalogue, username=OXY_USER, password=OXY_PASS) as emulator:
        yield emulator


@pytest.fixture
def ebay(catalogue):
    from tests.emulators.ebay import EbayEmulator

    with EbayEmulator(catalogue, client_id=EBAY_ID, client_secret=EBAY_SECRET) as emulator:
        yield emulator


@pytest.fixture
def real_env(monkeypatch: pytest.MonkeyPatch, oxylabs, ebay) -> dict[str, str]:
    """Point the real sources at the emulators, with valid credentials, in this process;
    the returned mapping does the same for subprocesses (``subprocess_env(..., **real_env)``)."""
    env = {
        "COLLECTOR_OXYLABS_URL": oxylabs.url,
        "COLLECTOR_EBAY_URL": ebay.url,
        "COLLECTOR_OXYLABS_USERNAME": OXY_USER,
        "COLLECTOR_OXYLABS_PASSWORD": OXY_PASS,
        "COLLECTOR_EBAY_CLIENT_ID": EBAY_ID,
        "COLLECTOR_EBAY_CLIENT_SECRET": EBAY_SECRET,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
