"""Values for shell completion (`collector --install-completion`): presets, categories and
departments, formats, run ids, schedules, seller names.

Each function takes what typer hands a completer (the context and the word typed so far) and
returns the candidates; none of them may print, fail or create a store.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from collector_cli.store import lookup

RUN_WORDS = ("latest", "latest-completed")


def _db(ctx: typer.Context) -> Path:
    """The store the command line names (--db, then COLLECTOR_DB), else the default one."""
    chosen = ctx.find_root().params.get("db") or os.environ.get("COLLECTOR_DB")
    if chosen:
        return Path(chosen).expanduser()
    from collector_cli.store.db import default_db_path

    return default_db_path()


def presets(ctx: typer.Context, incomplete: str) -> list[str]:
    return lookup.preset_names(_db(ctx), incomplete) or [
        name for name in ("demo",) if name.startswith(incomplete)
    ]


def categories(incomplete: str) -> list[tuple[str, str]]:
    from collector_cli import taxonomy

    return [
        (c.id, f"{c.department_name} › {c.name}")
        for d in taxonomy.departments()
        for c in d.categories
        if c.id.startswith(incomplete)
    ]


def departments(incomplete: str) -> list[tuple[str, str]]:
    from collector_cli import taxonomy

    return [(d.id, d.name) for d in taxonomy.departments() if d.id.startswith(incomplete)]


def formats(incomplete: str) -> list[str]:
    from collector_cli.exporters import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete.lower())]


def runs(ctx: typer.Context, incomplete: str) -> list[str]:
    words = [word for word in RUN_WORDS if word.startswith(incomplete)]
    return words + lookup.run_ids(_db(ctx), incomplete)


def schedules(ctx: typer.Context, incomplete: str) -> list[str]:
    return lookup.schedule_names(_db(ctx), incomplete)


def sellers(ctx: typer.Context, incomplete: str) -> list[str]:
    from collector_cli.store.results import name_key

    return lookup.seller_names(_db(ctx), name_key(incomplete))
