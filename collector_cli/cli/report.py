"""`collector report`: write the HTML report (insight/report.py builds it) and maybe open it.

Thin: check where the file goes before reading anything, resolve the run, gather, render,
write atomically. The page is built in memory first, so a failure at any point leaves the
previous file (or none) in place, never a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from collector_cli.cli import complete
from collector_cli.cli.common import EXIT_DATABASE, EXIT_OK, err, exit_codes, state
from collector_cli.errors import NotFoundError, UsageError

DEFAULT_NAME = "collector-report.html"
EPILOG = exit_codes(EXIT_OK, "2 bad usage or an unwritable file", "3 no such run", EXIT_DATABASE)


def report(
    ctx: typer.Context,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="RUN",
            autocompletion=complete.runs,
            help="Chart the yield per category of this run (an id or latest; default: the"
            " latest run with sellers). The other charts and the shortlist cover all runs.",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help=f"Write the page here (default: {DEFAULT_NAME} in the current directory),"
            " atomically: replaced whole or left as it was.",
            show_default=False,
        ),
    ] = None,
    open_it: Annotated[
        bool, typer.Option("--open", help="Then open it in the web browser.")
    ] = False,
) -> None:
    """Write an HTML report: charts of the runs, ranked shortlist.

    Charts: sellers found and new per run, known sellers over time, the yield per category of
    one run, duration and cost per run, the feedback of the top sellers. Then the best sellers
    by score, each with the products it matched. The file needs no network to open: the
    chart library is inside it (about 5 MB). The path is printed on stdout; with no runs yet
    the page says so.

    Examples:

      collector report

      collector report --run latest --output ~/report-latest.html

      collector report --open
    """
    from collector_cli.store import run_refs

    target = _target(output)
    store = state(ctx).store()
    yield_run = None
    if run is not None:
        yield_run = run_refs.resolve(store, run, "--run")
    else:
        with contextlib.suppress(NotFoundError):  # no run has seen sellers: no yield chart
            yield_run = store.export.resolve_run("latest")

    from collector_cli.insight.report import gather, render
    from collector_cli.ui.runs import run_dict

    page = gather(store, [run_dict(r) for r in store.runs.list()], yield_run)
    special = target.exists() and not target.is_file()  # a FIFO, /dev/stdout: no path to print
    size = _write(target, render(page).encode("utf-8"))
    if not special:
        print(target)
    wrote = f"{target} ({_size(size)})"
    if not page.runs:
        wrote = f"No runs yet: wrote {wrote}, a page that says so. Start one with"
        wrote += " `collector run --preset demo`."
    elif not page.shortlist:
        wrote = f"Wrote {wrote}: {len(page.runs):,} runs; no seller evidence yet, no shortlist."
    else:
        wrote = (
            f"Wrote {wrote}: {len(page.runs):,} runs, the best {len(page.shortlist)} of"
            f" {page.ranked_total:,} ranked sellers."
        )
    err().print(wrote)
    if open_it:
        _open(target)


def _target(output: str | None) -> Path:
    """The file to write, absolute; refused before the store is read if it cannot be one."""
    if output is not None and not output.strip():
        raise UsageError("--output needs a path")
    path = Path(output).expanduser() if output is not None else Path(DEFAULT_NAME)
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise UsageError(f"cannot write {path}: is a directory (give a file name)")
    if not path.parent.exists():
        raise UsageError(f"cannot write {path}: directory {path.parent} does not exist")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: {path.parent} is not a directory")
    return path


def _write(path: Path, data: bytes) -> int:
    """A temporary file beside ``path`` renamed over it: readers see the old page or the new
    one. Any failure, Ctrl-C included, removes the temporary file."""
    if path.exists() and not path.is_file():
        # A FIFO or a device (/dev/stdout) is written into: renaming over it would replace
        # the node itself.
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        return len(data)
    path = path.resolve()  # a symbolic link keeps pointing at the new page
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def _size(n: int) -> str:
    return f"{n / 1048576:,.1f} MiB" if n >= 1048576 else f"{n / 1024:,.1f} KiB"


def _open(path: Path) -> None:
    import webbrowser

    try:
        opened = webbrowser.open(path.as_uri())
    except webbrowser.Error:
        opened = False
    if opened:
        err().print("Opened in the browser.")
    else:
        err().print("No browser to open it with here: the path is above.")
