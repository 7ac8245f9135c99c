"""`collector run`: execute a preset with live progress."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from collector_cli.cli.common import err, out, state
from collector_cli.errors import UsageError


def run(
    ctx: typer.Context,
    preset_name: Annotated[str, typer.Option("--preset", "-p", help="Preset to run.")],
    concurrency: Annotated[
        int, typer.Option(help="Product searches in flight at once (1-256).")
    ] = 8,
    max_products: Annotated[
        int | None,
        typer.Option(help="Products per category for this run (overrides the preset)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Write JSON-lines events to stdout.")
    ] = False,
) -> None:
    """Run a collection: best sellers per category, then a marketplace search per product.

    On a terminal a live view shows progress; otherwise timestamped lines go to stderr.
    Ctrl-C stops cleanly (exit 130): finished products are kept; press it twice to quit at once.
    """
    from collector_cli import config
    from collector_cli.engine import runner
    from collector_cli.presets import validate_filters, validate_name
    from collector_cli.sources.base import check_names
    from collector_cli.ui.reporters import JsonReporter, LiveReporter, PlainReporter

    if not 1 <= concurrency <= 256:
        raise UsageError(f"invalid --concurrency {concurrency}: use 1-256")
    validate_name(preset_name)
    config.load()  # a broken config file is a usage error, not a failed run
    store = state(ctx).store()
    preset = store.presets.get(preset_name)
    if max_products is not None:
        filters = dataclasses.replace(preset.filters, max_products=max_products)
        validate_filters(filters)
        preset = dataclasses.replace(preset, filters=filters)
    check_names(preset.product_source, preset.listing_source)

    if as_json:
        reporter = JsonReporter()
    elif sys.stderr.isatty():
        reporter = LiveReporter(err(), out())
    else:
        reporter = PlainReporter()
    summary = runner.start(store, preset, reporter, runner.RunOptions(concurrency=concurrency))
    raise typer.Exit(summary.exit_code)
