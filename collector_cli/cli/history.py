"""`collector history`: every run with its numbers; `history show RUN` for one in full."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from collector_cli.cli.common import out, print_json, state
from collector_cli.errors import UsageError
from collector_cli.models import format_money
from collector_cli.store.runs import STATUSES
from collector_cli.ui.fmt import duration, local_time, num
from collector_cli.ui.runs import COUNTERS, active_seconds, run_dict

app = typer.Typer(help="Show past runs.", invoke_without_command=True)


@app.callback()
def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Show at most N runs (newest first).")] = 20,
    status: Annotated[
        str | None, typer.Option(help=f"Only runs with this status ({', '.join(STATUSES)}).")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Only runs of this preset.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    if limit < 1:
        raise UsageError(f"invalid --limit {limit}: use 1 or more")
    if status is not None and status not in STATUSES:
        raise UsageError(f"invalid --status {status!r}: use one of {', '.join(STATUSES)}")
    runs = state(ctx).store().runs.list(limit=limit, status=status, preset=preset)
    if as_json:
        print_json([run_dict(r) for r in runs])
        return
    if not runs:
        typer.echo("No runs yet. Start one with: collector run --preset demo", err=True)
        return
    from collector_cli.ui.tables import plain_table

    numbers = ("duration", "cats", "products", "listings", "sellers", "new", "errors", "requests",
               "cost", "attempts")  # fmt: skip
    table = plain_table(("id", "preset", "status", "started", *numbers), right=("id", *numbers))
    for r in runs:
        table.add_row(
            str(r["id"]),
            r["preset_name"],
            _status(r["status"]),
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
        )
    console = out()
    console.print(table)
    if len(runs) > 1:
        from collector_cli.ui.insight import sparkline

        oldest_first = list(reversed(runs))
        console.print(
            f"sellers per run, #{oldest_first[0]['id']} → #{oldest_first[-1]['id']}:"
            f"  found {sparkline([r['sellers_found'] for r in oldest_first], from_zero=True)}"
            f"  new {sparkline([r['sellers_new'] for r in oldest_first], from_zero=True)}"
        )


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


def _status(status: str) -> str:
    style = {"completed": "green", "running": "cyan", "cancelled": "yellow"}.get(status, "red")
    return f"[{style}]{status}[/]"


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[
        # max: a larger number cannot be an SQLite integer (OverflowError, not "not found")
        int, typer.Argument(metavar="RUN", max=2**63 - 1, help="Run id (see `history`).")
    ],
    sellers: Annotated[
        bool,
        typer.Option(
            "--sellers", help="Also list the sellers this run added (new in it), most seen first."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One run in full: preset snapshot, counters, per-category breakdown, failures."""
    store = state(ctx).store()
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
    console = out()
    console.print(
        f"[bold]Run #{run['id']}[/] · preset {run['preset_name']} · {_status(run['status'])}"
        + (f" · {run['finish_reason']}" if run["finish_reason"] else "")
    )
    console.print(
        f"  started {local_time(run['started_at'])} · finished "
        f"{local_time(run['finished_at'])} · active {duration(active_seconds(run))} · "
        f"attempts {run['attempts']} · trigger {run['trigger']}"
    )
    filters = snapshot.get("filters", {})
    console.print(
        f"  sources {snapshot.get('product_source')} → {snapshot.get('listing_source')} · "
        + ", ".join(f"{k}={v}" for k, v in filters.items())
    )
    console.print("  " + " · ".join(f"{key.replace('_', ' ')} {num(run[key])}" for key in COUNTERS))
    from collector_cli.ui.tables import plain_table

    table = plain_table(
        ("department", "category", "status", "products", "done", "failed", "skipped", "pending",
         "listings"),
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
