"""`collector sellers rank | show | open`: which sellers matter, why, and their evidence.

Registered on the `sellers` group (cli/sellers.py holds the listing and curating commands).
The figures come from ``insight.ranking`` over ``store.evidence``; this module only parses,
resolves the scope once and renders.
"""

from __future__ import annotations

from typing import Annotated

import typer

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
from collector_cli.cli.sellers import MAX_INT, NO_SELLER, AsJson, NamePlatform, app
from collector_cli.errors import NotFoundError, UsageError
from collector_cli.store.evidence import Scope
from collector_cli.store.sellers import validate_platform

SellerName = Annotated[
    str,
    typer.Argument(metavar="NAME", help="Seller name (any case).", autocompletion=complete.sellers),
]
RunRef = Annotated[
    str | None,
    typer.Option(
        "--run",
        metavar="RUN",
        help="Only the evidence of this run (an id, latest or latest-completed).",
        autocompletion=complete.runs,
    ),
]
SinceRun = Annotated[
    int | None,
    typer.Option("--since-run", metavar="RUN", help="Only the evidence of this run and later."),
]
Department = Annotated[
    str | None,
    typer.Option(
        "--department",
        "-d",
        metavar="ID",
        help="Only products of this department.",
        autocompletion=complete.departments,
    ),
]
Category = Annotated[
    str | None,
    typer.Option(
        "--category",
        "-c",
        metavar="ID",
        help="Only products of this category.",
        autocompletion=complete.categories,
    ),
]


def resolve_scope(
    ctx: typer.Context,
    run: str | None,
    since_run: int | None,
    department: str | None,
    category: str | None,
) -> Scope:
    """The scope named on the command line, checked against the store (unknown → exit 3)."""
    store = state(ctx).store()
    if run is not None and since_run is not None:
        raise UsageError("--run and --since-run exclude each other: give one")
    if since_run is not None and not 1 <= since_run <= MAX_INT:
        raise UsageError(f"invalid --since-run {since_run}: a run id (1 or more)")
    from collector_cli.store import run_refs

    run_id = run_refs.resolve(store, run, "--run") if run is not None else None
    scope = Scope(run_id=run_id, since_run=since_run, department=department, category=category)
    store.evidence.check_scope(scope)
    return scope


def describe(scope: Scope) -> str:
    parts = []
    if scope.run_id is not None:
        parts.append(f"run #{scope.run_id}")
    elif scope.since_run is not None:
        parts.append(f"runs #{scope.since_run} and later")
    else:
        parts.append("all runs")
    if scope.department:
        parts.append(f"department {scope.department}")
    if scope.category:
        parts.append(f"category {scope.category}")
    return ", ".join(parts)


RANK_EXIT_CODES = exit_codes(
    EXIT_OK, EXIT_USAGE, "3 no such run, or no run searched that department or category",
    EXIT_DATABASE,
)  # fmt: skip


@app.command("rank", cls=HelpCommand, epilog=RANK_EXIT_CODES)
def rank(
    ctx: typer.Context,
    run: RunRef = None,
    since_run: SinceRun = None,
    department: Department = None,
    category: Category = None,
    min_products: Annotated[
        int, typer.Option(metavar="K", help="Only sellers that matched K products or more.")
    ] = 1,
    limit: Annotated[int, typer.Option(metavar="N", help="Show the best N sellers.")] = 20,
    as_json: AsJson = False,
) -> None:
    """Rank sellers by evidence: best-sellers, markup, runs seen.

    The best sellers match many best-selling products at a steady markup, run after run.
    The score and its terms are explained in the README ("Ranking sellers").

    Examples:

      collector sellers rank

      collector sellers rank --run latest -c electronics-headphones --limit 10

      collector sellers rank --min-products 5 --json | jq '.[0].why'
    """
    from collector_cli.insight.ranking import rank as rank_sellers
    from collector_cli.ui.insight import print_ranking

    if not 1 <= limit <= MAX_INT:
        raise UsageError(f"invalid --limit {limit}: show at least 1 seller")
    if not 1 <= min_products <= MAX_INT:
        raise UsageError(f"invalid --min-products {min_products}: use 1 or more")
    scope = resolve_scope(ctx, run, since_run, department, category)
    ranked = rank_sellers(state(ctx).store().evidence, scope, min_products)
    if as_json:
        print_json([{"rank": i, **f.as_dict()} for i, f in enumerate(ranked[:limit], 1)])
        return
    if not ranked:
        counts = state(ctx).store().evidence.counts()
        if not counts["rows"]:
            err().print(
                "No seller evidence yet: runs record it from this version on."
                " Start one with `collector run --preset demo`."
            )
        else:
            err().print(
                f"No seller matched {min_products} or more products in {describe(scope)}"
                f" (evidence of {counts['runs']} runs is stored)."
            )
        return
    print_ranking(out(), ranked[:limit], describe(scope))
    if len(ranked) > limit:
        err().print(f"Showing {limit} of {len(ranked):,} ranked sellers (use --limit to see more).")


