"""`collector sellers …`: browse the sellers runs found, add and curate them by hand.

Names are matched the way the store keys them (Unicode NFKC, case-insensitive, whitespace
collapsed), so `sellers show "müller handelsgesellschaft"` finds "Müller Handelsgesellschaft".
Every manual change (add, remove, flag, unflag) is all-or-nothing and is written to the audit
log (`sellers log`) in the same transaction.
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
from collector_cli.errors import UsageError
from collector_cli.store.sellers import (
    AUDIT_ACTIONS,
    DEFAULT_PLATFORM,
    ORDERS,
    ChangeResult,
    SellerFilter,
    query_key,
    validate_platform,
)

app = typer.Typer(
    help="""Browse, rank and curate the sellers that runs found.

    List, search, rank and show sellers; add, remove and flag them by hand; every manual
    change is kept in the audit log (`sellers log`). Names match in any case or Unicode form.

    Examples:

      collector sellers rank --limit 10

      collector sellers search kraków

      collector sellers flag ecohub-direct00 --note "ask for a quote"
    """,
    epilog=exit_codes(EXIT_OK, EXIT_USAGE, "3 no such seller or run", EXIT_DATABASE),
    no_args_is_help=True,
)

NO_SELLER = "3 no such seller"

MAX_INT = 2**63 - 1  # SQLite's largest integer

# -- shared options ------------------------------------------------------------------------------

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Wide = Annotated[bool, typer.Option("--wide", help="Every column, however narrow the terminal.")]
PlatformFilter = Annotated[
    str | None,
    typer.Option("--platform", "-p", metavar="PLATFORM", help="Only sellers on this platform."),
]
Flagged = Annotated[
    bool | None,
    typer.Option("--flagged/--unflagged", help="Only flagged (or only unflagged) sellers."),
]
Exported = Annotated[
    bool | None,
    typer.Option(
        "--exported/--unexported", help="Only sellers already exported (or never exported)."
    ),
]
Origin = Annotated[
    str | None,
    typer.Option(
        metavar="run|manual",
        help="Only sellers found by runs ('run') or added by hand ('manual').",
    ),
]
NewIn = Annotated[
    int | None, typer.Option("--new-in", metavar="RUN", help="Only sellers new in this run.")
]
SeenIn = Annotated[
    int | None, typer.Option("--seen-in", metavar="RUN", help="Only sellers this run saw.")
]
MinFeedback = Annotated[
    int | None, typer.Option(metavar="N", help="Only sellers with a feedback score of N or more.")
]
MinTimesSeen = Annotated[
    int | None, typer.Option(metavar="N", help="Only sellers seen by N runs or more.")
]
Limit = Annotated[int, typer.Option(metavar="N", help="Show at most N sellers (0: all).")]
Order = Annotated[
    str,
    typer.Option(
        metavar="ORDER",
        help=f"Sort by {', '.join(ORDERS)} (sightings, feedback: highest first).",
    ),
]
Note = Annotated[
    str | None,
    typer.Option(metavar="NOTE", help="A note kept with this change in the audit log."),
]
NamePlatform = Annotated[
    str | None,
    typer.Option(
        "--platform",
        "-p",
        metavar="PLATFORM",
        help="The seller's platform (needed when the name is on several).",
    ),
]
LIST_EXIT_CODES = exit_codes(
    EXIT_OK, EXIT_USAGE, "3 no such run (--new-in, --seen-in)", EXIT_DATABASE
)
CHANGE_EXIT_CODES = exit_codes(EXIT_OK, EXIT_USAGE, NO_SELLER, EXIT_DATABASE)


def _filter(
    *,
    platform: str | None,
    flagged: bool | None,
    exported: bool | None,
    origin: str | None,
    new_in: int | None,
    seen_in: int | None,
    min_feedback: int | None,
    min_times_seen: int | None,
    limit: int,
    order: str,
    contains: str | None = None,
) -> SellerFilter:
    if order not in ORDERS:
        raise UsageError(f"invalid --order {order!r}: use one of {', '.join(ORDERS)}")
    _check_limit(limit)
    for option, value in (("--min-feedback", min_feedback), ("--min-times-seen", min_times_seen)):
        if value is not None and not 0 <= value <= MAX_INT:
            raise UsageError(f"invalid {option} {value}: {_range(value, 0)}")
    for option, value in (("--new-in", new_in), ("--seen-in", seen_in)):
        if value is not None and not 1 <= value <= MAX_INT:
            raise UsageError(f"invalid {option} {value}: {_range(value, 1)}, a run id")
    if origin is not None and origin not in ("run", "manual"):
        raise UsageError(f"invalid --origin {origin!r}: use run or manual")
    return SellerFilter(
        platform=validate_platform(platform) if platform is not None else None,
        flagged=flagged,
        exported=exported,
        origin=origin,
        new_in=new_in,
        seen_in=seen_in,
        min_feedback=min_feedback,
        min_times_seen=min_times_seen,
        contains=contains,
        order=order,
        limit=limit or None,
    )


def _range(value: int, low: int) -> str:
    return f"use {low} or more" if value < low else "too large"


def _check_limit(limit: int) -> None:
    if not 0 <= limit <= MAX_INT:
        raise UsageError(f"invalid --limit {limit}: {_range(limit, 0)} (0 shows all)")


def _print_list(
    ctx: typer.Context, f: SellerFilter, as_json: bool, empty: str, wide: bool = False
) -> None:
    from collector_cli.ui.sellers import SELLER_COLS, seller_dict, seller_rows
    from collector_cli.ui.tables import print_fitted

    repo = state(ctx).store().sellers
    rows, total = repo.list(f)
    if as_json:
        print_json([seller_dict(r) for r in rows])
        return
    if not rows:
        everyone = repo.list(SellerFilter(limit=1))[1]
        if everyone:
            err().print(f"{empty} ({everyone:,} sellers in the store.)")
        else:
            err().print("No sellers yet. Collect some with: collector run --preset demo")
        return
    console = out()
    hidden = print_fitted(console, SELLER_COLS, seller_rows(rows), wide=wide)
    if len(rows) < total:
        err().print(f"Showing {len(rows):,} of {total:,} sellers (use --limit to see more).")
    if hidden:
        err().print(f"{hidden} more column{'s' * (hidden != 1)} with --wide or a wider terminal.")


# -- reading -------------------------------------------------------------------------------------


@app.command("list", cls=HelpCommand, epilog=LIST_EXIT_CODES)
def list_(
    ctx: typer.Context,
    platform: PlatformFilter = None,
    flagged: Flagged = None,
    exported: Exported = None,
    origin: Origin = None,
    new_in: NewIn = None,
    seen_in: SeenIn = None,
    min_feedback: MinFeedback = None,
    min_times_seen: MinTimesSeen = None,
    limit: Limit = 50,
    order: Order = "sightings",
    wide: Wide = False,
    as_json: AsJson = False,
) -> None:
    """List sellers, most sightings first; filters combine.

    Every filter given must hold. `sellers rank` orders them by evidence instead.

    Examples:

      collector sellers list --limit 10

      collector sellers list --flagged --order feedback

      collector sellers list --new-in 1 --json
    """
    f = _filter(
        platform=platform,
        flagged=flagged,
        exported=exported,
        origin=origin,
        new_in=new_in,
        seen_in=seen_in,
        min_feedback=min_feedback,
        min_times_seen=min_times_seen,
        limit=limit,
        order=order,
    )
    _print_list(ctx, f, as_json, "No seller matches these filters.", wide)


@app.command("search", cls=HelpCommand, epilog=LIST_EXIT_CODES)
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(metavar="QUERY", help="Part of a seller name (any case).")],
    platform: PlatformFilter = None,
    flagged: Flagged = None,
    exported: Exported = None,
    origin: Origin = None,
    new_in: NewIn = None,
    seen_in: SeenIn = None,
    min_feedback: MinFeedback = None,
    min_times_seen: MinTimesSeen = None,
    limit: Limit = 50,
    order: Order = "sightings",
    wide: Wide = False,
    as_json: AsJson = False,
) -> None:
    """Find sellers by part of their name (any case, any Unicode form).

    Matches names that contain QUERY once both are normalized. An exact match comes first,
    then names that start with QUERY, then the rest by --order. The filters of `sellers
    list` apply too.

    Examples:

      collector sellers search kraków

      collector sellers search direct --order feedback --limit 5
    """
    f = _filter(
        platform=platform,
        flagged=flagged,
        exported=exported,
        origin=origin,
        new_in=new_in,
        seen_in=seen_in,
        min_feedback=min_feedback,
        min_times_seen=min_times_seen,
        limit=limit,
        order=order,
        contains=query_key(text, "search text"),
    )
    _print_list(ctx, f, as_json, f"No seller name contains {text!r}.", wide)


@app.command("log", cls=HelpCommand, epilog=exit_codes(EXIT_OK, EXIT_USAGE, EXIT_DATABASE))
def log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(metavar="N", help="Show at most N entries (0: all).")] = 50,
    action: Annotated[
        str | None,
        typer.Option(metavar="ACTION", help=f"Only this action ({', '.join(AUDIT_ACTIONS)})."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show the audit log: every manual change and export mark.

    Newest first; each entry with its note, if one was given.

    Examples:

      collector sellers log

      collector sellers log --action flag --limit 10
    """
    from collector_cli.ui.sellers import audit_dict, audit_table

    _check_limit(limit)
    if action is not None and action not in AUDIT_ACTIONS:
        raise UsageError(f"invalid --action {action!r}: use one of {', '.join(AUDIT_ACTIONS)}")
    rows = state(ctx).store().sellers.audit_log(limit=limit or None, action=action)
    if as_json:
        print_json([audit_dict(r) for r in rows])
        return
    if not rows:
        err().print("The audit log is empty.")
        return
    out().print(audit_table(rows))


