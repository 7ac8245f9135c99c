"""`collector preset …`: named run definitions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

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
from collector_cli.models import Filters, Preset

NOT_FOUND = "3 no such preset"

app = typer.Typer(
    help="""Manage presets: what a run collects, and how.

    A preset names the categories to search, the sources and the filters. `demo` is built
    in and needs no account.

    Examples:

      collector preset list

      collector preset add headphones --category electronics-headphones

      collector preset show demo
    """,
    epilog=exit_codes(EXIT_OK, EXIT_USAGE, NOT_FOUND, EXIT_DATABASE),
    no_args_is_help=True,
)


@app.command(
    "add",
    cls=HelpCommand,
    epilog=exit_codes(
        EXIT_OK, "2 bad usage or input, or the name is taken (see --replace)", EXIT_DATABASE
    ),
)
def add(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Preset name: a-z, 0-9, '_' and '-'.")
    ],
    department: Annotated[
        list[str] | None,
        typer.Option(
            "--department",
            "-d",
            metavar="ID",
            help="Department id (all its categories). Repeatable.",
            autocompletion=complete.departments,
        ),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            "-c",
            metavar="ID",
            help="Category id. Repeatable.",
            autocompletion=complete.categories,
        ),
    ] = None,
    condition: Annotated[
        str,
        typer.Option(metavar="CONDITION", help="Item condition: new, used, refurbished or any."),
    ] = "new",
    free_shipping: Annotated[
        bool, typer.Option("--free-shipping/--any-shipping", help="Only free-shipping listings.")
    ] = True,
    domestic: Annotated[
        bool,
        typer.Option("--domestic/--any-country", help="Only sellers located in --country."),
    ] = True,
    country: Annotated[
        str, typer.Option(metavar="CODE", help="Home country for --domestic, e.g. US or DE.")
    ] = "US",
    price_min: Annotated[
        float,
        typer.Option(metavar="RATIO", help="Lowest listing price as a ratio of the product price."),
    ] = 0.8,
    price_max: Annotated[
        float,
        typer.Option(
            metavar="RATIO", help="Highest listing price as a ratio of the product price."
        ),
    ] = 1.2,
    pages: Annotated[int, typer.Option(metavar="N", help="Result pages searched per product.")] = 2,
    max_products: Annotated[
        int | None,
        typer.Option(metavar="N", help="Products per category (default: the whole list)."),
    ] = None,
    unknown_price: Annotated[
        str,
        typer.Option(
            metavar="skip|search",
            help="Products without a price: 'skip' them (recorded as skipped) or 'search'"
            " without a price band.",
        ),
    ] = "skip",
    source: Annotated[
        str,
        typer.Option(
            metavar="SOURCE",
            help="Source for both products and listings (see `collector sources`).",
        ),
    ] = "sample",
    product_source: Annotated[
        str | None,
        typer.Option(metavar="SOURCE", help="Product source (overrides --source)."),
    ] = None,
    listing_source: Annotated[
        str | None,
        typer.Option(metavar="SOURCE", help="Listing source (overrides --source)."),
    ] = None,
    products_file: Annotated[
        str | None,
        typer.Option(
            metavar="FILE", help="CSV or JSON product list; implies --product-source file."
        ),
    ] = None,
    source_option: Annotated[
        list[str] | None,
        typer.Option(
            "--source-option",
            "-o",
            metavar="SOURCE.KEY=VALUE",
            help="A source setting, e.g. ebay.page_size=100 or oxylabs.rate=5. Repeatable.",
        ),
    ] = None,
    max_requests: Annotated[
        int | None, typer.Option(metavar="N", help="Limit: end runs cleanly after N requests.")
    ] = None,
    max_duration: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Limit: end runs cleanly after this long (90m, 2h)."),
    ] = None,
    max_errors: Annotated[
        int | None, typer.Option(metavar="N", help="Limit: end runs cleanly after N errors.")
    ] = None,
    max_new_sellers: Annotated[
        int | None,
        typer.Option(metavar="N", help="Limit: end runs cleanly after N new sellers."),
    ] = None,
    max_cost: Annotated[
        str | None,
        typer.Option(
            metavar="USD", help="Limit: end runs cleanly before spending more, e.g. 2.50."
        ),
    ] = None,
    description: Annotated[
        str, typer.Option(metavar="NOTE", help="A note shown in `preset list`.")
    ] = "",
    replace: Annotated[bool, typer.Option(help="Overwrite a preset of the same name.")] = False,
) -> None:
    """Create a preset: the categories to search, sources and filters.

    Ids come from `collector categories`; sources from `collector sources`. Limits stored
    here apply to every run of the preset (`collector run` can override them).

    Examples:

      collector preset add headphones --category electronics-headphones

      collector preset add toys -d toys-games --max-products 20 --any-shipping

      collector preset add kitchen -c home-kitchen-dining --max-duration 30m
    """
    import dataclasses

    from collector_cli import presets
    from collector_cli.engine.limits import RunLimits, parse_cost, parse_duration

    limits = RunLimits(
        max_requests=max_requests,
        max_duration_s=parse_duration(max_duration) if max_duration is not None else None,
        max_errors=max_errors,
        max_new_sellers=max_new_sellers,
        max_cost_micros=parse_cost(max_cost) if max_cost is not None else None,
    ).validate()

    preset = presets.build(
        name,
        departments=department or [],
        categories=category or [],
        filters=Filters(
            condition=condition,
            free_shipping=free_shipping,
            domestic_only=domestic,
            country=country.upper(),
            price_min_ratio=price_min,
            price_max_ratio=price_max,
            pages=pages,
            max_products=max_products,
            unknown_price=unknown_price,
        ),
        product_source="file" if products_file else (product_source or source),
        listing_source=listing_source or source,
        description=description,
        source_options=presets.parse_source_options(source_option or [], products_file),
    )
    preset = dataclasses.replace(preset, limits=limits.to_dict(without_defaults=True))
    replaced = state(ctx).store().presets.add(preset, replace=replace)
    err().print(f"{'Replaced' if replaced else 'Added'} preset {name}: {_scope(preset)}")


@app.command("list", cls=HelpCommand, epilog=exit_codes(EXIT_OK, EXIT_USAGE, EXIT_DATABASE))
def list_(
    ctx: typer.Context,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, however narrow the terminal.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List presets with their categories, sources and filters.

    Examples:

      collector preset list

      collector preset list --json
    """
    found = state(ctx).store().presets.list()
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    from collector_cli import taxonomy
    from collector_cli.ui.tables import Col, print_fitted

    cols = [Col("name"), Col("categories", drop=2, right=True), Col("sources", drop=1),
            Col("filters", drop=3, wrap=True), Col("description", drop=4, wrap=True)]  # fmt: skip
    rows = [
        [
            p.name + (" (built-in)" if p.builtin else ""),
            str(len(taxonomy.expand(p.departments, p.categories))),
            f"{p.product_source} → {p.listing_source}",
            describe_filters(p.filters, short=True),
            p.description,
        ]
        for p in found
    ]
    console = out()
    hidden = print_fitted(console, cols, rows, wide=wide)
    if hidden:
        err().print(f"{hidden} more column{'s' * (hidden != 1)} with --wide or a wider terminal.")


