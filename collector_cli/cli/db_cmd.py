"""`collector db …`: look after the store file itself (evidence pruning, reclaiming space)."""

from __future__ import annotations

from typing import Annotated

import typer

from collector_cli.cli.common import (
    EXIT_DATABASE,
    EXIT_OK,
    HelpCommand,
    err,
    exit_codes,
    print_json,
    state,
)
from collector_cli.errors import UsageError

ACTIVE = "2 bad usage, or a run is active"

app = typer.Typer(
    help="""Look after the store file: prune old evidence, reclaim space.

    The store grows with each run's per-product evidence (what `sellers rank` and `sellers
    show` use). `collector doctor` checks the store's health.

    Examples:

      collector db prune --keep-runs 10

      collector db vacuum
    """,
    epilog=exit_codes(EXIT_OK, ACTIVE, EXIT_DATABASE),
    no_args_is_help=True,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _mib(n: int) -> str:
    return f"{n / 1048576:,.1f} MiB"


def _runs(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


@app.command(
    "prune",
    cls=HelpCommand,
    epilog=exit_codes(EXIT_OK, "2 bad usage, or --vacuum while a run is active", EXIT_DATABASE),
)
def prune(
    ctx: typer.Context,
    keep_runs: Annotated[
        int,
        typer.Option(
            "--keep-runs", metavar="N", help="Keep the evidence of the newest N runs (0: none)."
        ),
    ],
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Then give the freed space back to the disk.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Drop the evidence of older runs; sellers' totals stay exact.

    Sellers, their sightings, runs seen, feedback history and exports are untouched: only
    what `sellers rank` and `sellers show` derive from old runs goes. Freed space is reused by
    later runs, or given back at once with --vacuum (or `collector db vacuum`).

    Examples:

      collector db prune --keep-runs 10

      collector db prune --keep-runs 3 --vacuum
    """
    if keep_runs < 0:
        raise UsageError(f"invalid --keep-runs {keep_runs}: use 0 or more")
    store = state(ctx).store()
    if vacuum and store.runs.live():
        raise UsageError("a run is active: prune without --vacuum, or vacuum after it ends")
    result = store.evidence.prune(keep_runs)
    if vacuum:
        result.update(store.evidence.vacuum())
    if as_json:
        print_json(result)
        return
    err().print(
        f"Pruned the evidence of {_runs(result['runs_pruned'])} ({result['rows_deleted']:,} rows,"
        f" {result['listings_deleted']:,} listings); kept {_runs(result['runs_kept'])}."
    )
    if vacuum:
        err().print(
            f"Store file {_mib(result['bytes_before'])} → {_mib(result['bytes_after'])}"
            f" ({_mib(result['bytes_freed'])} given back)."
        )
    else:
        err().print(
            f"{_mib(result['free_bytes'])} free inside the store for later runs"
            " (`collector db vacuum` gives it back to the disk)."
        )


@app.command("vacuum", cls=HelpCommand, epilog=exit_codes(EXIT_OK, ACTIVE, EXIT_DATABASE))
def vacuum(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Rewrite the store compactly, giving free space back to the disk.

    No run may be active meanwhile. `db prune` first frees the space of old evidence.

    Examples:

      collector db vacuum

      collector db vacuum --json
    """
    store = state(ctx).store()
    if store.runs.live():
        raise UsageError("a run is active: vacuum after it ends")
    result = store.evidence.vacuum()
    if as_json:
        print_json(result)
        return
    err().print(
        f"Store file {_mib(result['bytes_before'])} → {_mib(result['bytes_after'])}"
        f" ({_mib(result['bytes_freed'])} given back)."
    )
