"""`collector export` writes the same bytes whichever way a line is made.

Most exports have SQLite build every line (``ExportSnapshot.lines``); the exporters' Python
writers (``Exporter.write`` over ``ExportSnapshot.rows``) remain for the ranking figures and
for any seller SQL cannot format exactly. Here the Python writers are the reference, run for
real: the same command with every format's ``line_format`` switched off takes the row path
of the CLI exactly as it was before the SQL path existed. Both runs are compared byte for
byte, for every format, selection and field choice, on a store written by the program's own
writers and full of hostile seller names and feedback values. Only the second in the JSON
document's ``exported_at`` may differ.
"""

from __future__ import annotations

import io
import random
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from collector_cli import taxonomy
from collector_cli.cli.app import app
from collector_cli.exporters.base import FIELDS, RUN_FIELDS
from collector_cli.exporters.csv_format import CsvExporter
from collector_cli.exporters.json_format import JsonExporter, JsonLinesExporter
from collector_cli.exporters.text_format import TextExporter
from collector_cli.models import Listing, Product, ProductOutcome
from collector_cli.presets import BUILTINS
from collector_cli.store.db import open_store
from collector_cli.store.export import ExportSnapshot, Selection, _LineQuery

NFD_CAFE = "Cafe\u0301 Noir"
NFC_CAFE = "Caf\u00e9 Noir"  # the same seller as NFD_CAFE (name_key is NFKC): not a new one

# Names a marketplace may hand over. Whitespace-only names are no seller at all (no name key).
HOSTILE = [
    'Quote "Q" Shop',
    '"',
    '""',
    '"Leading quote',
    'Trailing quote"',
    "Comma, Inc.",
    ",",
    "Semi;colon",
    "Line\nBreak",
    "\nLeading LF",
    "Trailing LF\n",
    "Carriage\rReturn",
    "\rLeading CR",
    "CRLF\r\nInside",
    "Tab\tInside",
    "\tLeading Tab",
    *(f"ctl{chr(c)}x{c:02x}" for c in [*range(0x01, 0x20), 0x7F]),
    "Back\\slash",
    "\\",
    "Line\u2028Separator",
    "Para\u2029Separator",
    "Non\u00a0breaking",
    NFD_CAFE,
    NFC_CAFE,
    "😀 Emoji 👩‍💻 Store",
    "東京ショップ",
    "Ünïcödé Ñame",
    '=HYPERLINK("http://evil.example","click")',
    "=1+1",
    "+1 Deals",
    "-5% Outlet",
    "@Handle",
    "'Already Quoted",
    " Leading Space",
    "Trailing Space ",
    "  both  ",
    "-",
    "'",
    "=",
    "+",
    "@",
    "\t=tab then formula",
    "\x01",
    "\x7f",
    "\u200b",
    "%s %d %% printf",
    "NA",
    "null",
    "None",
    "007",
    "x" * 5000,
    ("Long, " + 'quoted "' * 300 + "\r\n") * 3,
    "Nul\x00, inside",  # NUL: beyond what any source sends; the SQL path hands it to write
]
# One seller per name key, in the order first seen.
SELLERS = [n for n in HOSTILE if n != NFC_CAFE]

# feedback values, cycled over the sellers. One-decimal percentages are what sources write;
# the others must come out as Python writes them too (the SQL path hands them to write).
PERCENTS = [100.0, 99.9, 0.0, None, 98.5, 0.1, 12.3, 99.95, 0.30000000000000004, 1e-05]
PERCENTS += [1e16, 123456789012.5, 2.5e-320, 7.0, 50.0, 99.0]
SCORES = [None, 0, 1, 12345, 2**63 - 1, 999_999_999_999]


def _is_one_decimal(x: float) -> bool:
    """What the SQL path writes itself: a double that is its own rounding to one decimal
    (the nearest double to some k/10), in [0, 1e14]."""
    return 0 <= x <= 1e14 and round(x, 1) == x


