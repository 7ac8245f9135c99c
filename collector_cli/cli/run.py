"""`collector run` and `collector resume`: execute a preset with live progress.

Every way a run starts comes through this module: `run --preset` (and its `--dry-run`),
`resume` / `run --resume`, and a schedule's fire (`run --schedule`, which `schedule run` and
`schedule catch-up` share). Each turns its preset into one ``ResolvedRun`` with
``engine.resolve.resolve`` (the only place a preset is resolved) and hands that value down;
a fire resolves inside schedule/fire.py because only the fire knows, after claiming it,
whether and which preset runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from collector_cli.cli.common import err, out, state
from collector_cli.errors import UsageError

if TYPE_CHECKING:
    from collector_cli.engine.events import RunSummary
    from collector_cli.engine.resolve import ResolvedRun

MaxRequests = Annotated[
    int | None, typer.Option(help="End the run cleanly after N requests (exit 6).")
]
MaxDuration = Annotated[
    str | None, typer.Option(help="End the run cleanly after this long, e.g. 90m, 2h (exit 6).")
]
MaxErrors = Annotated[int | None, typer.Option(help="End the run cleanly after N errors (exit 6).")]
MaxNewSellers = Annotated[
    int | None, typer.Option(help="End the run cleanly after N new sellers (exit 6).")
]
MaxCost = Annotated[
    str | None,
    typer.Option(help="End the run cleanly before spending more than USD, e.g. 2.50 (exit 6)."),
]
Concurrency = Annotated[int, typer.Option(help="Product searches in flight at once (1-256).")]
AsJson = Annotated[bool, typer.Option("--json", help="Write JSON-lines events to stdout.")]


def run(
    ctx: typer.Context,
    preset_name: Annotated[
        str | None, typer.Option("--preset", "-p", help="Preset to run.", show_default=False)
    ] = None,
    concurrency: Concurrency = 8,
    max_products: Annotated[
        int | None,
        typer.Option(help="Products per category for this run (overrides the preset)."),
    ] = None,
    max_requests: MaxRequests = None,
    max_duration: MaxDuration = None,
    max_errors: MaxErrors = None,
    max_new_sellers: MaxNewSellers = None,
    max_cost: MaxCost = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (categories, products, requests, cost, eBay quota) and exit"
            " without sending a request.",
        ),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another run is active, wait for it to end.")
    ] = False,
    wait_timeout: Annotated[
        float | None, typer.Option(help="With --wait: give up after this many seconds (exit 7).")
    ] = None,
    schedule_id: Annotated[
        int | None,
        typer.Option(
            "--schedule",
            metavar="ID",
            min=1,
            max=2**63 - 1,
            help="Run schedule ID's fire (what its crontab line calls).",
        ),
    ] = None,
    resume_run: Annotated[
        int | None,
        typer.Option(
            "--resume", metavar="RUN", min=1, max=2**63 - 1, help="Continue an earlier run."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run a collection: best sellers per category, then a marketplace search per product.

    On a terminal a live view shows progress; otherwise timestamped lines go to stderr.
    Ctrl-C stops cleanly (exit 130): finished products are kept; press it twice to quit at once.
    """
    from collector_cli import config
    from collector_cli.engine import lifecycle
    from collector_cli.engine.resolve import resolve
    from collector_cli.presets import validate_name

    _check_concurrency(concurrency)
    if schedule_id is not None:
        if preset_name is not None or resume_run is not None or dry_run:
            raise UsageError("--schedule ID takes no --preset, --resume or --dry-run")
        run_scheduled(ctx, schedule_id)
    if resume_run is not None:
        if preset_name is not None or max_products is not None or wait or dry_run:
            raise UsageError("--resume RUN takes no --preset, --max-products, --wait or --dry-run")
        resume(ctx, resume_run, False, concurrency, max_requests, max_duration, max_errors,
               max_new_sellers, max_cost, as_json)  # fmt: skip
        return
    if preset_name is None:
        raise UsageError("Missing option '--preset' / '-p' (or use --resume RUN or --schedule ID)")
    if wait_timeout is not None and (not wait or wait_timeout <= 0):
        raise UsageError("--wait-timeout needs --wait and a positive number of seconds")
    validate_name(preset_name)
    config.load()  # a broken config file is a usage error, not a failed run
    flags = _limit_flags(max_requests, max_duration, max_errors, max_new_sellers, max_cost)
    store = state(ctx).store()
    resolved = resolve(
        store.presets.get(preset_name),
        max_products=max_products,
        limit_flags=flags,
        concurrency=concurrency,
        require_credentials=not dry_run,  # the plan reports missing credentials instead
    )
    if dry_run:
        _dry_run(resolved, as_json)
        return
    summary = lifecycle.start_new(
        store,
        resolved,
        reporter(as_json),
        wait=wait,
        wait_timeout=wait_timeout,
        on_wait=lambda message: err().print(f"[yellow]{message}[/]"),
    )
    raise typer.Exit(summary.exit_code)


