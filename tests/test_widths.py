"""Listing commands read cleanly at 40, 80, 120 and 200 columns: no line longer than the
terminal, nothing cut to "…", and every value a user must copy (ids, statuses, names,
variable names) shown whole. Piped output keeps every column in a stable order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import connect

ANSI = re.compile(r"\x1b\[[0-9;]*m")
WIDTHS = [40, 80, 120, 200]


@pytest.fixture
def filled(cli, db_path: Path) -> Path:
    for args in (["run", "--preset", "demo"], ["run", "--preset", "demo", "--max-requests", "10"]):
        assert cli(*args).exit_code in (0, 6)
    assert cli("sellers", "add", "A seller with a rather long name that must never be cut",
               "--platform", "ebay").exit_code == 0  # fmt: skip
    return db_path


def terminal(cli, monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> list[str]:
    """The command as a terminal of ``width`` columns shows it (colour off, styles stripped)."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli(*args)
    assert result.exit_code == 0, (args, result.stderr)
    return [ANSI.sub("", line) for line in result.stdout.splitlines()]


def check(lines: list[str], width: int, *must_show: str) -> None:
    text = "\n".join(lines)
    for line in lines:
        assert len(line.rstrip()) <= width, f"{len(line.rstrip())} > {width}: {line!r}"
    assert "…" not in text, text
    for value in must_show:
        assert value in text, f"{value!r} not shown whole at {width} columns:\n{text}"


@pytest.mark.parametrize("width", WIDTHS)
def test_history(cli, filled: Path, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    lines = terminal(cli, monkeypatch, width, "history")
    check(lines, width, "completed", "cancelled (limit)", "demo")
    ids = {line.split()[0] for line in lines[1:] if line.strip() and line.split()[0].isdigit()}
    if width >= 80:  # a table: one row per run, its id first
        assert ids == {"1", "2"}, lines
    else:
        assert any(line.startswith("id") for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_sellers_list(cli, filled: Path, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    conn = connect(filled)
    names = [r[0] for r in conn.execute("SELECT name FROM sellers ORDER BY sightings DESC")]
    conn.close()
    lines = terminal(cli, monkeypatch, width, "sellers", "list", "--limit", "0", "--order",
                     "name")  # fmt: skip
    printable = [n for n in names if n.isprintable() and len(n) < width - 2]
    check(lines, width, *printable)


@pytest.mark.parametrize("width", WIDTHS)
def test_sources(cli, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    lines = terminal(cli, monkeypatch, width, "sources")
    check(lines, width, "oxylabs-ebay")
    text = " ".join(" ".join(lines).split())
    for variable in ("COLLECTOR_OXYLABS_USERNAME", "COLLECTOR_OXYLABS_PASSWORD",
                     "COLLECTOR_EBAY_CLIENT_ID", "COLLECTOR_EBAY_CLIENT_SECRET"):  # fmt: skip
        assert variable in text


@pytest.mark.parametrize("width", WIDTHS)
def test_preset_list(cli, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    assert cli("preset", "add", "a-preset-with-a-long-name", "-c", "pet-cats").exit_code == 0
    lines = terminal(cli, monkeypatch, width, "preset", "list")
    check(lines, width, "demo (built-in)", "a-preset-with-a-long-name")


def test_wide_and_piped_output_keep_every_column(
    cli, filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = terminal(cli, monkeypatch, 80, "history", "--wide")[0].split()
    every = ["id", "preset", "status", "started", "duration", "cats", "products", "listings",
             "sellers", "new", "errors", "requests", "cost", "attempts"]  # fmt: skip
    assert header == every
    monkeypatch.delenv("TTY_COMPATIBLE")
    piped = cli("history").stdout.splitlines()[0].split()
    assert piped == every
    narrow = cli("sellers", "list").stdout.splitlines()[0].split()
    assert narrow[:3] == ["name", "platform", "feedback"]