_ONE_DECIMAL = [p for p in PERCENTS if p is not None and _is_one_decimal(p)]

FORMATS = [("csv",), ("csv", "--excel"), ("json",), ("jsonl",), ("text",)]
FORMAT_IDS = ["csv", "excel", "json", "jsonl", "text"]
EXPORTERS = (CsvExporter, JsonExporter, JsonLinesExporter, TextExporter)


def _listing(name: str, n: int) -> Listing:
    return Listing(
        listing_id=f"L{n:06d}",
        title="test item",
        price_micros=10_000_000 + n,
        condition="new",
        free_shipping=True,
        country="US",
        seller_name=name,
        feedback_score=SCORES[n % len(SCORES)],
        feedback_score_approx=n % 3 == 0,
        # The NUL name gets a percentage SQL writes, so that only its NUL sends it to Python.
        feedback_percent=99.5 if "\x00" in name else PERCENTS[n % len(PERCENTS)],
    )


def _run(store: Any, index: int, by_platform: dict[str, list[Listing]]) -> int:
    """One finished run, one product per platform, committed as a run commits them."""
    cat = taxonomy.category("electronics-headphones")
    run_id = store.runs.create(
        preset_name="hand",
        snapshot={"name": "hand"},
        categories=[cat],
        pid=0,
        pid_started_at=0.0,
        hostname="test-host",
    )
    products = [
        Product(f"R{index}P{j}", f"Product {j}", 10_000_000, j) for j in range(len(by_platform))
    ]
    pending = store.runs.save_category(run_id, cat, products, {})
    row_ids = {p.product.key: p.row_id for p in pending}
    for product, (platform, listings) in zip(products, by_platform.items(), strict=True):
        outcome = ProductOutcome(row_ids[product.key], "done", listings, pages=1)
        store.results.commit(run_id, platform, [outcome])
    store.runs.finish(run_id, "completed", "all products searched", 0.1)
    return run_id


