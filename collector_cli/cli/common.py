"""State shared by all commands: where the store is, debug mode, the two consoles."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from collector_cli.store.db import Store

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 error, or the run failed · 2 bad usage or input · 3 not found "
    "(preset, run) · 4 database unusable · 5 run completed but some products failed · "
    "6 run ended by a limit · 7 another run is active (or --wait timed out) · "
    "8 no active run (stop, watch) · 130 cancelled (Ctrl-C, stop)."
)

# The pieces of one command's "Exit codes:" epilog (see `exit_codes`).
EXIT_OK = "0 ok"
EXIT_USAGE = "2 bad usage or input"
EXIT_DATABASE = "4 database unusable"


def exit_codes(*codes: str) -> str:
    """An epilog listing the exit codes one command can return, e.g.
    ``exit_codes(EXIT_OK, EXIT_USAGE, "3 no such preset", EXIT_DATABASE)``."""
    return "Exit codes: " + " · ".join(codes) + "."


class HelpCommand(TyperCommand):
    """A command whose help names each argument by its metavar alone: NAME in the Arguments
    list; NAME, [NAME] (optional) or NAME... (several) in the usage line.

    typer 0.29 adds the Python type to every argument in the help (``name <str>``,
    ``NAME <list[str]>``) and puts required ones in braces (``{NAME}``), whatever the metavar.
    Only the help changes: parsing and errors are typer's own.
    """

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
                if param.nargs != 1:
                    pieces[-1] += "..."
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            elif param.param_type_name == "option":
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: Any) -> str:
    return str(param.metavar or param.name.upper())


@dataclass
class AppState:
    db_path: Path | None = None
    debug: bool = False
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        """Open the store once per command, restore built-ins and reap dead runs."""
        if self._store is None:
            from collector_cli.engine.liveness import reap_stale_runs
            from collector_cli.presets import BUILTINS
            from collector_cli.store.db import open_store

            self._store = open_store(self.db_path)
            self._store.presets.ensure_builtins(BUILTINS)
            if self._store.runs.live():
                reap_stale_runs(self._store)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


class _DataConsole(Console):
    def on_broken_pipe(self) -> None:
        """The reader went away (`| head`): stop quietly with 0, like the rest of the CLI."""
        raise BrokenPipeError


def out() -> Console:
    """Data console. Piped or redirected output gets a wide fixed width so tables never wrap."""
    console = _DataConsole(highlight=False)
    if not console.is_terminal:
        console = _DataConsole(highlight=False, width=200)
    return console


def err() -> Console:
    """Messages console. In logs (not a terminal) a line stays one line, however long."""
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
    return console


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
