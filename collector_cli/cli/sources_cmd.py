"""`collector sources`: what each source does, needs and costs."""

from __future__ import annotations

from typing import Annotated

import typer

from collector_cli.cli.common import out, print_json


def sources(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List product and listing sources: what they need (credentials) and what they cost."""
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
    from collector_cli.ui.tables import plain_table

    table = plain_table(("kind", "name", "what", "needs", "cost", "credentials"))
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("kind", "name", "description", "needs", "cost",
                                              "credentials")))  # fmt: skip
    out().print(table)
