"""`collector sources`: what each source does, needs and costs."""

from __future__ import annotations

from typing import Annotated

import typer

from collector_cli.cli.common import EXIT_OK, err, exit_codes, out, print_json

EPILOG = exit_codes(EXIT_OK, "2 bad usage or an unreadable config file")


def sources(
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, however narrow the terminal.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List product and listing sources, what each needs and costs.

    The credentials column says whether the config file (or the environment) has what a
    source needs; `collector config set` adds it.

    Examples:

      collector sources

      collector sources --wide

      collector sources --json
    """
    from collector_cli.sources.base import LISTING_SOURCES, PRODUCT_SOURCES, credentials_status

    rows = [
        {
            "kind": kind,
            "name": info.name,
            "description": info.description,
            "needs": info.needs,
            "cost": info.cost,
            "credentials": credentials_status(info.name, kind),
        }
        for kind, registry in (("product", PRODUCT_SOURCES), ("listing", LISTING_SOURCES))
        for info in registry.values()
    ]
    if as_json:
        print_json(rows)
        return
    from collector_cli.ui.tables import Col, print_fitted

    # Variable names are what a user copies into a shell: never dropped, never cut.
    cols = [Col("kind"), Col("name"), Col("what", drop=3, wrap=True), Col("needs"),
            Col("cost", drop=2, wrap=True), Col("credentials", drop=1)]  # fmt: skip
    keys = ("kind", "name", "description", "needs", "cost", "credentials")
    console = out()
    hidden = print_fitted(console, cols, [[str(row[k]) for k in keys] for row in rows], wide=wide)
    if hidden:
        err().print(f"{hidden} more column{'s' * (hidden != 1)} with --wide or a wider terminal.")
