"""`collector export`: stream sellers to stdout, a file (atomically) or the clipboard."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from collector_cli.cli.common import err, state
from collector_cli.errors import CollectorError, UsageError

if TYPE_CHECKING:
    from collector_cli.store.db import Store


def export(
    ctx: typer.Context,
    run: Annotated[
        str | None, typer.Option(metavar="ID|latest", help="Only the sellers this run saw.")
    ] = None,
    new: Annotated[
        bool, typer.Option("--new", help="Only sellers new in the run (default run: latest).")
    ] = False,
    since_run: Annotated[
        int | None,
        typer.Option(
            metavar="ID", min=0, max=2**63 - 1, help="Only sellers first seen after run ID."
        ),
    ] = None,
    unexported: Annotated[
        bool, typer.Option("--unexported", help="Only sellers never exported with a mark.")
    ] = False,
    flagged: Annotated[bool, typer.Option("--flagged", help="Only flagged sellers.")] = False,
    platform: Annotated[str | None, typer.Option(help="Only sellers of this platform.")] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="csv, json, jsonl or text (names only). Default: csv; text for --clipboard.",
            show_default=False,
        ),
    ] = None,
    fields: Annotated[
        str | None, typer.Option(help="Comma-separated fields, in this order (default: all).")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="Write to this file (or DIR/ for a dated name), atomically."
        ),
    ] = None,
    excel: Annotated[
        bool, typer.Option("--excel", help="CSV for spreadsheets: BOM, CRLF, no formulas.")
    ] = False,
    clipboard: Annotated[
        bool, typer.Option("--clipboard", help="Copy to the clipboard instead of printing.")
    ] = False,
    mark_exported: Annotated[
        bool, typer.Option("--mark-exported", help="Stamp exported_at on the exported sellers.")
    ] = False,
    sort: Annotated[
        str,
        typer.Option(metavar="ORDER", help="id (first found first) or score (best ranked first)."),
    ] = "id",
) -> None:
    """Export sellers. Data goes to stdout (or --output / --clipboard); messages to stderr.

    Fields, in order: name, platform, feedback_score, feedback_score_approx, feedback_percent,
    times_seen, sightings, first_seen_run, first_seen_at, last_seen_run, last_seen_at, flagged,
    exported_at; with --run also run_sightings and new_in_run. On request (--fields) the
    ranking figures: score, products, categories, departments, listings, markup,
    markup_spread, runs_seen, runs_possible, feedback_growth_30d, feedback_growth_approx, why
    (over the run's evidence with --run, else over all runs).
    """
    from collector_cli import exporters
    from collector_cli.exporters.base import FIELDS, INSIGHT_FIELDS, RUN_FIELDS
    from collector_cli.store.export import Selection

    fmt = fmt or ("text" if clipboard else "csv")
    exporter_cls = exporters.exporter_class(fmt)
    if excel and fmt != "csv":
        raise UsageError("--excel applies to --format csv only")
    if clipboard and output is not None:
        raise UsageError("use either --output or --clipboard, not both")
    if new and since_run is not None:
        raise UsageError("--new and --since-run select differently: use one of them")
    if sort not in ("id", "score"):
        raise UsageError(f"invalid --sort {sort!r}: use id or score")
    store = state(ctx).store()
    run_id = store.export.resolve_run(run or "latest") if (run or new) else None
    if since_run is not None:
        store.runs.get(since_run)
    available = [*FIELDS, *(RUN_FIELDS if run_id is not None else ())]
    chosen = _fields(fields, available, INSIGHT_FIELDS)
    selection = Selection(run_id, new, since_run, unexported, flagged, platform)

    target = _target_path(output, fmt, run_id) if output is not None else None
    with _Destination(target, exporter_cls.newline, clipboard) as stream:
        exporter = exporter_cls(stream, chosen, excel=excel)
        with store.export.snapshot(selection, for_marking=mark_exported) as snap:
            count = snap.count()
            exporter.begin(
                {
                    "exported_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "filters": selection.to_dict(),
                    "count": count,
                }
            )
            figures = sort == "score" or not set(chosen).isdisjoint(INSIGHT_FIELDS)
            # SQLite builds the lines when it can (the ranking is computed in Python); a
            # seller it cannot format exactly comes back as a row for the exporter's write.
            line_format = None if figures else exporter.line_format()
            if line_format is not None:
                for block in snap.lines(line_format):
                    if isinstance(block, bytes):
                        exporter.write_lines(block)
                    else:
                        exporter.write(block)
            else:
                rows = snap.rows()
                if figures:
                    rows = _with_figures(store, rows, run_id, by_score=sort == "score")
                for seller in rows:
                    exporter.write(seller)
            exporter.end()
            stream.finish()  # file renamed into place / clipboard filled, before the mark
            if mark_exported:
                snap.mark_exported(count)
    where = "the clipboard" if clipboard else (str(target) if target is not None else "stdout")
    marked = " and marked them exported" if mark_exported else ""
    err().print(f"Exported {count:,} sellers to {where}{marked}.")


def _fields(text: str | None, available: list[str], on_request: tuple[str, ...]) -> list[str]:
    if text is None:
        return available
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in available and f not in on_request]
    if not chosen or unknown:
        raise UsageError(
            f"unknown field(s) {', '.join(unknown) or '(none given)'}:"
            f" use {', '.join([*available, *on_request])}"
        )
    return chosen


def _with_figures(
    store: Store, rows: Iterator[dict[str, Any]], run_id: int | None, *, by_score: bool
) -> Iterator[dict[str, Any]]:
    """Rows with the ranking figures merged in; by score, the selection is held in memory
    to be sorted (sellers without evidence last, in id order)."""
    from collector_cli.exporters.base import INSIGHT_FIELDS
    from collector_cli.insight.ranking import rank
    from collector_cli.store.evidence import Scope

    ranked = rank(store.evidence, Scope(run_id=run_id))
    position = {f.seller_id: i for i, f in enumerate(ranked)}
    figures = {
        f.seller_id: {key: value for key, value in f.as_dict().items() if key in INSIGHT_FIELDS}
        for f in ranked
    }
    empty = dict.fromkeys(INSIGHT_FIELDS)
    merged = ({**row, **figures.get(row["id"], empty)} for row in rows)
    if not by_score:
        yield from merged
        return
    unranked = len(position)
    yield from sorted(merged, key=lambda r: (position.get(r["id"], unranked), r["id"]))


def _target_path(output: str, fmt: str, run_id: int | None) -> Path:
    """FILE, or DIR/ (an existing directory, or a path ending in '/') for a dated name."""
    from collector_cli.exporters import extension

    if not output.strip():
        raise UsageError("--output needs a path")
    path = Path(output).expanduser()
    if output.endswith(("/", os.sep)) or path.is_dir():
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d")
        scope = f"run-{run_id}" if run_id is not None else "full"
        path = path / f"sellers_{stamp}_{scope}.{extension(fmt)}"
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {path.parent} does not exist")
    return path


class _Destination:
    """Stdout, a temporary file renamed into place at the end, or an in-memory clipboard
    buffer. A failure or Ctrl-C before ``finish`` leaves no file and no partial copy."""

    def __init__(self, path: Path | None, newline: str | None, clipboard: bool) -> None:
        self.path, self.newline, self.clipboard = path, newline, clipboard
        self.tmp: Path | None = None
        self.stream: TextIO | None = None
        self.stdout_copy: TextIO | None = None  # our buffered writer over fd 1, if any

    def __enter__(self) -> _Destination:
        if self.clipboard:
            self.stream = io.StringIO(newline=self.newline)
        elif self.path is not None:
            # A FIFO, /dev/stdout or another special file is written straight into: renaming a
            # temporary file over it would replace the node itself.
            if not (self.path.exists() and not self.path.is_file()):
                self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                self.stream = open(  # closed in finish or __exit__
                    self.tmp or self.path, "w", encoding="utf-8", newline=self.newline
                )
            except OSError as exc:
                raise UsageError(f"cannot write {self.path}: {exc.strerror}") from None
        else:
            # Its own 64 KiB buffer over the stdout descriptor: sys.stdout may be unbuffered
            # (PYTHONUNBUFFERED) and would then make one write() per row.
            sys.stdout.flush()
            try:
                fd = sys.stdout.fileno()
            except (AttributeError, OSError, ValueError):  # a stream with no descriptor
                sys.stdout.reconfigure(encoding="utf-8", newline=self.newline)  # type: ignore[union-attr]
                self.stream = sys.stdout
            else:
                self.stdout_copy = self.stream = open(
                    fd, "w", encoding="utf-8", newline=self.newline, buffering=1 << 16,
                    closefd=False,
                )  # fmt: skip
        return self

    def write(self, data: str | bytes) -> int:
        """Text from an exporter's ``write``, or UTF-8 lines built by the store, which go
        to the bytes underneath as they are (decoding them only to encode them again would
        cost a good part of the export)."""
        assert self.stream is not None
        if isinstance(data, str):
            return self.stream.write(data)
        buffer = getattr(self.stream, "buffer", None)
        if buffer is None:  # the clipboard's StringIO
            return self.stream.write(data.decode("utf-8"))
        if self.newline is None and os.linesep != "\n":  # what the text layer would do
            data = data.replace(b"\n", os.linesep.encode())
        self.stream.flush()  # text written before goes first
        return int(buffer.write(data))

    def finish(self) -> None:
        assert self.stream is not None
        if self.clipboard:
            assert isinstance(self.stream, io.StringIO)
            _copy(self.stream.getvalue())
            return
        self.stream.flush()
        if self.tmp is not None:
            os.fsync(self.stream.fileno())
            self.stream.close()
            try:
                os.replace(self.tmp, self.path)  # type: ignore[arg-type]
            except OSError as exc:
                raise UsageError(f"cannot write {self.path}: {exc.strerror}") from None
            self.tmp = None

    def __exit__(self, *exc: object) -> None:
        if self.stdout_copy is not None:
            # Closing flushes (the descriptor stays open); a reader that went away (`| head`)
            # leaves nothing more to say.
            with contextlib.suppress(OSError):
                self.stdout_copy.close()
        if self.path is not None and self.stream is not None and not self.stream.closed:
            self.stream.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _copy(text: str) -> None:
    """pyperclip when the system has a clipboard tool; else OSC 52 to a terminal."""
    import base64

    import pyperclip

    try:
        pyperclip.copy(text)
        return
    except pyperclip.PyperclipException:
        pass
    if not sys.stdout.isatty():
        raise CollectorError(
            "no clipboard available: install xclip, xsel or wl-clipboard, or run in a terminal"
            " that understands OSC 52"
        )
    sys.stdout.write("\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\x07")
    sys.stdout.flush()