def resume(
    ctx: typer.Context,
    run_id: Annotated[
        int, typer.Argument(metavar="RUN", min=1, max=2**63 - 1, help="Run id (see `history`).")
    ],
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also search the products that failed.")
    ] = False,
    concurrency: Concurrency = 8,
    max_requests: MaxRequests = None,
    max_duration: MaxDuration = None,
    max_errors: MaxErrors = None,
    max_new_sellers: MaxNewSellers = None,
    max_cost: MaxCost = None,
    as_json: AsJson = False,
) -> None:
    """Continue an interrupted, cancelled or failed run from its checkpoints.

    Only products not yet searched are searched (and failed ones with --retry-failed); the run
    keeps its id and its preset snapshot.
    """
    from collector_cli import config
    from collector_cli.engine import lifecycle
    from collector_cli.engine.resolve import resolve

    _check_concurrency(concurrency)
    config.load()
    flags = _limit_flags(max_requests, max_duration, max_errors, max_new_sellers, max_cost)
    store = state(ctx).store()
    resolved = resolve(
        lifecycle.stored_preset(store, run_id),  # the run's snapshot, not the preset of today
        limit_flags=flags,
        concurrency=concurrency,
    )
    summary = lifecycle.resume(store, run_id, resolved, reporter(as_json),
                               retry_failed=retry_failed)  # fmt: skip
    raise typer.Exit(summary.exit_code)


def run_scheduled(ctx: typer.Context, schedule_id: int) -> None:
    """`collector run --schedule ID`: what the crontab line calls. It never creates a
    database: a line left behind for a deleted one must not make a new one every minute."""
    from collector_cli.errors import StoreError
    from collector_cli.store.db import default_db_path

    path = state(ctx).db_path or default_db_path()
    if not path.exists():
        raise StoreError(f"no database at {path}: `collector schedule sync` there, or remove"
                         " this crontab line")  # fmt: skip
    raise typer.Exit(fire_schedule(ctx, schedule_id, manual=False))


def fire_schedule(ctx: typer.Context, schedule_id: int, *, manual: bool) -> int:
    """One fire of a schedule, from cron (`run --schedule`) or by hand (`schedule run`)."""
    from collector_cli.schedule import fire

    result = fire.fire(
        state(ctx).store(), schedule_id, reporter(False), summarize,
        manual=manual, on_wait=lambda message: err().print(message, markup=False),
    )  # fmt: skip
    if result.message:
        err().print(result.message, markup=False)
    return result.exit_code


def summarize(summary: RunSummary) -> str:
    """A finished run as the text of a schedule's notification."""
    from collector_cli.ui.summary import summary_lines

    return "\n".join(summary_lines(summary))


def _dry_run(resolved: ResolvedRun, as_json: bool) -> None:
    """The plan only: no run row, no request (missing credentials are reported, not fatal)."""
    from collector_cli.engine.plan import estimate

    plan = estimate(resolved)
    if as_json:
        from collector_cli.cli.common import print_json

        print_json(plan.to_dict())
        return
    from collector_cli.ui.plan import render_plan

    render_plan(out(), plan)


def _check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= 256:
        raise UsageError(f"invalid --concurrency {concurrency}: use 1-256")


def _limit_flags(
    max_requests: int | None,
    max_duration: str | None,
    max_errors: int | None,
    max_new_sellers: int | None,
    max_cost: str | None,
) -> dict[str, int | None]:
    """This attempt's limits, parsed and checked before the store is opened (bad flags are
    usage errors that change nothing); ``resolve`` applies them over the preset's."""
    from collector_cli.engine.limits import RunLimits, parse_cost, parse_duration

    flags = {
        "max_requests": max_requests,
        "max_duration_s": parse_duration(max_duration) if max_duration is not None else None,
        "max_errors": max_errors,
        "max_new_sellers": max_new_sellers,
        "max_cost_micros": parse_cost(max_cost) if max_cost is not None else None,
    }
    RunLimits().merged(**flags).validate()
    return flags


def reporter(as_json: bool):  # type: ignore[no-untyped-def]
    from collector_cli.ui.reporters import JsonReporter, LiveReporter, PlainReporter

    if as_json:
        return JsonReporter()
    if sys.stderr.isatty():
        return LiveReporter(err(), out())
    return PlainReporter()
