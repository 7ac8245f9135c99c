"""Bad input: one `collector: error:` line, the documented exit code, no traceback, no writes."""

from __future__ import annotations

import ctypes
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from collector_cli import config
from collector_cli.errors import ExitCode
from tests.conftest import connect, dump, subprocess_env

CAT = "electronics-headphones"
PR_CAPBSET_DROP = 24  # <linux/prctl.h>
CAP_DAC_OVERRIDE = 1  # <linux/capability.h>

BAD_NAMES = [
    pytest.param("Upper", id="uppercase"),
    pytest.param("has space", id="space"),
    pytest.param("-dash", id="leading-dash"),
    pytest.param("a" * 65, id="65-chars"),
    pytest.param("", id="empty"),
    pytest.param("café", id="unicode-latin"),
    pytest.param("名前", id="unicode-cjk"),
]


def assert_one_error(result, code: int, *, contains: str | None = None) -> str:
    """Exactly one `collector: error:` line on stderr, nothing on stdout, the given exit code."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("collector: error: "), lines[0]
    assert result.stdout == ""
    if contains is not None:
        assert contains in lines[0]
    return lines[0]


@pytest.fixture
def store(cli, db_path: Path) -> list[str]:
    """An existing store (created by a harmless command); returns its dump."""
    result = cli("preset", "list")
    assert result.exit_code == 0, result.stderr
    before = dump(db_path)
    assert before  # the demo preset is in there
    return before


# -- preset names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["preset", "add", "-c", CAT, "--"], id="add"),
        pytest.param(["preset", "show", "--"], id="show"),
        pytest.param(["preset", "remove", "--"], id="remove"),
        pytest.param(["run", "--preset"], id="run"),
    ],
)
def test_invalid_preset_name(cli, db_path, store, command, name):
    args = [*command[:-1], f"--preset={name}"] if command[0] == "run" else [*command, name]
    line = assert_one_error(cli(*args), ExitCode.USAGE, contains="invalid preset name")
    assert repr(name) in line
    assert dump(db_path) == store


# -- names that are valid but unknown ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["run", "--preset", "nope"], id="run"),
        pytest.param(["preset", "show", "nope"], id="show"),
        pytest.param(["preset", "show", "nope", "--json"], id="show-json"),
        pytest.param(["preset", "remove", "nope"], id="remove"),
    ],
)
def test_unknown_preset_is_not_found(cli, db_path, store, args):
    assert_one_error(cli(*args), ExitCode.NOT_FOUND, contains="no preset named 'nope'")
    assert dump(db_path) == store


# -- preset add: scope, duplicates, filters, sources ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        pytest.param(["-c", "no-such-category"], "unknown category", id="unknown-category"),
        pytest.param(["-d", "no-such-department"], "unknown department", id="unknown-dept"),
        pytest.param(["-d", "electronics", "-c", "bogus"], "unknown category", id="mixed-bad"),
        pytest.param([], "at least one --department or --category", id="no-scope"),
        pytest.param(["-c", CAT, "--condition", "broken"], "condition", id="condition"),
        pytest.param(
            ["-c", CAT, "--price-min", "1.5", "--price-max", "1.1"], "price", id="min>max"
        ),
        pytest.param(["-c", CAT, "--price-min", "0"], "price", id="price-min-0"),
        pytest.param(["-c", CAT, "--price-max", "101"], "price-max", id="price-max-101"),
        pytest.param(["-c", CAT, "--pages", "0"], "--pages", id="pages-0"),
        pytest.param(["-c", CAT, "--pages", "101"], "--pages", id="pages-101"),
        pytest.param(["-c", CAT, "--max-products", "0"], "--max-products", id="max-products-0"),
        pytest.param(["-c", CAT, "--country", "usa"], "--country", id="country-usa"),
        pytest.param(["-c", CAT, "--country", "1x"], "--country", id="country-digits"),
        pytest.param(["-c", CAT, "--source", "nope"], "unknown product source", id="source"),
        pytest.param(
            ["-c", CAT, "--product-source", "nope"], "unknown product source", id="product-src"
        ),
        pytest.param(
            ["-c", CAT, "--listing-source", "nope"], "unknown listing source", id="listing-src"
        ),
    ],
)
def test_preset_add_bad_input(cli, db_path, store, args, contains):
    assert_one_error(cli("preset", "add", "newone", *args), ExitCode.USAGE, contains=contains)
    assert dump(db_path) == store


def test_duplicate_add_without_replace(cli, db_path):
    assert cli("preset", "add", "mine", "-c", CAT).exit_code == 0
    before = dump(db_path)
    assert_one_error(
        cli("preset", "add", "mine", "-c", "pet-cats"), ExitCode.USAGE, contains="already exists"
    )
    assert dump(db_path) == before
    # the built-in is protected the same way
    assert_one_error(
        cli("preset", "add", "demo", "-c", "pet-cats"), ExitCode.USAGE, contains="--replace"
    )
    assert dump(db_path) == before


# -- run -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        pytest.param(["--concurrency", "0"], "--concurrency", id="concurrency-0"),
        pytest.param(["--concurrency", "999"], "--concurrency", id="concurrency-999"),
        pytest.param(["--max-products", "0"], "--max-products", id="max-products-0"),
        pytest.param(["--max-products", "10001"], "--max-products", id="max-products-10001"),
    ],
)
def test_run_bad_options(cli, db_path, store, args, contains):
    assert_one_error(cli("run", "--preset", "demo", *args), ExitCode.USAGE, contains=contains)
    assert dump(db_path) == store
    assert connect(db_path).execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_run_with_invalid_toml_config(cli, db_path, store, tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sources.sample\nlatency_ms = = 0\n", encoding="utf-8")
    monkeypatch.setenv("COLLECTOR_CONFIG", str(bad))
    config.load.cache_clear()
    line = assert_one_error(cli("run", "--preset", "demo"), ExitCode.USAGE, contains=str(bad))
    assert "TOML" in line
    # no run row, no events: the store is exactly as before
    assert dump(db_path) == store


# -- history -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "contains"),
    [
        pytest.param(["--status", "bogus"], ExitCode.USAGE, "--status", id="status"),
        pytest.param(["--limit", "0"], ExitCode.USAGE, "--limit", id="limit-0"),
        pytest.param(["--limit", "-3"], ExitCode.USAGE, "--limit", id="limit-negative"),
        pytest.param(["show", "999"], ExitCode.NOT_FOUND, "no run with id 999", id="show-999"),
        pytest.param(["show", "999", "--json"], ExitCode.NOT_FOUND, "999", id="show-999-json"),
    ],
)
def test_history_bad_input(cli, db_path, store, args, code, contains):
    assert_one_error(cli("history", *args), code, contains=contains)
    assert dump(db_path) == store


def test_history_show_non_integer_is_typer_usage_error(cli, db_path, store):
    result = cli("history", "show", "abc")
    line = assert_one_error(result, ExitCode.USAGE)
    assert "RUN" in line or "abc" in line
    assert dump(db_path) == store


# -- unusable database paths ---------------------------------------------------------------------


def test_db_path_is_a_directory(cli, tmp_path):
    target = tmp_path / "a-directory"
    target.mkdir()
    line = assert_one_error(cli("--db", str(target), "preset", "list"), ExitCode.DATABASE)
    assert "directory" in line
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_db_parent_cannot_be_created(cli, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory\n", encoding="utf-8")
    target = blocker / "sub" / "x.db"
    assert_one_error(cli("--db", str(target), "preset", "list"), ExitCode.DATABASE)
    assert blocker.read_text(encoding="utf-8") == "not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "file.txt"]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["preset", "list"], id="preset-list"),
        pytest.param(["preset", "add", "x", "-c", CAT], id="preset-add"),
        pytest.param(["run", "--preset", "demo"], id="run"),
        pytest.param(["history"], id="history"),
    ],
)
def test_corrupt_db_file_is_left_alone(cli, tmp_path, args):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    target = folder / "collector.db"
    garbage = b"garbage" * 586  # 4102 bytes of junk
    target.write_bytes(garbage)
    line = assert_one_error(cli("--db", str(target), *args), ExitCode.DATABASE)
    assert str(target) in line
    assert target.read_bytes() == garbage
    assert [p.name for p in folder.iterdir()] == ["collector.db"]  # no -wal/-shm left behind


def test_foreign_sqlite_db_is_left_alone(cli, tmp_path):
    folder = tmp_path / "foreign"
    folder.mkdir()
    target = folder / "other.db"
    conn = sqlite3.connect(target)
    conn.execute("CREATE TABLE foo (x INTEGER, y TEXT)")
    conn.execute("INSERT INTO foo VALUES (1, 'one'), (2, 'two')")
    conn.commit()
    conn.close()
    original = target.read_bytes()
    before = dump(target)

    for args in (["preset", "list"], ["run", "--preset", "demo"], ["history"]):
        line = assert_one_error(cli("--db", str(target), *args), ExitCode.DATABASE)
        assert "did not create" in line

    assert target.read_bytes() == original
    assert dump(target) == before
    assert [p.name for p in folder.iterdir()] == ["other.db"]


def _drop_dac_override() -> None:
    """In a child before exec: remove CAP_DAC_OVERRIDE, so even root obeys file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE) failed")