@app.command(
    "show", cls=HelpCommand, epilog=exit_codes(EXIT_OK, EXIT_USAGE, NOT_FOUND, EXIT_DATABASE)
)
def show(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="PRESET", help="Preset name.", autocompletion=complete.presets)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one preset in full, with the categories it expands to.

    Examples:

      collector preset show demo

      collector preset show demo --json
    """
    from collector_cli import taxonomy
    from collector_cli.presets import validate_name

    validate_name(name)
    preset = state(ctx).store().presets.get(name)
    cats = taxonomy.expand(preset.departments, preset.categories)
    if as_json:
        data = preset.to_dict()
        data["expanded_categories"] = [c.id for c in cats]
        print_json(data)
        return
    console = out()
    console.print(f"[bold]{preset.name}[/]" + (" (built-in)" if preset.builtin else ""))
    if preset.description:
        console.print(f"  {preset.description}")
    console.print(f"  sources      {preset.product_source} → {preset.listing_source}")
    console.print(f"  filters      {describe_filters(preset.filters)}")
    for source, options in sorted(preset.source_options.items()):
        settings = ", ".join(f"{key} = {value}" for key, value in sorted(options.items()))
        console.print(f"  options      {escape(source)}: {escape(settings)}")
    if preset.limits:
        console.print(f"  limits       {_limits(preset.limits)}")
    console.print(f"  categories   {len(cats)}")
    for cat in cats:
        console.print(f"    {cat.department_name} › {cat.name} ({cat.id}, node {cat.node_id})")


@app.command(
    "remove",
    cls=HelpCommand,
    epilog=exit_codes(
        EXIT_OK, "2 bad usage, or a schedule uses the preset", NOT_FOUND, EXIT_DATABASE
    ),
)
def remove(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="PRESET", help="Preset name.", autocompletion=complete.presets)
    ],
) -> None:
    """Remove a preset; past runs keep their own copy of it.

    A built-in preset (demo) is restored to its defaults instead. A preset that a schedule
    uses cannot be removed: `collector schedule remove` the schedule first.

    Examples:

      collector preset remove headphones
    """
    from collector_cli.presets import BUILTINS, validate_name

    validate_name(name)
    store = state(ctx).store()
    builtin = any(b.name == name for b in BUILTINS)
    users = store.schedules.using_preset(name)
    if users and not builtin:  # a built-in comes straight back, so its schedules keep working
        from collector_cli.errors import UsageError

        names = ", ".join(f"{s.id} ({s.name})" for s in users)
        raise UsageError(
            f"preset {name} is used by schedule {names}: `collector schedule remove` it first"
        )
    store.presets.remove(name)
    if builtin:
        store.presets.ensure_builtins(BUILTINS)
        err().print(f"Preset {name} is built in: restored to its defaults.")
    else:
        err().print(f"Removed preset {name}.")


def _scope(p: Preset) -> str:
    parts = [f"department {d}" for d in p.departments] + list(p.categories)
    return ", ".join(parts)


def describe_filters(f: Filters, *, short: bool = False) -> str:
    """The filters in words (``short``: the few words of a `preset list` cell)."""
    if short:
        bits = [
            f.condition,
            "free ship" if f.free_shipping else "any ship",
            f.country if f.domestic_only else "any country",
            f"{f.price_min_ratio:g}-{f.price_max_ratio:g}×",
            f"{f.pages}p",
        ]
        if f.unknown_price != "skip":
            bits.append("unpriced: search")
        if f.max_products:
            bits.append(f"{f.max_products}/cat")
        return " ".join(bits)
    bits = [
        f"condition {f.condition}",
        "free shipping" if f.free_shipping else "any shipping",
        f"sellers in {f.country}" if f.domestic_only else "any country",
        f"price {f.price_min_ratio:g}-{f.price_max_ratio:g}× the product's",
        f"{f.pages} result page{'s' if f.pages != 1 else ''} per product",
    ]
    if f.max_products:
        bits.append(f"{f.max_products} products per category")
    bits.append(
        "unpriced products searched without a band"
        if f.unknown_price == "search"
        else "unpriced products skipped"
    )
    return ", ".join(bits)


def _limits(limits: dict[str, int]) -> str:
    from collector_cli.engine.limits import format_duration
    from collector_cli.models import format_money

    parts = []
    for key, value in limits.items():
        if key == "max_duration_s":
            shown = format_duration(value)
        elif key == "max_cost_micros":
            shown = format_money(value)
        else:
            shown = str(value)
        label = key.removesuffix("_s").removesuffix("_micros").replace("_", " ")
        parts.append(f"{label} {shown}")
    return ", ".join(parts)
