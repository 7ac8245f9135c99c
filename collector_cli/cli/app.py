"""The root command: global options, error handling, exit codes."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from collector_cli import __version__
from collector_cli.cli.common import EXIT_CODES_HELP, AppState, HelpCommand, state
from collector_cli.errors import CollectorError, ExitCode


class CollectorGroup(TyperGroup):
    """Turns every domain error into one line on stderr and its documented exit code."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CollectorError as exc:
            self._fail(ctx, exc, str(exc), exc.exit_code)
        except sqlite3.Error as exc:
            self._fail(ctx, exc, f"database error: {exc}", ExitCode.DATABASE)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except typer.TyperException as exc:
            _one_line_usage(exc)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(ExitCode.CANCELLED) from None
        except Exception as exc:
            self._fail(
                ctx,
                exc,
                f"internal error ({type(exc).__name__}; run with --debug for the traceback)",
                ExitCode.ERROR,
            )
        finally:
            if isinstance(ctx.obj, AppState):
                ctx.obj.close()

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        """Parsing the root's own options happens here, before ``invoke``."""
        try:
            return super().make_context(*args, **kwargs)
        except typer.TyperException as exc:
            _one_line_usage(exc)

    @staticmethod
    def _fail(ctx: typer.Context, exc: BaseException, message: str, code: int) -> None:
        if (isinstance(ctx.obj, AppState) and ctx.obj.debug) or os.environ.get("COLLECTOR_DEBUG"):
            import traceback

            traceback.print_exception(exc)
        typer.echo(f"collector: error: {message}", err=True)
        raise typer.Exit(int(code)) from None


def _one_line_usage(exc: typer.TyperException) -> None:
    """Click's usage errors take three lines; keep the one-line contract (exit 2)."""
    if exc.exit_code != ExitCode.USAGE:
        raise exc
    sub = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and sub is not None:
        typer.echo(sub.get_help())  # `collector` or `collector preset` alone: show the help
        raise typer.Exit(0)
    path = sub.command_path if sub is not None else "collector"
    message = _plain_words(exc.format_message())
    typer.echo(f"collector: error: {message} (see '{path} --help')", err=True)
    raise typer.Exit(ExitCode.USAGE) from None


# typer converts option values through pydantic, whose messages speak of "Input" and string
# parsing; say what the user typed wrong instead.
_VALUE_MESSAGES = (
    (re.compile(r"Input should be a valid integer, unable to parse string as an integer"),
     "not a whole number"),
    (re.compile(r"Input should be a valid integer, got a number with a fractional part"),
     "not a whole number"),
    (re.compile(r"Input should be a valid number, unable to parse string as a number"),
     "not a number"),
    (re.compile(r"Input should be greater than or equal to (-?\d+)"), r"use \1 or more"),
    (re.compile(r"Input should be greater than (-?\d+)"), r"use more than \1"),
    (re.compile(r"Input should be less than or equal to 9223372036854775807"), "too large"),
    (re.compile(r"Input should be less than or equal to (-?\d+)"), r"use \1 or less"),
    (re.compile(r"'(.*)' is not a valid integer\."), r"'\1' is not a whole number"),  # click
    (re.compile(r"'(.*)' is not a valid float\."), r"'\1' is not a number"),
)  # fmt: skip


def _plain_words(message: str) -> str:
    for pattern, words in _VALUE_MESSAGES:
        message = pattern.sub(words, message)
    return message


def _quiet_broken_pipe() -> None:
    """The reader went away (`| head`): stop quietly, as a well-behaved filter does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(0)


app = typer.Typer(
    cls=CollectorGroup,
    name="collector",
    help="""Collect marketplace sellers from best-selling products into a local store.

    Each command has its own help, with examples: collector COMMAND --help.

    Examples:

      collector run --preset demo

      collector sellers rank --limit 10

      collector export --format csv --output sellers.csv
    """,
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"collector {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            envvar="COLLECTOR_DB",
            metavar="FILE",
            help="SQLite store to use (default: collector.db in the user data dir).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    app_state = state(ctx)
    app_state.db_path = db
    app_state.debug = debug


def _register() -> None:
    from collector_cli.cli import (
        categories,
        config_cmd,
        control,
        db_cmd,
        doctor,
        export,
        history,
        preset,
        report,
        run,
        schedule,
        seller_insight,
        sellers,
        sources_cmd,
    )

    del seller_insight  # importing it registers rank/show/open on the sellers group

    # HelpCommand: arguments shown as NAME in the help, not as typer's `name <str>`.
    app.command("run", cls=HelpCommand, epilog=EXIT_CODES_HELP)(run.run)
    app.command("resume", cls=HelpCommand, epilog=EXIT_CODES_HELP)(run.resume)
    app.command("stop", cls=HelpCommand, epilog=EXIT_CODES_HELP)(control.stop)
    app.command("watch", cls=HelpCommand, epilog=EXIT_CODES_HELP)(control.watch)
    app.command("status", cls=HelpCommand)(control.status)
    app.command("export", cls=HelpCommand)(export.export)
    app.add_typer(preset.app, name="preset")
    app.add_typer(history.app, name="history")
    app.add_typer(sellers.app, name="sellers")
    app.command("categories", cls=HelpCommand, epilog=categories.EPILOG)(categories.categories)
    app.command("sources", cls=HelpCommand, epilog=sources_cmd.EPILOG)(sources_cmd.sources)
    app.command("report", cls=HelpCommand, epilog=report.EPILOG)(report.report)
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(schedule.app, name="schedule")
    app.add_typer(db_cmd.app, name="db")
    app.command("doctor", cls=HelpCommand, epilog=doctor.EPILOG)(doctor.doctor)


_register()


def main() -> None:
    _tolerant_terminal()
    app()


def _tolerant_terminal() -> None:
    """A terminal whose encoding cannot show a seller's name (latin-1, ASCII) gets '?' in its
    place instead of a crash. Exports are unaffected: they write UTF-8 themselves."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="replace")