# -- manual changes ------------------------------------------------------------------------------

Names = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="NAME",
        help="Seller names; '-' reads one name per line from stdin. "
        "Use -- before names that start with '-'.",
        show_default=False,
    ),
]


def _names(names: list[str] | None, *, stdin_allowed: bool) -> list[str]:
    """Names from the arguments, with '-' (or no names and a piped stdin) read from stdin."""
    import sys

    given = list(names or [])
    if not stdin_allowed:
        return given
    if not given and not sys.stdin.isatty():
        given = ["-"]
    if given.count("-") > 1:
        raise UsageError("'-' (read names from stdin) can be given only once")
    result: list[str] = []
    for name in given:
        if name == "-":
            result.extend(_stdin_names())
        else:
            result.append(name)
    return result


def _stdin_names() -> list[str]:
    data = typer.get_binary_stream("stdin").read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not UTF-8 text (byte {exc.start})") from None
    return [line for line in text.splitlines() if line.strip()]


def _report(result: ChangeResult, as_json: bool) -> None:
    if as_json:
        print_json(
            {"action": result.action, "changed": result.changed, "unchanged": result.unchanged}
        )
        return
    from collector_cli.ui.sellers import display_name

    verb = {"add": "Added", "remove": "Removed", "flag": "Flagged", "unflag": "Unflagged"}[
        result.action
    ]
    console = err()
    if len(result.changed) <= 20:
        for s in result.changed:
            console.print(f"{verb} {display_name(s['name'])!r} ({s['platform']}).", markup=False)
    else:
        console.print(f"{verb} {len(result.changed):,} sellers.")
    if len(result.unchanged) <= 20:
        for s in result.unchanged:
            console.print(
                f"Unchanged: {display_name(s['name'])!r} ({s['platform']}): {s['reason']}.",
                markup=False,
            )
    else:
        console.print(f"Unchanged: {len(result.unchanged):,} sellers (already so).")
    if not result.changed:
        console.print("Nothing changed.")


