"""`collector history`: every run with its numbers; `history show RUN` for one in full."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from collector_cli.cli import complete
from collector_cli.cli.common import (
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_USAGE,
    HelpCommand,
    err,
    exit_codes,
    out,
    print_json,
    state,
)
from collector_cli.errors import UsageError
from collector_cli.models import format_money
from collector_cli.store.runs import STATUSES
from collector_cli.ui.fmt import duration, local_time, num
from collector_cli.ui.runs import active_seconds, run_dict

app = typer.Typer(
    epilog=exit_codes(EXIT_OK, EXIT_USAGE, "3 no such run (history show)", EXIT_DATABASE),
    invoke_without_command=True,
)


@app.callback()
def history(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(metavar="N", help="Show at most N runs (newest first).")
    ] = 20,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help=f"Only runs with this status ({', '.join(STATUSES)})."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            metavar="PRESET", help="Only runs of this preset.", autocompletion=complete.presets
        ),
    ] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, however narrow the terminal.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List past runs, newest first, with their numbers.

    Below the table, a trend of the sellers each run found and added. `history show RUN`
    shows one run in full.

    Examples:

      collector history

      collector history --status failed --limit 5

      collector history --preset demo --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if limit < 1:
        raise UsageError(f"invalid --limit {limit}: use 1 or more")
    if status is not None and status not in STATUSES:
        raise UsageError(f"invalid --status {status!r}: use one of {', '.join(STATUSES)}")
    store = state(ctx).store()
    runs = store.runs.list(limit=limit, status=status, preset=preset)
    if as_json:
        print_json([run_dict(r) for r in runs])
        return
    if not runs:
        everything = len(store.runs.list(limit=1))
        if not everything:
            err().print("No runs yet. Start one with: collector run --preset demo")
        else:
            shown = " and ".join(
                f"{name} {value!r}" for name, value in (("status", status), ("preset", preset))
                if value is not None
            )  # fmt: skip
            err().print(f"No run with {shown} (`collector history` lists them all).")
        return
    from collector_cli.ui.tables import Col, print_fitted

    # The order of the columns is stable (scripts read piped output); a narrow terminal drops
    # the higher ``drop`` numbers first, never the id, preset or status.
    cols = [
        Col("id", right=True), Col("preset"), Col("status"), Col("started", drop=1),
        Col("duration", drop=3, right=True), Col("cats", drop=7, right=True),
        Col("products", drop=3, right=True), Col("listings", drop=4, right=True),
        Col("sellers", drop=2, right=True), Col("new", drop=2, right=True),
        Col("errors", drop=4, right=True), Col("requests", drop=6, right=True),
        Col("cost", drop=5, right=True), Col("attempts", drop=7, right=True),
    ]  # fmt: skip
    rows = [
        [
            str(r["id"]),
            Text(r["preset_name"]),
            _status(r["status"], r["finish_reason"]),
            local_time(r["started_at"])[:16],
            duration(active_seconds(r)),
            num(r["categories_total"]),
            num(r["products_done"]),
            num(r["listings_seen"]),
            num(r["sellers_found"]),
            num(r["sellers_new"]),
            num(r["errors"]),
            num(r["requests"]),
            format_money(r["cost_micros"]),
            num(r["attempts"]),
        ]
        for r in runs
    ]
    console = out()
    hidden = print_fitted(console, cols, rows, wide=wide)
    if len(runs) > 1:
        from collector_cli.ui.insight import sparkline

        oldest_first = list(reversed(runs))
        console.print(
            f"sellers #{oldest_first[0]['id']}–#{oldest_first[-1]['id']}"
            f"  found {sparkline([r['sellers_found'] for r in oldest_first], from_zero=True)}"
            f"  new {sparkline([r['sellers_new'] for r in oldest_first], from_zero=True)}"
        )
    if hidden:
        err().print(f"{hidden} more column{'s' * (hidden != 1)} with --wide or a wider terminal.")


def _usage_table(usage: list[dict]):  # type: ignore[no-untyped-def]
    from collector_cli.ui.tables import plain_table

    columns = ("source", "requests", "retries", "failures", "billed", "cost", "quota calls")
    table = plain_table(columns, title="per source", right=columns[1:])
    for row in usage:
        table.add_row(
            str(row["source"]),
            num(row["requests"]),
            num(row["retries"]),
            num(row["failures"]),
            num(row["billed_results"]),
            format_money(row["cost_micros"]),
            num(row["quota_calls"]),
        )
    return table


# Why a cancelled run ended, from its finish reason: a limit, `collector stop`, or a signal.
_CANCEL_MARKS = (
    ("limit reached", "limit"),
    ("stopped by", "stop"),
    ("(SIGINT)", "Ctrl-C"),
    ("(SIGTERM)", "SIGTERM"),
    ("gave up waiting", "gave up"),
)


def _status(status: str, reason: str | None = None) -> Text:
    style = {"completed": "green", "running": "cyan", "cancelled": "yellow"}.get(status, "red")
    text = status
    if status == "cancelled" and reason:
        mark = next((m for key, m in _CANCEL_MARKS if key in reason), None)
        if mark:
            text += f" ({mark})"
    return Text(text, style=style)


@app.command(
    "show",
    cls=HelpCommand,
    epilog=exit_codes(EXIT_OK, EXIT_USAGE, "3 no such run", EXIT_DATABASE),
)
def show(
    ctx: typer.Context,
    run: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="A run id (see `history`), latest or latest-completed.",
            autocompletion=complete.runs,
        ),
    ],
    sellers: Annotated[
        bool,
        typer.Option(
            "--sellers", help="Also list the sellers this run added (new in it), most seen first."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one run in full: preset, counters, categories, failures.

    Also the requests and cost per source, and with --sellers the sellers the run added.

    Examples:

      collector history show latest

      collector history show 1 --sellers

      collector history show latest-completed --json
    """
    from collector_cli.store import run_refs

    store = state(ctx).store()
    run_id = run_refs.resolve(store, run)
    run = store.runs.get(run_id)
    breakdown = store.runs.category_breakdown(run_id)
    failed = store.runs.failed_products(run_id)
    usage = store.results.usage(run_id)
    new_sellers = store.sellers.in_run(run_id, new_only=True) if sellers else []
    snapshot = json.loads(run["preset"])
    if as_json:
        data = run_dict(run)
        data["preset_snapshot"] = snapshot
        data["categories"] = [dict(row) for row in breakdown]
        data["failed_products"] = [dict(row) for row in failed]
        data["usage"] = usage
        if sellers:
            from collector_cli.ui.sellers import run_seller_dict

            data["sellers"] = [run_seller_dict(row) for row in new_sellers]
        print_json(data)
        return
    from collector_cli.cli.preset import describe_filters
    from collector_cli.models import Filters

    console = out()
    console.print(
        f"[bold]Run #{run['id']}[/] · preset {escape(run['preset_name'])} ·"
        f" {_status(run['status'], run['finish_reason']).markup}"
        + (f" · {escape(run['finish_reason'])}" if run["finish_reason"] else "")
    )
    attempts = run["attempts"]
    lines = [
        ("started", f"{local_time(run['started_at'])} · finished {local_time(run['finished_at'])}"),
        ("active", f"{duration(active_seconds(run))} over {attempts} attempt{'s' * (attempts != 1)}"
                   f" · trigger {run['trigger']}"),
        ("sources", f"{snapshot.get('product_source')} → {snapshot.get('listing_source')}"),
        ("filters", describe_filters(Filters.from_dict(snapshot.get("filters") or {}))),
        ("categories", f"{num(run['categories_done'])} listed, {num(run['categories_failed'])}"
                       f" failed of {num(run['categories_total'])}"),
        ("products", f"{num(run['products_done'])} searched, {num(run['products_failed'])} failed,"
                     f" {num(run['products_skipped'])} skipped of {num(run['products_total'])}"),
        ("listings", num(run["listings_seen"])),
        ("sellers", f"{num(run['sellers_found'])} found, {num(run['sellers_new'])} new"),
        ("requests", f"{num(run['requests'])} ({num(run['retries'])} retries,"
                     f" {num(run['request_failures'])} failed) · errors {num(run['errors'])}"),
        ("cost", f"{format_money(run['cost_micros'])} · {num(run['billed_results'])} billed"
                 f" results · {num(run['quota_calls'])} eBay calls"),
    ]  # fmt: skip
    for label, value in lines:
        console.print(f"  {label:<11} {value}")
    from collector_cli.ui.tables import plain_table

    table = plain_table(
        ("department", "category", "status", "products", "done", "failed", "skipped", "pending",
         "listings"),
        right=("products", "done", "failed", "skipped", "pending", "listings"),
        title="per category",
    )  # fmt: skip
    for row in breakdown:
        table.add_row(
            row["department_id"],
            row["category_id"],
            row["status"] + (f" ({row['error']})" if row["error"] else ""),
            num(row["products"]),
            num(row["done"]),
            num(row["failed"]),
            num(row["skipped"]),
            num(row["pending"]),
            num(row["listings"]),
        )
    console.print(table)
    if usage:
        console.print(_usage_table(usage))
    if failed:
        console.print(f"[red]{len(failed)} failed products[/]")
        for row in failed:
            console.print(
                f"  {row['category_id']} {row['product_key']} {row['title']!r}: {row['error']}"
                f" (attempts {row['attempts']})"
            )
    if sellers:
        from collector_cli.ui.sellers import run_sellers_table

        if new_sellers:
            count = len(new_sellers)
            console.print(
                run_sellers_table(
                    new_sellers, f"{count:,} new seller{'s' if count != 1 else ''} in this run"
                )
            )
        else:
            console.print("no new sellers in this run")
