"""One run reference everywhere: an id, `latest` and `latest-completed`, one error otherwise."""

from __future__ import annotations

import json

import pytest

from collector_cli.errors import ExitCode
from tests.conftest import dump
from tests.test_cli_errors import assert_one_error


@pytest.fixture
def three_runs(cli, db_path):
    """Run 1 completed, run 2 completed, run 3 ended by a limit (cancelled)."""
    assert cli("run", "--preset", "demo").exit_code == 0
    assert cli("run", "--preset", "demo").exit_code == 0
    assert cli("run", "--preset", "demo", "--max-requests", "10").exit_code == ExitCode.LIMIT
    return db_path


def test_latest_and_latest_completed(cli, three_runs) -> None:
    for ref, expected in (("latest", 3), ("latest-completed", 2), ("2", 2), ("LATEST", 3)):
        shown = json.loads(cli("history", "show", ref, "--json").stdout)
        assert shown["id"] == expected, ref
    ranked = json.loads(cli("sellers", "rank", "--run", "latest-completed", "--json").stdout)
    assert ranked and all(r["runs_possible"] == 1 for r in ranked)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["history", "show", "newest"], ExitCode.USAGE),
        (["history", "show", "0"], ExitCode.USAGE),
        (["history", "show", "99999999999999999999"], ExitCode.USAGE),
        (["history", "show", "99"], ExitCode.NOT_FOUND),
        (["sellers", "rank", "--run", "latest-done"], ExitCode.USAGE),
        (["report", "--run", "first", "-o", "r.html"], ExitCode.USAGE),
    ],
)
def test_anything_else_is_one_clear_error(cli, three_runs, args, code) -> None:
    before = dump(three_runs)
    line = assert_one_error(cli(*args), code)
    if code == ExitCode.USAGE:
        assert "latest (the newest run) or latest-completed" in line, line
    assert dump(three_runs) == before


def test_no_run_yet(cli, db_path) -> None:
    assert cli("status").exit_code == 0
    line = assert_one_error(cli("history", "show", "latest"), ExitCode.NOT_FOUND)
    assert "no run yet" in line