@app.command(
    "add",
    cls=HelpCommand,
    epilog=exit_codes(EXIT_OK, "2 bad usage, a bad name or no names", EXIT_DATABASE),
)
def add(
    ctx: typer.Context,
    names: Names = None,
    platform: Annotated[
        str,
        typer.Option("--platform", "-p", metavar="PLATFORM", help="Platform the sellers are on."),
    ] = DEFAULT_PLATFORM,
    note: Note = None,
    as_json: AsJson = False,
) -> None:
    """Add sellers by hand, from the arguments or stdin.

    Their origin is 'manual'. With no NAME and a piped stdin, or with '-', names are read
    one per line (blank lines skipped, outer whitespace trimmed). Names are kept as typed; a
    name already known on the platform (in any case or Unicode form) is left alone and
    reported. Default platform: ebay.

    Examples:

      collector sellers add some_ebay_seller another_seller

      collector sellers add --note "from the trade fair" < names.txt
    """
    result = state(ctx).store().sellers.add(_names(names, stdin_allowed=True), platform, note=note)
    _report(result, as_json)


@app.command(
    "remove",
    cls=HelpCommand,
    epilog=exit_codes(
        EXIT_OK, "2 bad usage, or seen by runs and no --force", NO_SELLER, EXIT_DATABASE
    ),
)
def remove(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(metavar="NAME", help="Seller names.", autocompletion=complete.sellers),
    ],
    platform: NamePlatform = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also remove sellers that runs have seen: their per-run rows and feedback "
            "history go too, and those runs' seller counts drop by one.",
        ),
    ] = False,
    note: Note = None,
    as_json: AsJson = False,
) -> None:
    """Remove sellers; without --force, only those no run has seen.

    Sellers no run has seen are the manual additions. Either every named seller is removed
    or none is. A later run that sees a removed seller adds it again as new.

    Examples:

      collector sellers remove some_ebay_seller

      collector sellers remove "Kraków Store 0" --force --note "closed down"
    """
    result = state(ctx).store().sellers.remove(names, platform, force=force, note=note)
    _report(result, as_json)


@app.command("flag", cls=HelpCommand, epilog=CHANGE_EXIT_CODES)
def flag(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(metavar="NAME", help="Seller names.", autocompletion=complete.sellers),
    ],
    platform: NamePlatform = None,
    note: Note = None,
    as_json: AsJson = False,
) -> None:
    """Flag sellers to follow up on.

    Flagging a flagged seller changes nothing. `sellers list --flagged` lists them.

    Examples:

      collector sellers flag ecohub-direct00 --note "ask for a quote"

      collector sellers flag ecohub-direct00 urbanmarket-direct16
    """
    result = state(ctx).store().sellers.set_flag(names, True, platform, note=note)
    _report(result, as_json)


@app.command("unflag", cls=HelpCommand, epilog=CHANGE_EXIT_CODES)
def unflag(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(metavar="NAME", help="Seller names.", autocompletion=complete.sellers),
    ],
    platform: NamePlatform = None,
    note: Note = None,
    as_json: AsJson = False,
) -> None:
    """Clear the flag on sellers.

    Unflagging an unflagged seller changes nothing.

    Examples:

      collector sellers unflag ecohub-direct00

      collector sellers unflag ecohub-direct00 --note "quote received"
    """
    result = state(ctx).store().sellers.set_flag(names, False, platform, note=note)
    _report(result, as_json)