def _invoke(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--db", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1 sees the first half of the names on 'sample', twice over for some; run 2 sees
    the second half there plus some of the first again, and names on 'ebay'. Then sellers
    added by hand, some flagged, and the 'ebay' sellers marked exported by an export."""
    db = tmp_path_factory.mktemp("identity") / "collector.db"
    store = open_store(db)
    try:
        store.presets.ensure_builtins(BUILTINS)
        half = len(HOSTILE) // 2
        first = [_listing(name, n) for n, name in enumerate(HOSTILE[:half])]
        first += [_listing(name, n + 100) for n, name in enumerate(HOSTILE[: half // 3])]
        _run(store, 1, {"sample": first})
        second = [_listing(name, n + 200) for n, name in enumerate(HOSTILE[half:])]
        second += [_listing(name, n + 300) for n, name in enumerate(HOSTILE[2:half:2])]
        ebay = [_listing(name, n + 400) for n, name in enumerate(reversed(HOSTILE[::3]))]
        _run(store, 2, {"sample": second, "ebay": ebay})
        store.sellers.add(["Manual Seller", '=manual, "quoted"', "Ma\tnual"], "manual-x")
        flag = ["Comma, Inc.", '"', "Line\nBreak", "Manual Seller"]
        store.sellers.set_flag(flag, True, None, note=None)
    finally:
        store.close()
    _invoke(db, "export", "--platform", "ebay", "--mark-exported", "--format", "text")
    return db


class _Paths:
    """What the export did: lines built by SQL, sellers written by Python."""

    def __init__(self) -> None:
        self.line_blocks = 0
        self.python_rows = 0
        self.row_path = False


@pytest.fixture
def exporter_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Paths]:
    paths = _Paths()
    real_lines, real_rows = ExportSnapshot.lines, ExportSnapshot.rows

    def lines(self: ExportSnapshot, fmt: Any) -> Iterator[Any]:
        for item in real_lines(self, fmt):
            if isinstance(item, bytes):
                paths.line_blocks += 1
            else:
                paths.python_rows += 1
            yield item

    def rows(self: ExportSnapshot) -> Iterator[dict[str, Any]]:
        paths.row_path = True
        yield from real_rows(self)

    monkeypatch.setattr(ExportSnapshot, "lines", lines)
    monkeypatch.setattr(ExportSnapshot, "rows", rows)
    yield paths


def export_both(
    monkeypatch: pytest.MonkeyPatch, paths: _Paths, db: Path, *args: str
) -> tuple[bytes, bytes]:
    """(SQL path output, Python writers' output) of ``collector export ARGS``."""
    paths.__init__()  # type: ignore[misc]
    fast = _invoke(db, "export", *args)
    assert not paths.row_path, "the SQL path was not taken"
    with monkeypatch.context() as patch:
        for cls in EXPORTERS:
            patch.setattr(cls, "line_format", lambda self: None)
        reference = _invoke(db, "export", *args)
    assert paths.row_path
    assert fast.stderr == reference.stderr
    return _unstamped(fast.stdout_bytes), _unstamped(reference.stdout_bytes)


def _unstamped(document: bytes) -> bytes:
    return re.sub(rb'^\{"exported_at": "[^"]+"', b'{"exported_at": ""', document)


SELECTIONS = [
    [],
    ["--run", "1"],
    ["--run", "2"],
    ["--run", "latest"],
    ["--new"],
    ["--new", "--run", "1"],
    ["--since-run", "1"],
    ["--unexported"],
    ["--flagged"],
    ["--platform", "ebay"],
    ["--platform", "manual-x"],
    ["--platform", "sample", "--flagged", "--unexported"],
    ["--run", "2", "--platform", "ebay", "--unexported"],
    ["--platform", "nowhere"],
]


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: " ".join(s) or "all")
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_every_format_and_selection(
    hostile_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    exporter_paths: _Paths,
    fmt: tuple[str, ...],
    selection: list[str],
) -> None:
    fast, reference = export_both(
        monkeypatch, exporter_paths, hostile_store, "--format", *fmt, *selection
    )
    assert fast == reference


def test_the_store_is_as_hostile_as_intended(
    hostile_store: Path, monkeypatch: pytest.MonkeyPatch, exporter_paths: _Paths
) -> None:
    """Every hostile name is a seller, the feedback values and marks all occur, and the SQL
    path both built lines and handed some sellers to Python (odd REALs, the NUL)."""
    conn = sqlite3.connect(hostile_store)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sellers WHERE origin = 'run'")}
        percents = {r[0] for r in conn.execute("SELECT feedback_percent FROM sellers")}
        scores = {r[0] for r in conn.execute("SELECT feedback_score FROM sellers")}
        marks = {r[0] is None for r in conn.execute("SELECT exported_at FROM sellers")}
        flags = {r[0] for r in conn.execute("SELECT flagged FROM sellers")}
        nulls = conn.execute("SELECT count(*) FROM sellers WHERE first_run_id IS NULL").fetchone()
        odd = conn.execute(
            "SELECT count(*) FROM sellers WHERE instr(name, char(0))"
            " OR feedback_percent NOT IN (" + ", ".join(map(repr, _ONE_DECIMAL)) + ")"
        ).fetchone()[0]
    finally:
        conn.close()
    assert set(SELLERS) <= names <= set(HOSTILE)
    assert set(PERCENTS) <= percents and set(SCORES) <= scores
    assert marks == {True, False} and flags == {0, 1} and nulls[0] == 3
    fast, reference = export_both(monkeypatch, exporter_paths, hostile_store)
    assert fast == reference
    assert exporter_paths.line_blocks > 0
    assert exporter_paths.python_rows == odd > 3  # exactly the odd REALs and the NUL


FIELD_CHOICES = [
    *[[f] for f in FIELDS],  # one field: an empty value is written "" in CSV
    list(reversed(FIELDS)),
    ["name", "platform", "name"],  # twice: two CSV columns, one JSON key
    ["exported_at", "feedback_percent", "flagged"],
    ["feedback_percent", "feedback_percent"],
    ["platform", "sightings", "first_seen_at"],  # no free text at all
]


@pytest.mark.parametrize("fields", FIELD_CHOICES, ids=",".join)
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_every_field_choice(
    hostile_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    exporter_paths: _Paths,
    fmt: tuple[str, ...],
    fields: list[str],
) -> None:
    fast, reference = export_both(
        monkeypatch, exporter_paths, hostile_store, "--format", *fmt, "--fields", ",".join(fields)
    )
    assert fast == reference


RUN_FIELD_CHOICES = [
    [*FIELDS, *RUN_FIELDS],
    ["new_in_run"],
    ["run_sightings"],
    ["new_in_run", "name", "run_sightings", "feedback_percent"],
]


@pytest.mark.parametrize("fields", RUN_FIELD_CHOICES, ids=",".join)
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_run_fields(
    hostile_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    exporter_paths: _Paths,
    fmt: tuple[str, ...],
    fields: list[str],
) -> None:
    for run in (["--run", "1"], ["--new"]):
        fast, reference = export_both(
            monkeypatch,
            exporter_paths,
            hostile_store,
            "--format",
            *fmt,
            *run,
            "--fields",
            ",".join(fields),
        )
        assert fast == reference


@pytest.mark.parametrize(
    "selection", [[], ["--unexported"], ["--run", "2", "--flagged"]], ids=["all", "new", "run2f"]
)
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_mark_exported_writes_and_marks_the_same(
    hostile_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exporter_paths: _Paths,
    fmt: tuple[str, ...],
    selection: list[str],
) -> None:
    """On two copies of the store: the same bytes, then the same sellers marked, one audit
    row each (the mark's time is the only difference)."""
    fast_db, ref_db = tmp_path / "fast" / "c.db", tmp_path / "ref" / "c.db"
    for db in (fast_db, ref_db):
        db.parent.mkdir()
        shutil.copy(hostile_store, db)
    args = ["--format", *fmt, *selection, "--mark-exported"]
    fast = _invoke(fast_db, "export", *args)
    assert not exporter_paths.row_path
    with monkeypatch.context() as patch:
        for cls in EXPORTERS:
            patch.setattr(cls, "line_format", lambda self: None)
        reference = _invoke(ref_db, "export", *args)
    assert _unstamped(fast.stdout_bytes) == _unstamped(reference.stdout_bytes)
    assert fast.stderr == reference.stderr and "marked them exported" in fast.stderr
    assert _marks(fast_db) == _marks(ref_db)


def _marks(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        at = conn.execute("SELECT max(exported_at) FROM sellers").fetchone()[0]
        marked = conn.execute(
            "SELECT id, exported_at = ? FROM sellers ORDER BY id", (at,)
        ).fetchall()
        audit = conn.execute(
            "SELECT action, name, detail, at = ? FROM seller_audit ORDER BY id", (at,)
        ).fetchall()
        return marked, audit
    finally:
        conn.close()


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_files_hold_what_stdout_shows(
    hostile_store: Path, tmp_path: Path, exporter_paths: _Paths, fmt: tuple[str, ...]
) -> None:
    """--output FILE and --output DIR/ go through the same bytes path as stdout."""
    printed = _invoke(hostile_store, "export", "--format", *fmt).stdout_bytes
    target = tmp_path / "out"
    _invoke(hostile_store, "export", "--format", *fmt, "--output", str(target))
    assert _unstamped(target.read_bytes()) == _unstamped(printed)
    folder = tmp_path / "dir"
    folder.mkdir()
    _invoke(hostile_store, "export", "--format", *fmt, "--output", f"{folder}/")
    [written] = folder.iterdir()
    assert _unstamped(written.read_bytes()) == _unstamped(printed)
    assert not exporter_paths.row_path


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_an_empty_store(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, exporter_paths: _Paths, fmt: tuple[str, ...]
) -> None:
    open_store(db_path).close()
    fast, reference = export_both(monkeypatch, exporter_paths, db_path, "--format", *fmt)
    assert fast == reference


def test_ranking_exports_keep_the_python_path(hostile_store: Path, exporter_paths: _Paths) -> None:
    """--sort score and the insight fields need Python's ranking: no SQL lines there."""
    _invoke(hostile_store, "export", "--sort", "score")
    assert exporter_paths.row_path and exporter_paths.line_blocks == 0
    exporter_paths.row_path = False
    _invoke(hostile_store, "export", "--fields", "name,score,why")
    assert exporter_paths.row_path and exporter_paths.line_blocks == 0


# -- REAL feedback percentages -------------------------------------------------------------------


def _fill_percents(db: Path, values: list[float | None]) -> None:
    """One seller per value, written with the same binding the store's writer uses."""
    store = open_store(db)
    store.close()
    conn = sqlite3.connect(db)
    now = "2026-01-02T03:04:05.678+00:00"
    with conn:
        conn.executemany(
            "INSERT INTO sellers (platform, name_key, name, feedback_percent, created_at)"
            " VALUES ('sample', ?, ?, ?, ?)",
            ((f"s{i}", f"S{i}", value, now) for i, value in enumerate(values)),
        )
    conn.close()


def test_every_one_decimal_percentage_reads_as_python_writes_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, exporter_paths: _Paths
) -> None:
    """All of 0.0, 0.1, ..., 20000.0, in every format, through SQL's own formatting."""
    _fill_percents(db_path, [k / 10 for k in range(200_001)])
    for fmt in ("csv", "jsonl"):
        fast, reference = export_both(
            monkeypatch, exporter_paths, db_path, "-f", fmt, "--fields", "feedback_percent"
        )
        assert fast == reference
    assert exporter_paths.python_rows == 0  # none of them needed Python


def test_any_other_real_is_written_by_python(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, exporter_paths: _Paths
) -> None:
    """One-decimal values up to 1e14 (the proof's bound) come from SQL; random doubles,
    values just off one decimal, tiny, huge and infinite ones come from Python's repr."""
    rng = random.Random(16)
    one_decimal = [rng.randrange(10**15 + 1) / 10 for _ in range(3000)]
    one_decimal += [1e14, 99999999999999.9, 0.1, 0.7, 1e13 + 0.3]
    others = [rng.uniform(0, 100) for _ in range(1000)]
    others += [rng.uniform(0, 1e16) for _ in range(300)]
    others += [0.30000000000000004, 1e-05, 1e-300, 5e-324, 1e16, 1e14 + 0.5, 1.7976931348623157e308]
    others += [float("inf"), -1.5, -0.1, -1e15, -1e17, 99.95, 0.05, 12.25, 1 / 3]
    others += [x + x * 2**-52 for x in (0.1, 99.9, 100.0, 12345.6)]  # one ulp off
    others += [x - x * 2**-53 for x in (0.3, 99.9, 100.0)]
    odd = [x for x in others if not _is_one_decimal(x)]
    values: list[float | None] = [*one_decimal, *others, None, 0.0, -0.0]
    rng.shuffle(values)
    _fill_percents(db_path, values)
    for fmt in ("csv", "json", "jsonl"):
        exporter_paths.python_rows = 0
        fast, reference = export_both(
            monkeypatch, exporter_paths, db_path, "-f", fmt, "--fields", "name,feedback_percent"
        )
        assert fast == reference
        assert exporter_paths.python_rows == len(odd)


# -- many blocks -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def block_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12,000 sellers with gaps in their ids, hostile names and odd REALs here and there,
    three platforms, flags, marks and a run that saw every third seller: a selection spans
    many blocks of lines, some with sellers that go to Python."""
    db = tmp_path_factory.mktemp("blocks") / "collector.db"
    open_store(db).close()
    now = "2026-01-02T03:04:05.678+00:00"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO runs (id, preset_name, preset, status, epoch, started_at,"
            " attempt_started_at, finished_at) VALUES (1, 'b', '{}', 'completed', 1, ?, ?, ?)",
            (now, now, now),
        )
        rows = []
        for i in range(1, 12_001):
            name = f"{HOSTILE[i % len(HOSTILE)]} {i}"
            percent = PERCENTS[i % len(PERCENTS)] if i % 97 == 0 else (i % 1001) / 10
            rows.append(
                (
                    i * 3 + i // 500 * 1000,
                    ("sample", "ebay", "other")[i % 3],
                    f"k{i}",
                    name,
                    SCORES[i % len(SCORES)],
                    i % 4 == 0,
                    percent,
                    1 + i % 5,
                    i % 50 == 0,
                    now if i % 7 == 0 else None,
                    now,
                )
            )
        conn.executemany(
            "INSERT INTO sellers (id, platform, name_key, name, feedback_score,"
            " feedback_score_approx, feedback_percent, sightings, flagged, exported_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "INSERT INTO run_sellers (run_id, seller_id, sightings, is_new)"
            " SELECT 1, id, 1 + id % 3, id % 2 FROM sellers WHERE id % 3 = 0"
        )
    conn.close()
    return db


@pytest.mark.parametrize(
    "selection",
    [[], ["--flagged"], ["--platform", "ebay"], ["--unexported"], ["--run", "1"], ["--new"]],
    ids=["all", "flagged", "platform", "unexported", "run", "new"],
)
@pytest.mark.parametrize("fmt", [("csv",), ("json",), ("csv", "--excel")], ids=str)
def test_many_blocks(
    block_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    exporter_paths: _Paths,
    fmt: tuple[str, ...],
    selection: list[str],
) -> None:
    fast, reference = export_both(monkeypatch, exporter_paths, block_store, "-f", *fmt, *selection)
    assert fast == reference
    assert exporter_paths.line_blocks > 1
    assert exporter_paths.python_rows > 5 or selection


@pytest.mark.parametrize(
    "selection",
    [
        Selection(),
        Selection(since_run=1),
        Selection(unexported=True),
        Selection(flagged=True),
        Selection(platform="ebay"),
        Selection(since_run=1, unexported=True, flagged=True, platform="ebay"),
    ],
    ids=repr,
)
def test_blocks_are_read_as_rowid_ranges(block_store: Path, selection: Selection) -> None:
    """A block's lines are aggregated in the order SQLite reads them: that is id order only
    if it reads a rowid range of the table and nothing else (no index, no sorting)."""
    store = open_store(block_store)
    try:
        with store.export.snapshot(selection, for_marking=False) as snap:
            for exporter in (CsvExporter, JsonLinesExporter):
                fmt = exporter(io.StringIO(), list(FIELDS)).line_format()
                _, block_sql, _ = snap._block_queries(_LineQuery(fmt, run=False))
                plan = store.conn.execute(
                    f"EXPLAIN QUERY PLAN {block_sql}", (*snap._params, 0, 10)
                ).fetchall()
                assert [row[3] for row in plan] == [
                    "SEARCH s USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"
                ]
    finally:
        store.close()


def test_a_store_not_in_utf8_is_written_by_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exporter_paths: _Paths
) -> None:
    """SQLite's text is the store's encoding: the lines SQL builds are UTF-8 only in a
    UTF-8 store (the program makes no other), so any other is written row by row."""
    db = tmp_path / "utf16" / "collector.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA encoding = 'UTF-16le'")
    conn.executescript("CREATE TABLE t (x); DROP TABLE t;")  # the encoding is set on creation
    conn.close()
    _fill_percents(db, [99.5, None, 0.1])
    fast = _invoke(db, "export", "-f", "jsonl").stdout_bytes
    assert exporter_paths.line_blocks == 0 and exporter_paths.python_rows == 3
    with monkeypatch.context() as patch:
        for cls in EXPORTERS:
            patch.setattr(cls, "line_format", lambda self: None)
        reference = _invoke(db, "export", "-f", "jsonl").stdout_bytes
    assert fast == reference and fast.count(b"\n") == 3
