"""`collector config …`: credentials, API base URLs and source settings in the config file."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from collector_cli.cli.common import EXIT_OK, HelpCommand, err, exit_codes, out, print_json

BAD_FILE = "2 bad usage or an unreadable config file"

app = typer.Typer(
    help="""Show and change the config file: credentials, URLs, settings.

    The file is readable by you only (0600); secrets are masked when shown. Settings in the
    environment (COLLECTOR_OXYLABS_USERNAME, ...) win over the file, except in scheduled
    runs, which read the file only.

    Examples:

      collector config set oxylabs.username my-user

      collector config show

      collector config path
    """,
    epilog=exit_codes(EXIT_OK, "2 bad usage, key or value", "3 key not set (config unset)"),
    no_args_is_help=True,
)

MASK = "********"


@app.command(
    "set",
    cls=HelpCommand,
    epilog=exit_codes(EXIT_OK, "2 bad usage, key or value, or an unwritable config file"),
)
def set_(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="oxylabs.username, oxylabs.password, oxylabs.url, ebay.client_id,"
            " ebay.client_secret, ebay.url or sources.NAME.OPTION.",
        ),
    ],
    value: Annotated[
        str | None,
        typer.Argument(
            metavar="VALUE",
            help="The value. Leave it out to be prompted (hidden for secrets), or '-' to read"
            " it from standard input, so a secret stays out of your shell history.",
        ),
    ] = None,
) -> None:
    """Set one setting in the config file.

    The file is created readable by you only (0600). A secret left out of the command line
    is asked for without echo, or read from stdin with '-'.

    Examples:

      collector config set oxylabs.username my-user

      collector config set oxylabs.password

      collector config set sources.sample.latency_ms 0
    """
    from collector_cli import config
    from collector_cli.errors import UsageError

    parts = config.parse_key(key)
    secret = len(parts) == 2 and config.VENDOR_KEYS[parts[0]][parts[1]].secret
    if value == "-":
        value = sys.stdin.readline().rstrip("\r\n")
    elif value is None:
        if not sys.stdin.isatty():
            raise UsageError(f"config set {key}: give a VALUE, or '-' to read it from stdin")
        value = typer.prompt(key, hide_input=secret)
    if not value.strip():
        raise UsageError(f"config set {key}: the value is empty (use `config unset {key}`)")
    if len(parts) == 2 and parts[1] == "url" and not value.startswith(("http://", "https://")):
        raise UsageError(f"invalid {key} {value!r}: use an http:// or https:// URL")
    data = _editable()
    if len(parts) == 2:
        data.setdefault(parts[0], {})[parts[1]] = value.strip()
    else:
        options = data.setdefault("sources", {}).setdefault(parts[1], {})
        options[parts[2]] = config.parse_value(value)
        _check_source_options(parts[1], options)
    path = config.write(data)
    shown = MASK if secret else value
    err().print(f"Set {key} = {shown} in {path}", highlight=False, markup=False)


@app.command("unset", cls=HelpCommand, epilog=exit_codes(EXIT_OK, BAD_FILE, "3 the key is not set"))
def unset(
    key: Annotated[str, typer.Argument(metavar="KEY", help="A key as for `config set`.")],
) -> None:
    """Remove one setting from the config file.

    Examples:

      collector config unset oxylabs.password

      collector config unset sources.sample.latency_ms
    """
    from collector_cli import config
    from collector_cli.errors import NotFoundError

    parts = config.parse_key(key)
    data = _editable()
    table: Any = data
    for part in parts[:-1]:
        table = table.get(part) if isinstance(table, dict) else None
    if not isinstance(table, dict) or parts[-1] not in table:
        raise NotFoundError(f"{key} is not set in {config.config_path()}")
    del table[parts[-1]]
    config.write(data)
    err().print(f"Removed {key} from {config.config_path()}", markup=False)


@app.command("show", cls=HelpCommand, epilog=exit_codes(EXIT_OK, BAD_FILE))
def show(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show every setting in effect and where it comes from.

    Secrets are masked, and so are the schedules' notification URLs (notify.STORE-ID),
    which may hold passwords or tokens.

    Examples:

      collector config show

      collector config show --json
    """
    from collector_cli import config
    from collector_cli.schedule.notify import mask

    rows = []
    for vendor, keys in config.VENDOR_KEYS.items():
        for key, spec in keys.items():
            value, origin = config.vendor_setting(vendor, key)
            if value and spec.secret:
                value = MASK
            where = f"env {spec.env}" if origin == "env" else origin
            rows.append({"key": f"{vendor}.{key}", "value": value, "from": where if value else ""})
    for source, options in sorted(config.load().get("sources", {}).items()):
        for option, value in sorted(options.items()):
            rows.append({"key": f"sources.{source}.{option}", "value": value, "from": "config"})
    for key, urls in config.all_notify_urls().items():
        masked = ", ".join(mask(url) for url in urls)
        rows.append({"key": f"notify.{key}", "value": masked, "from": "config"})
    where = config.locate()
    if as_json:
        print_json({"config_file": str(where.path), "found_by": where.found_by, "settings": rows})
        return
    from collector_cli.ui.tables import plain_table

    table = plain_table(("key", "value", "from"))
    for row in rows:
        shown = "(not set)" if row["value"] in (None, "") else str(row["value"])
        table.add_row(row["key"], shown, row["from"])
    console = out()
    console.print(f"config file: {where.path} (found by {where.found_by})", highlight=False,
                  markup=False)  # fmt: skip
    console.print(table)


@app.command("path", cls=HelpCommand, epilog=exit_codes(EXIT_OK, "2 bad usage"))
def path() -> None:
    """Print where the config file is (it may not exist yet).

    Examples:

      collector config path

      COLLECTOR_CONFIG=~/work.toml collector config path
    """
    from collector_cli import config

    out().print(str(config.config_path()), highlight=False, markup=False, soft_wrap=True)


def _check_source_options(name: str, options: dict[str, Any]) -> None:
    """A bad value is refused now rather than at the next run; so is an unknown source."""
    from collector_cli.errors import UsageError
    from collector_cli.sources.base import LISTING_SOURCES, PRODUCT_SOURCES, check_options

    registries = (("product", PRODUCT_SOURCES), ("listing", LISTING_SOURCES))
    kinds = [kind for kind, registry in registries if name in registry]
    if not kinds:
        known = sorted(set(PRODUCT_SOURCES) | set(LISTING_SOURCES))
        raise UsageError(f"unknown source {name!r} (available: {', '.join(known)})")
    for kind in kinds:
        check_options(name, kind, options)


def _editable() -> dict[str, Any]:
    """The file's own contents (not the environment), ready to change and write back."""
    import copy

    from collector_cli import config

    return copy.deepcopy(config.load())