@app.command(
    "show",
    cls=HelpCommand,
    epilog=exit_codes(
        EXIT_OK, "2 bad usage, or the name is on several platforms", NO_SELLER, EXIT_DATABASE
    ),
)
def show(
    ctx: typer.Context,
    name: SellerName,
    platform: NamePlatform = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every matched product.")] = False,
    as_json: AsJson = False,
) -> None:
    """Show one seller in full: profile, score, evidence, feedback.

    Also the runs that saw it, a chart of its feedback over time and its profile address.
    The products it matched: the first 15, or all with --all.

    Examples:

      collector sellers show "Dubois, Nguyen & Co 1"

      collector sellers show ecohub-direct00 --all --json
    """
    from collector_cli.insight.profiles import profile_url
    from collector_cli.insight.ranking import figures_of
    from collector_cli.ui.insight import print_evidence, print_feedback_chart
    from collector_cli.ui.sellers import print_seller, seller_page_dict

    store = state(ctx).store()
    seller = store.sellers.get(name, validate_platform(platform) if platform else None)
    runs = store.sellers.runs_of(seller["id"])
    history = store.sellers.feedback_history(seller["id"])
    figures = figures_of(store.evidence, Scope(), seller["id"])
    products = store.evidence.products_of(seller["id"])
    profile = profile_url(seller["platform"], seller["name"])
    if as_json:
        page = seller_page_dict(seller, runs, history)
        page["profile_url"] = profile
        page["figures"] = figures.as_dict() if figures else None
        page["products"] = [dict(row) for row in products]
        print_json(page)
        return
    console = out()
    print_seller(console, seller, runs, history, profile=profile)
    print_feedback_chart(console, history)
    console.print()
    print_evidence(console, figures, products, len(products) if show_all else 15)


OPEN_EXIT_CODES = exit_codes(
    EXIT_OK, EXIT_USAGE, "3 no such seller, or its marketplace has no profile pages",
    EXIT_DATABASE,
)  # fmt: skip


@app.command("open", cls=HelpCommand, epilog=OPEN_EXIT_CODES)
def open_(
    ctx: typer.Context,
    name: SellerName,
    platform: NamePlatform = None,
) -> None:
    """Open a seller's marketplace profile in the web browser.

    The address is printed on stdout too, so with no browser at hand it can be copied.

    Examples:

      collector sellers open some_ebay_seller

      BROWSER=firefox collector sellers open some_ebay_seller --platform ebay
    """
    import webbrowser

    from collector_cli.insight.profiles import profile_url

    seller = state(ctx).store().sellers.get(name, validate_platform(platform) if platform else None)
    url = profile_url(seller["platform"], seller["name"])
    if url is None:
        raise NotFoundError(
            f"{seller['name']!r} is a {seller['platform']} seller: that marketplace has no"
            " profile pages (`sellers show` lists example listings)"
        )
    opened = False
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    print(url)
    if opened:
        err().print("Opened in the browser.")
    else:
        err().print("No browser to open it with here: the address is above.")