def _collector_as_unprivileged(args: list[str], db_path: Path, config_path: Path):
    """Run the real CLI; as root, without the capability that ignores permission bits."""
    return subprocess.run(
        [sys.executable, "-m", "collector_cli", *args],
        env=subprocess_env(db_path, config_path),
        preexec_fn=_drop_dac_override if os.geteuid() == 0 else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["preset", "add", "x", "-c", CAT], id="write"),
        pytest.param(["history"], id="read"),
    ],
)
def test_read_only_db(db_path, config_path, store, args):
    # A plain chmod is not enough when the tests run as root (root ignores permission bits):
    # then the collector runs in a child that has dropped CAP_DAC_OVERRIDE, which makes the
    # 0400 mode binding exactly as it is for an ordinary user.
    mode_before = stat.S_IMODE(db_path.stat().st_mode)
    original = db_path.read_bytes()
    os.chmod(db_path, 0o400)
    try:
        proc = _collector_as_unprivileged(args, db_path, config_path)
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o400
        assert db_path.read_bytes() == original
    finally:
        os.chmod(db_path, mode_before)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == ExitCode.DATABASE, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("collector: error: ")
    assert str(db_path) in lines[0]
    assert proc.stdout == ""
    assert dump(db_path) == store
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["collector.db"]


# -- debug, file mode ----------------------------------------------------------------------------


def test_debug_shows_traceback(db_path, config_path, cli, store):
    env = subprocess_env(db_path, config_path)
    env.pop("COLLECTOR_DEBUG", None)
    cmd = [sys.executable, "-m", "collector_cli"]
    plain = subprocess.run(
        [*cmd, "history", "show", "999"], env=env, capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == ExitCode.NOT_FOUND
    assert "Traceback" not in plain.stderr
    assert plain.stderr.startswith("collector: error: ")

    debug = subprocess.run(
        [*cmd, "--debug", "history", "show", "999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr
    assert "NotFoundError" in debug.stderr
    assert "no run with id 999" in debug.stderr
    assert dump(db_path) == store


def test_store_file_is_created_with_mode_0600(cli, db_path):
    assert not db_path.exists()
    old = os.umask(0)  # even with a permissive umask the store is private
    try:
        result = cli("preset", "list")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stat.S_ISREG(db_path.stat().st_mode)
