"""State shared by all commands: where the store is, debug mode, the two consoles."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from collector_cli.store.db import Store

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 error, or the run failed · 2 bad usage or input · 3 not found "
    "(preset, run) · 4 database unusable · 5 run completed but some products failed · "
    "6 run ended by a limit · 7 another run is active (or --wait timed out) · "
    "8 no active run (stop, watch) · 130 cancelled (Ctrl-C, stop)."
)


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
