"""Every help page teaches: a one-line summary, examples that parse, its exit codes, and
human metavars instead of typer's internal types (issue 13, point 5).

The pages are rendered as a user sees them at 80 columns, through the in-process CLI."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from collector_cli.cli.app import app

ROOT = typer.main.get_command(app)
WIDTH = 80

# Commands whose help texts live in cli/run.py, cli/control.py and cli/export.py, still to
# be brought up to this standard. Strict: a fixed one fails here until it leaves the set.
PENDING = {("run",), ("resume",), ("stop",), ("watch",), ("status",), ("export",)}
PENDING_MARK = pytest.mark.xfail(
    strict=True, reason="help texts of cli/run.py, cli/control.py, cli/export.py: pending"
)


def _walk(command: typer.core.TyperCommand | TyperGroup, path: tuple[str, ...] = ()) -> Iterator:
    yield path, command
    if isinstance(command, TyperGroup):
        for name in command.list_commands(typer.Context(command)):
            sub = command.get_command(typer.Context(command), name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, (*path, name))


COMMANDS = dict(_walk(ROOT))


def _params(*, pending_xfail: bool) -> list:
    return [
        pytest.param(
            path,
            id=" ".join(("collector", *path)),
            marks=[PENDING_MARK] if pending_xfail and path in PENDING else [],
        )
        for path in COMMANDS
    ]


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _section(text: str, title: str) -> list[str]:
    """The lines under a heading such as "Options:" or "  Examples:", up to the next line
    indented no deeper than the heading."""
    lines = text.splitlines()
    heading = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if heading is None:
        return []
    depth = len(lines[heading]) - len(lines[heading].lstrip())
    body = []
    for line in lines[heading + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= depth:
            break
        body.append(line)
    return body


def _names_column(text: str) -> list[str]:
    """The left column of the Arguments and Options lists: `-o, --output FILE`, `NAME`."""
    names = []
    for title in ("Arguments:", "Options:"):
        for line in _section(text, title):
            if re.match(r"  \S", line):  # a row starts at two spaces; its help is deeper
                names.append(re.split(r"\s{2,}", line.strip())[0])
    return names


# What typer 0.29 and click print when no metavar is given: typer's `<str>`, `<int range>`,
# `<list[str]>`, `{name}` around required arguments and `[1<=x<=9223372036854775807]`
# ranges; click's TEXT, INTEGER, FLOAT, PATH...; and `[[RUN]]` from a bracketed metavar.
TYPE_TAG = re.compile(r"<[a-z][a-z \[\]|,]*>")
RANGE = re.compile(r"[<>]=?x\b|\bx[<>]=?")
CLICK_TYPES = re.compile(
    r"\b(TEXT|INTEGER|FLOAT|PATH|FILENAME|BOOLEAN|DIRECTORY|UUID|DATETIME|CHOICE)\b"
    r"|INTEGER RANGE|FLOAT RANGE"
)


@pytest.mark.parametrize("path", _params(pending_xfail=True))
def test_help_page_teaches(path: tuple[str, ...]) -> None:
    text = _help(path)
    problems = _problems(path, text)
    assert not problems, "\n".join([*problems, "", text])


def _problems(path: tuple[str, ...], text: str) -> list[str]:
    """Everything this page lacks, so one failure lists all there is to fix."""
    problems = []
    lines = text.splitlines()
    usage_end = lines.index("")

    # The summary is one line that fits: the docstring's first line, whole.
    summary = lines[usage_end + 1]
    if len(summary) > WIDTH or lines[usage_end + 2].strip():
        problems.append(f"the summary is longer than one line of {WIDTH} columns: {summary!r}")

    # Examples: real command lines, none wrapped (test_examples_parse parses them).
    examples = [line.strip() for line in _section(text, "Examples:") if line.strip()]
    if not examples:
        problems.append("no Examples: section")
    for example in examples:
        if not re.match(r"([A-Z_]+=\S+ )*collector( |$)", example):
            problems.append(f"an Examples: line that is no command (wrapped?): {example!r}")

    if "Exit codes:" not in text:
        problems.append("no Exit codes:")

    # Human metavars only.
    usage = " ".join(lines[:usage_end])
    if re.search(r"\{\w+\}", usage):
        problems.append(f"braces around an argument in the usage: {usage!r}")
    if "[[" in text:
        problems.append("doubled brackets: [[...]]")
    if RANGE.search(text):
        problems.append(f"a typer number range: {RANGE.search(text)[0]!r} (e.g. [1<=x<=...])")
    for name in [usage, *_names_column(text)]:
        if TYPE_TAG.search(name) or CLICK_TYPES.search(name):
            problems.append(f"an internal type as metavar: {name!r}")

    # A group's Commands list shows every summary whole (click cuts long ones with "...").
    if isinstance(COMMANDS[path], TyperGroup):
        for row in _section(text, "Commands:"):
            if not row.strip() or (*path, row.split()[0]) in PENDING:
                continue  # a pending command's own page fails above until it is fixed
            if row.endswith("..."):
                problems.append(f"a summary cut in the Commands list: {row.strip()!r}")
    return problems


@pytest.mark.parametrize("path", _params(pending_xfail=False))
def test_examples_parse(path: tuple[str, ...]) -> None:
    """Every example names commands and options that exist, with values they accept."""
    for example in _section(_help(path), "Examples:"):
        if not example.strip():
            continue
        words = shlex.split(example.split(" | ")[0].split(" < ")[0])
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words.pop(0)  # VAR=value before the command
        assert words[0] == "collector", example
        _parse(words[1:], example)


def _parse(args: list[str], example: str) -> None:
    """Parse ``args`` as the CLI would, down to the command, without running anything."""
    command = ROOT
    name, parent = "collector", None
    while True:
        try:
            ctx = command.make_context(name, list(args), parent=parent)
        except Exception as exc:  # typer.Exit too: any refusal fails the example
            pytest.fail(f"{example}: {type(exc).__name__}: {exc}")
        if not isinstance(command, TyperGroup):
            return
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return  # a group that runs without a subcommand (`collector history`)
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"{example}: no command {rest[0]!r}"
        command, name, parent, args = sub, rest[0], ctx, rest[1:]
