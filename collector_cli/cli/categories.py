"""`collector categories`: the bundled department → category taxonomy."""

from __future__ import annotations

from typing import Annotated

import typer

from collector_cli.cli.common import EXIT_OK, exit_codes, out, print_json

EPILOG = exit_codes(EXIT_OK, "2 bad usage or an unknown department")


def categories(
    department: Annotated[
        str | None,
        typer.Option("--department", "-d", metavar="ID", help="Only this department."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List departments and categories: the ids that presets take.

    Give them to `collector preset add --department/--category`. The node id is the
    department's or category's Amazon browse node.

    Examples:

      collector categories

      collector categories --department electronics

      collector categories --json
    """
    from collector_cli import taxonomy

    deps = [taxonomy.department(department)] if department else list(taxonomy.departments())
    if as_json:
        print_json(
            [
                {
                    "id": d.id,
                    "name": d.name,
                    "node_id": d.node_id,
                    "categories": [
                        {"id": c.id, "name": c.name, "node_id": c.node_id} for c in d.categories
                    ],
                }
                for d in deps
            ]
        )
        return
    from collector_cli.ui.tables import plain_table

    table = plain_table(("department", "category id", "name", "node id"))
    for dep in deps:
        table.add_row(f"[bold]{dep.id}[/]", "", dep.name, dep.node_id)
        for cat in dep.categories:
            table.add_row("", cat.id, cat.name, cat.node_id)
    out().print(table)
