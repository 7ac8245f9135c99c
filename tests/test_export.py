"""`collector export`: every format read back by a real parser, hostile seller names, the
selection options, atomic files, Ctrl-C, closed pipes, flat memory and the clipboard.

Sellers are made the way runs make them (``store.results.commit`` with hand-made listings);
only the large stores of the streaming tests are filled with direct SQL, for speed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from collector_cli import taxonomy
from collector_cli.exporters.csv_format import CsvExporter
from collector_cli.models import Listing, Product, ProductOutcome
from collector_cli.presets import BUILTINS
from collector_cli.store.db import Store, open_store
from tests.conftest import ROOT, connect, dump, subprocess_env

# The documented field order (issue / `collector export --help`), written out on purpose.
FIELDS = [
    "name",
    "platform",
    "feedback_score",
    "feedback_score_approx",
    "feedback_percent",
    "times_seen",
    "sightings",
    "first_seen_run",
    "first_seen_at",
    "last_seen_run",
    "last_seen_at",
    "flagged",
    "exported_at",
]
RUN_FIELDS = [*FIELDS, "run_sightings", "new_in_run"]

NFD_CAFE = "Cafe\u0301 Noir"  # "e" + combining acute: seen first, so it is the stored name
NFC_CAFE = "Caf\u00e9 Noir"  # the same seller (name_key is NFKC), seen second

# Names a marketplace may hand us. None of them contains a carriage return (see CR_NAMES).
HOSTILE = [
    'Quote "Q" Shop',
    '"',
    "Comma, Inc.",
    "Line\nBreak",
    "Tab\tInside",
    "\tLeading Tab",
    NFD_CAFE,
    NFC_CAFE,
    "😀 Emoji 👩‍💻 Store",
    '=HYPERLINK("http://evil.example","click")',
    "=1+1",
    "+1 Deals",
    "-5% Outlet",
    "@Handle",
    "'Already Quoted",
    "Trailing Space ",
    "NA",
    "007",
    "Ünïcödé Ñame",
]
# One seller per name: the NFC spelling folds into the NFD one seen before it.
HOSTILE_SELLERS = [n for n in HOSTILE if n != NFC_CAFE]
CR_NAMES = ["Carriage\rReturn", "\rLeading CR", "CRLF\r\nInside"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CANCELLED = 2, 3, 130
MIB = 1024 * 1024

Invoke = Callable[..., object]


# -- helpers ---------------------------------------------------------------------------------------


def _listing(seller: str, n: int, score: int | None = 100, percent: float | None = 99.5) -> Listing:
    return Listing(
        listing_id=f"L{n:06d}",
        title="test item",
        price_micros=10_000_000,
        condition="new",
        free_shipping=True,
        country="US",
        seller_name=seller,
        feedback_score=score,
        feedback_score_approx=False,
        feedback_percent=percent,
    )


def seed(db_path: Path, runs: list[dict[str, list[str]]]) -> list[int]:
    """One finished run per item of ``runs``; each maps a platform to the seller names its one
    product saw. Returns the run ids."""
    store = open_store(db_path)
    try:
        store.presets.ensure_builtins(BUILTINS)  # what the CLI does first, so dumps stay equal
        cat = taxonomy.category("electronics-headphones")
        run_ids = []
        for index, by_platform in enumerate(runs, start=1):
            run_id = store.runs.create(
                preset_name="hand",
                snapshot={"name": "hand"},
                categories=[cat],
                pid=os.getpid(),
                pid_started_at=0.0,
                hostname="test-host",
            )
            products = [
                Product(f"R{index}P{j}", f"Product {j}", 10_000_000, j)
                for j in range(len(by_platform))
            ]
            pending = store.runs.save_category(run_id, cat, products, {})
            row_ids = {p.product.key: p.row_id for p in pending}
            for product, (platform, names) in zip(products, by_platform.items(), strict=True):
                listings = [_listing(name, n) for n, name in enumerate(names)]
                outcome = ProductOutcome(row_ids[product.key], "done", listings, pages=1)
                store.results.commit(run_id, platform, [outcome])
            store.runs.finish(run_id, "completed", "all products searched", 0.1)
            run_ids.append(run_id)
        return run_ids
    finally:
        store.close()


@pytest.fixture
def market(db_path: Path) -> Path:
    """Run 1 sees Alpha, Bravo and Charlie on 'sample'. Run 2 sees Bravo again plus Delta and
    Echo on 'sample', and Foxtrot and another Alpha on 'ebay' (a different seller)."""
    seed(
        db_path,
        [
            {"sample": ["Alpha", "Bravo", "Charlie"]},
            {"sample": ["Bravo", "Delta", "Echo"], "ebay": ["Foxtrot", "Alpha"]},
        ],
    )
    return db_path


ALL = {
    ("Alpha", "sample"),
    ("Bravo", "sample"),
    ("Charlie", "sample"),
    ("Delta", "sample"),
    ("Echo", "sample"),
    ("Foxtrot", "ebay"),
    ("Alpha", "ebay"),
}
RUN1 = {("Alpha", "sample"), ("Bravo", "sample"), ("Charlie", "sample")}
RUN2 = {("Bravo", "sample"), ("Delta", "sample"), ("Echo", "sample")} | {
    ("Foxtrot", "ebay"),
    ("Alpha", "ebay"),
}
NEW_IN_RUN2 = RUN2 - {("Bravo", "sample")}


def ok(result) -> str:
    """A successful export's stdout; its stderr is the one-line summary."""
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("Exported "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stdout


def fails(result, code: int) -> str:
    """One line on stderr, nothing on stdout, the documented exit code."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("collector: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def jsonl_rows(cli: Invoke, *args: str) -> list[dict]:
    text = ok(cli("export", "--format", "jsonl", *args))
    return [json.loads(line) for line in text.splitlines()]


def selected(cli: Invoke, *args: str) -> set[tuple[str, str]]:
    rows = jsonl_rows(cli, *args)
    keys = [(r["name"], r["platform"]) for r in rows]
    assert len(keys) == len(set(keys)), keys
    return set(keys)


def csv_rows(raw: bytes, *, bom: bool = False) -> list[list[str]]:
    text = raw.decode("utf-8-sig" if bom else "utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def pandas_csv(raw: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def spreadsheet_formulas(rows: list[list[str]], path: Path) -> list[str]:
    """The cells a spreadsheet takes as formulas, once the rows are in an .xlsx workbook."""
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    sheet = load_workbook(path).active
    return [cell.value for line in sheet.iter_rows() for cell in line if cell.data_type == "f"]


def leftover_temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def seller_marks(db_path: Path) -> dict[tuple[str, str], str | None]:
    conn = connect(db_path)
    try:
        return {
            (r["name"], r["platform"]): r["exported_at"]
            for r in conn.execute("SELECT name, platform, exported_at FROM sellers")
        }
    finally:
        conn.close()


def audit_rows(db_path: Path) -> list[sqlite3.Row]:
    conn = connect(db_path)
    try:
        return conn.execute("SELECT * FROM seller_audit ORDER BY id").fetchall()
    finally:
        conn.close()


def today_stamps() -> set[str]:
    return {datetime.now().astimezone().strftime("%Y-%m-%d")}


# -- formats: hostile names read back by real parsers ----------------------------------------------


def test_nfc_and_nfd_spellings_are_one_seller_kept_verbatim(cli: Invoke, db_path: Path) -> None:
    assert NFD_CAFE != NFC_CAFE
    assert unicodedata.normalize("NFC", NFD_CAFE) == NFC_CAFE
    seed(db_path, [{"sample": [NFD_CAFE, NFC_CAFE]}])
    rows = jsonl_rows(cli)
    assert len(rows) == 1
    # The first spelling seen is the name, byte for byte: export never re-normalizes it.
    assert rows[0]["name"] == NFD_CAFE
    assert (rows[0]["sightings"], rows[0]["times_seen"]) == (2, 1)


def test_plain_csv_round_trips_hostile_names(cli: Invoke, db_path: Path, tmp_path: Path) -> None:
    seed(db_path, [{"sample": HOSTILE}])
    printed = cli("export")
    ok(printed)
    target = tmp_path / "out.csv"
    ok(cli("export", "--output", str(target)))
    raw = target.read_bytes()
    assert raw == printed.stdout_bytes  # the file holds exactly what stdout would have shown
    assert not raw.startswith(b"\xef\xbb\xbf")  # plain CSV: no BOM …
    assert b"\r" not in raw  # … and LF line ends (no name here holds a CR)

    rows = csv_rows(raw)
    assert rows[0] == FIELDS
    assert all(len(row) == len(FIELDS) for row in rows)
    names = [row[0] for row in rows[1:]]
    assert sorted(names) == sorted(HOSTILE_SELLERS)  # verbatim: no apostrophes, no trimming

    frame = pandas_csv(raw)
    assert list(frame.columns) == FIELDS
    assert sorted(frame["name"]) == sorted(HOSTILE_SELLERS)
    assert set(frame["platform"]) == {"sample"}
    cafe = frame[frame["name"] == NFD_CAFE]
    assert cafe["sightings"].tolist() == ["2"]


def test_plain_csv_quotes_carriage_returns(cli: Invoke, db_path: Path) -> None:
    """RFC 4180: a field holding CR must be quoted, or every reader splits the record there."""
    seed(db_path, [{"sample": [*CR_NAMES, "Plain"]}])
    raw = cli("export", "--fields", "name,platform").stdout_bytes
    assert csv_rows(raw) == [["name", "platform"], *[[n, "sample"] for n in [*CR_NAMES, "Plain"]]]
    frame = pandas_csv(raw)
    assert frame["name"].tolist() == [*CR_NAMES, "Plain"]


def test_json_document_round_trips_hostile_names(cli: Invoke, db_path: Path) -> None:
    seed(db_path, [{"sample": [*HOSTILE, *CR_NAMES]}])
    doc = json.loads(ok(cli("export", "--format", "json")))
    assert list(doc) == ["exported_at", "filters", "count", "sellers"]
    assert datetime.fromisoformat(doc["exported_at"]).tzinfo is not None
    assert doc["filters"] == {}
    assert doc["count"] == len(doc["sellers"]) == len(HOSTILE_SELLERS) + len(CR_NAMES)
    assert sorted(s["name"] for s in doc["sellers"]) == sorted([*HOSTILE_SELLERS, *CR_NAMES])
    assert all(list(s) == FIELDS for s in doc["sellers"])


def test_jsonl_round_trips_hostile_names_with_json_and_pandas(
    cli: Invoke, db_path: Path, tmp_path: Path
) -> None:
    seed(db_path, [{"sample": [*HOSTILE, *CR_NAMES]}])
    target = tmp_path / "out.jsonl"
    ok(cli("export", "--format", "jsonl", "--output", str(target)))
    text = target.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""  # every object ends with a newline …
    objects = [json.loads(line) for line in lines[:-1]]  # … and one object is one line
    expected = sorted([*HOSTILE_SELLERS, *CR_NAMES])
    assert sorted(o["name"] for o in objects) == expected
    assert all(list(o) == FIELDS for o in objects)

    frame = pd.read_json(io.StringIO(text), lines=True, dtype=False)
    assert list(frame.columns) == FIELDS
    assert sorted(frame["name"]) == expected
    assert frame["flagged"].tolist() == [False] * len(expected)


def test_text_is_one_name_per_line_with_line_breaks_escaped(cli: Invoke, db_path: Path) -> None:
    seed(db_path, [{"sample": ["Plain", "Line\nBreak", "Carriage\rReturn", "😀 Emoji"]}])
    text = ok(cli("export", "--format", "text"))
    assert text.split("\n") == ["Plain", "Line\\nBreak", "Carriage\\rReturn", "😀 Emoji", ""]


def test_excel_csv_has_bom_crlf_and_no_formulas(cli: Invoke, db_path: Path, tmp_path: Path) -> None:
    seed(db_path, [{"sample": [*HOSTILE, *CR_NAMES]}])
    target = tmp_path / "excel.csv"
    ok(cli("export", "--excel", "--output", str(target)))
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + ",".join(FIELDS).encode() + b"\r\n")
    assert raw.endswith(b"\r\n")

    rows = csv_rows(raw, bom=True)
    assert rows[0] == FIELDS
    names = [row[0] for row in rows[1:]]
    expected = [*HOSTILE_SELLERS, *CR_NAMES]
    neutralized = ["'" + n if n.startswith(FORMULA_START) else n for n in expected]
    assert sorted(names) == sorted(neutralized)
    assert "'=1+1" in names and "'\tLeading Tab" in names and "'\rLeading CR" in names
    assert "'Already Quoted" in names  # an apostrophe that was there already stays single
    # Embedded line breaks survive verbatim inside their quotes.
    assert "Line\nBreak" in names and "CRLF\r\nInside" in names

    frame = pandas_csv(raw)
    assert list(frame.columns) == FIELDS
    cells = [*frame.columns, *frame.to_numpy().ravel().tolist()]
    formulas = [c for c in cells if c.startswith(FORMULA_START)]
    assert formulas == []
    assert sorted(frame["name"]) == sorted(neutralized)

    # Cells put into a real workbook: none of them becomes a formula, while the same names
    # left verbatim (as plain CSV has them) do.
    assert spreadsheet_formulas(rows, tmp_path / "excel.xlsx") == []
    verbatim = [[name] for name in expected]
    assert sorted(spreadsheet_formulas(verbatim, tmp_path / "plain.xlsx")) == [
        "=1+1",
        '=HYPERLINK("http://evil.example","click")',
    ]


def test_excel_neutralizes_header_cells_and_plain_csv_does_not() -> None:
    for excel, header in ((True, ["'=cmd", "'@sum", "name"]), (False, ["=cmd", "@sum", "name"])):
        out = io.StringIO(newline="")
        exporter = CsvExporter(out, ["=cmd", "@sum", "name"], excel=excel)
        exporter.begin({})
        exporter.write({"=cmd": "-2+3", "@sum": 7, "name": "+x"})
        exporter.end()
        rows = list(csv.reader(io.StringIO(out.getvalue().removeprefix("\ufeff"), newline="")))
        assert rows[0] == header
        # Text cells are neutralized; numbers are not text and stay numbers.
        assert rows[1] == (["'-2+3", "7", "'+x"] if excel else ["-2+3", "7", "+x"])


def test_formats_agree_on_every_value(cli: Invoke, market: Path) -> None:
    objects = {(o["name"], o["platform"]): o for o in jsonl_rows(cli, "--run", "2")}
    doc = json.loads(ok(cli("export", "--format", "json", "--run", "2")))
    assert {(s["name"], s["platform"]): s for s in doc["sellers"]} == objects
    table = csv_rows(cli("export", "--run", "2").stdout_bytes)
    assert table[0] == RUN_FIELDS

    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    assert len(table) - 1 == len(objects) == len(RUN2)
    for row in table[1:]:
        obj = objects[(row[0], row[1])]
        assert row == [cell(obj[f]) for f in RUN_FIELDS]

    bravo = objects[("Bravo", "sample")]
    assert bravo["feedback_score"] == 100 and isinstance(bravo["feedback_score"], int)
    assert bravo["feedback_percent"] == 99.5
    assert bravo["feedback_score_approx"] is False and bravo["flagged"] is False
    assert (bravo["times_seen"], bravo["sightings"]) == (2, 2)
    assert (bravo["first_seen_run"], bravo["last_seen_run"]) == (1, 2)
    assert bravo["first_seen_at"] <= bravo["last_seen_at"]
    assert bravo["exported_at"] is None
    assert (bravo["run_sightings"], bravo["new_in_run"]) == (1, False)
    assert objects[("Alpha", "ebay")]["new_in_run"] is True


# -- selection -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ALL),
        (["--run", "1"], RUN1),
        (["--run", "2"], RUN2),
        (["--run", "latest"], RUN2),
        (["--new"], NEW_IN_RUN2),
        (["--new", "--run", "1"], RUN1),
        (["--new", "--run", "2"], NEW_IN_RUN2),
        (["--since-run", "1"], NEW_IN_RUN2),
        (["--since-run", "2"], set()),
        (["--platform", "ebay"], {("Foxtrot", "ebay"), ("Alpha", "ebay")}),
        (["--platform", "sample", "--new"], {("Delta", "sample"), ("Echo", "sample")}),
        (["--platform", "nowhere"], set()),
        (["--unexported"], ALL),
        (["--flagged"], set()),
    ],
)
def test_selection(cli: Invoke, market: Path, args: list[str], expected: set) -> None:
    assert selected(cli, *args) == expected


def test_json_filters_record_the_selection(cli: Invoke, market: Path) -> None:
    doc = json.loads(ok(cli("export", "-f", "json", "--new", "--platform", "sample")))
    assert doc["filters"] == {"run_id": 2, "new": True, "platform": "sample"}
    assert doc["count"] == 2
    doc = json.loads(ok(cli("export", "-f", "json", "--since-run", "1", "--unexported")))
    assert doc["filters"] == {"since_run": 1, "unexported": True}
    assert doc["count"] == len(NEW_IN_RUN2)


def test_flagged_selection(cli: Invoke, market: Path) -> None:
    conn = connect(market)
    with conn:
        conn.execute("UPDATE sellers SET flagged = 1 WHERE name IN ('Charlie', 'Foxtrot')")
    conn.close()
    assert selected(cli, "--flagged") == {("Charlie", "sample"), ("Foxtrot", "ebay")}
    assert selected(cli, "--flagged", "--platform", "ebay") == {("Foxtrot", "ebay")}
    assert selected(cli, "--flagged", "--run", "1") == {("Charlie", "sample")}
    rows = jsonl_rows(cli, "--flagged")
    assert all(r["flagged"] is True for r in rows)
    table = csv_rows(cli("export", "--flagged", "--fields", "name,flagged").stdout_bytes)
    assert sorted(table[1:]) == [["Charlie", "true"], ["Foxtrot", "true"]]


def test_run_fields_only_with_a_run(cli: Invoke, market: Path) -> None:
    assert csv_rows(cli("export").stdout_bytes)[0] == FIELDS
    assert csv_rows(cli("export", "--run", "1").stdout_bytes)[0] == RUN_FIELDS
    assert csv_rows(cli("export", "--new").stdout_bytes)[0] == RUN_FIELDS
    fails(cli("export", "--fields", "name,new_in_run"), EXIT_USAGE)
    rows = jsonl_rows(cli, "--run", "1", "--fields", "new_in_run,name,run_sightings")
    assert [list(r) for r in rows] == [["new_in_run", "name", "run_sightings"]] * 3
    assert {(r["name"], r["new_in_run"], r["run_sightings"]) for r in rows} == {
        ("Alpha", True, 1),
        ("Bravo", True, 1),
        ("Charlie", True, 1),
    }


def test_fields_keep_the_given_order(cli: Invoke, market: Path) -> None:
    table = csv_rows(cli("export", "--fields", "sightings,name").stdout_bytes)
    assert table[0] == ["sightings", "name"]
    sightings = {"Alpha": "1", "Bravo": "2", "Charlie": "1", "Delta": "1", "Echo": "1"}
    expected = [[sightings.get(name, "1"), name] for name, _ in ALL]
    assert sorted(table[1:]) == sorted(expected)
    rows = jsonl_rows(cli, "--fields", "name,sightings")
    assert [list(r) for r in rows] == [["name", "sightings"]] * len(ALL)
    doc = json.loads(ok(cli("export", "-f", "json", "--fields", " platform , name ")))
    assert [list(s) for s in doc["sellers"]] == [["platform", "name"]] * len(ALL)


@pytest.mark.parametrize(
    ("args", "code", "mentions"),
    [
        (["--fields", "name,bogus"], EXIT_USAGE, "bogus"),
        (["--fields", ","], EXIT_USAGE, "field"),
        (["--format", "xml"], EXIT_USAGE, "xml"),
        (["--excel", "--format", "json"], EXIT_USAGE, "--excel"),
        (["--excel", "--format", "jsonl"], EXIT_USAGE, "--excel"),
        (["--excel", "--format", "text"], EXIT_USAGE, "--excel"),
        (["--output", "OUT", "--clipboard"], EXIT_USAGE, "--clipboard"),
        (["--run", "999"], EXIT_NOT_FOUND, "999"),
        (["--run", "abc"], EXIT_USAGE, "abc"),
        (["--new", "--run", "999"], EXIT_NOT_FOUND, "999"),
        (["--since-run", "999"], EXIT_NOT_FOUND, "999"),
        (["--since-run", "abc"], EXIT_USAGE, "--since-run"),
        (["--new", "--since-run", "1"], EXIT_USAGE, "--since-run"),
        (["--output", ""], EXIT_USAGE, "--output"),
        (["--bogus-option"], EXIT_USAGE, "--bogus-option"),
    ],
)
def test_bad_usage(
    cli: Invoke, market: Path, tmp_path: Path, args: list[str], code: int, mentions: str
) -> None:
    args = [str(tmp_path / "out.csv") if a == "OUT" else a for a in args]
    before = dump(market)
    files = sorted(tmp_path.rglob("*"))
    line = fails(cli("export", "--mark-exported", *args), code)
    assert mentions in line
    assert dump(market) == before  # nothing marked, nothing written
    assert sorted(tmp_path.rglob("*")) == files


def test_empty_store(cli: Invoke, db_path: Path) -> None:
    assert ok(cli("export")) == ",".join(FIELDS) + "\n"
    assert ok(cli("export", "--format", "jsonl")) == ""
    assert ok(cli("export", "--format", "text")) == ""
    doc = json.loads(ok(cli("export", "--format", "json")))
    assert (doc["count"], doc["sellers"]) == (0, [])
    assert "run" in fails(cli("export", "--new"), EXIT_NOT_FOUND)
    assert "run" in fails(cli("export", "--run", "latest"), EXIT_NOT_FOUND)


# -- --unexported and --mark-exported --------------------------------------------------------------


def test_unexported_then_mark_exported(cli: Invoke, market: Path, tmp_path: Path) -> None:
    target = tmp_path / "batch1.jsonl"
    result = cli("export", "-f", "jsonl", "--unexported", "--mark-exported", "-o", str(target))
    assert "marked them exported" in ok(result) + result.stderr
    first = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert {(r["name"], r["platform"]) for r in first} == ALL
    assert all(r["exported_at"] is None for r in first)  # the rows as they were when read

    marks = seller_marks(market)
    assert set(marks) == ALL and None not in marks.values()
    assert len(set(marks.values())) == 1  # one stamp, one transaction
    stamp = next(iter(marks.values()))
    assert datetime.fromisoformat(stamp).tzinfo is not None
    audit = audit_rows(market)
    assert [(a["action"], a["at"]) for a in audit] == [("export_mark", stamp)]
    assert json.loads(audit[0]["detail"]) == {"count": len(ALL), "filters": {"unexported": True}}

    # Nothing new since: a second --unexported export is empty and marks nothing.
    assert ok(cli("export", "--unexported")) == ",".join(FIELDS) + "\n"
    again = cli("export", "-f", "json", "--unexported", "--mark-exported")
    assert json.loads(ok(again))["count"] == 0
    assert seller_marks(market) == marks
    assert json.loads(audit_rows(market)[-1]["detail"])["count"] == 0
    # A later plain export shows the stamp.
    assert {r["exported_at"] for r in jsonl_rows(cli)} == {stamp}

    # A new run brings Golf and Bravo again: only Golf is unexported.
    seed(market, [{"sample": ["Golf", "Bravo"]}])
    assert selected(cli, "--unexported") == {("Golf", "sample")}


def test_mark_exported_stamps_exactly_the_exported_sellers(cli: Invoke, market: Path) -> None:
    exported = selected(cli, "--new", "--mark-exported")
    assert exported == NEW_IN_RUN2
    marks = seller_marks(market)
    assert {k for k, v in marks.items() if v is not None} == NEW_IN_RUN2
    [audit] = audit_rows(market)
    assert audit["action"] == "export_mark"
    assert json.loads(audit["detail"]) == {
        "count": len(NEW_IN_RUN2),
        "filters": {"run_id": 2, "new": True},
    }
    assert selected(cli, "--unexported") == ALL - NEW_IN_RUN2
    assert selected(cli, "--unexported", "--run", "2") == {("Bravo", "sample")}


def test_an_export_that_fails_at_the_end_marks_nothing(
    cli: Invoke, market: Path, tmp_path: Path
) -> None:
    """The dated file name is taken by a directory: the rename fails after every row was
    written. One line, no file, no temp file, no mark."""
    out_dir = tmp_path / "exports"
    stamp = next(iter(today_stamps()))
    (out_dir / f"sellers_{stamp}_full.csv" / "occupied").mkdir(parents=True)
    before = dump(market)
    line = fails(cli("export", "--mark-exported", "--output", f"{out_dir}/"), EXIT_USAGE)
    assert "cannot write" in line
    assert leftover_temp_files(out_dir) == []
    assert (out_dir / f"sellers_{stamp}_full.csv").is_dir()
    assert dump(market) == before
    assert set(seller_marks(market).values()) == {None}


# -- files -----------------------------------------------------------------------------------------


def test_output_file_replaces_atomically(cli: Invoke, market: Path, tmp_path: Path) -> None:
    target = tmp_path / "sellers.csv"
    target.write_text("old content\n", encoding="utf-8")
    old_inode = target.stat().st_ino
    result = cli("export", "--output", str(target))
    assert ok(result) == ""  # data went to the file, not stdout
    assert str(target) in result.stderr and "Exported 7 sellers" in result.stderr
    assert target.read_bytes() == cli("export").stdout_bytes
    assert target.stat().st_ino != old_inode  # a new file renamed into place
    assert leftover_temp_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "sellers.csv", "store"]


@pytest.mark.parametrize(
    ("args", "scope", "ext"),
    [
        ([], "full", "csv"),
        (["--excel"], "full", "csv"),
        (["--run", "1", "--format", "jsonl"], "run-1", "jsonl"),
        (["--new", "--format", "json"], "run-2", "json"),
        (["--run", "latest", "--format", "text"], "run-2", "txt"),
        (["--platform", "ebay", "--format", "text"], "full", "txt"),
    ],
)
def test_output_dir_gets_a_dated_name(
    cli: Invoke, market: Path, tmp_path: Path, args: list[str], scope: str, ext: str
) -> None:
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    for output in (f"{out_dir}/", str(out_dir)):  # with the slash, or an existing directory
        ok(cli("export", *args, "--output", output))
        [written] = list(out_dir.iterdir())
        assert written.name in {f"sellers_{d}_{scope}.{ext}" for d in today_stamps()}
        # A JSON document opens with the second it was written: two exports may straddle one.
        assert _unstamped(written.read_bytes()) == _unstamped(cli("export", *args).stdout_bytes)
        written.unlink()


def _unstamped(document: bytes) -> bytes:
    return re.sub(rb'^\{"exported_at": "[^"]+"', b'{"exported_at": ""', document)


@pytest.mark.parametrize("output", ["missing/x.csv", "missing/", "missing/deeper/"])
def test_output_into_a_missing_directory(
    cli: Invoke, market: Path, tmp_path: Path, output: str
) -> None:
    files = sorted(tmp_path.rglob("*"))
    line = fails(cli("export", "--output", f"{tmp_path}/{output}"), EXIT_USAGE)
    assert "does not exist" in line
    assert sorted(tmp_path.rglob("*")) == files  # nothing created, not even the directory


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_output_to_an_unwritable_place(
    cli: Invoke, market: Path, tmp_path: Path, where: str
) -> None:
    if where == "under_a_file":
        blocker = tmp_path / "file.txt"
        blocker.write_text("keep me\n", encoding="utf-8")
        target = blocker / "x.csv"
    else:  # a directory no one can create files in, not even root
        target = Path("/proc") / f"collector-export-{os.getpid()}.csv"
    files = sorted(tmp_path.rglob("*"))
    line = fails(cli("export", "--mark-exported", "--output", str(target)), EXIT_USAGE)
    assert str(target) in line
    assert not target.exists()
    assert leftover_temp_files(target.parent if target.parent.is_dir() else tmp_path) == []
    assert sorted(tmp_path.rglob("*")) == files
    assert set(seller_marks(market).values()) == {None}


def test_output_onto_a_fifo_does_not_replace_it(cli: Invoke, market: Path, tmp_path: Path) -> None:
    """`--output` naming something that is not a regular file (a FIFO here; /dev/null or
    /dev/stdout for a root user) must not swap it for a regular file by the atomic rename."""
    fifo = tmp_path / "sellers.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is waiting
    try:
        result = cli("export", "--format", "text", "--output", str(fifo))
        assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a regular file"
        if result.exit_code == 0:  # written through the FIFO …
            received = os.read(reader, 65536).decode()
            assert sorted(received.splitlines()) == sorted(name for name, _ in ALL)
        else:  # … or refused in one line
            fails(result, EXIT_USAGE)
    finally:
        os.close(reader)
    assert leftover_temp_files(tmp_path) == []


# -- large stores: Ctrl-C, closed pipes, memory ----------------------------------------------------


def fill_sellers(db_path: Path, count: int) -> Path:
    """``count`` sellers by direct SQL (a run would take minutes); names that need quoting."""
    seed(db_path, [{"sample": ["First Seller"]}])
    conn = sqlite3.connect(db_path)
    now = "2026-01-02T03:04:05.678+00:00"
    with conn:
        conn.executemany(
            "INSERT INTO sellers (platform, name_key, name, feedback_score, feedback_percent,"
            " sightings, times_seen, first_run_id, first_seen_at, last_run_id, last_seen_at,"
            " created_at) VALUES ('sample', ?, ?, ?, 98.5, 1, 1, 1, ?, 1, ?, ?)",
            (
                (f'seller {i:07d} "q", shop ü', f'Seller {i:07d} "Q", Shop Ü', i, now, now, now)
                for i in range(1, count)
            ),
        )
    conn.close()
    return db_path


@pytest.fixture(scope="module")
def big_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    base = tmp_path_factory.mktemp("big")
    return {n: fill_sellers(base / f"sellers-{n}" / "collector.db", n) for n in (20_000, 200_000)}


# tests/export_gate.py with the pause after a given number of writes: the lines SQLite builds
# are written a block (1,000 sellers) at a time, an exporter's write makes one per seller.
_GATE = """
import sys
from pathlib import Path
import tests.export_gate as gate
gate.ROWS_BEFORE_PAUSE = int(sys.argv[2])
gate.install(Path(sys.argv[1]))
sys.argv = ['collector', *sys.argv[3:]]
from collector_cli.cli.app import main
main()
"""


@pytest.mark.parametrize(
    ("extra", "writes"),
    [([], 3), (["--sort", "score"], 1000)],
    ids=["sql-lines", "python-rows"],
)
def test_ctrl_c_while_writing_leaves_no_file(
    big_stores: dict[int, Path], config_path: Path, tmp_path: Path, extra: list[str], writes: int
) -> None:
    """Ctrl-C in the middle of the file: the export is held after its first writes (the
    head and two blocks of lines, or 1,000 sellers written one by one), so the signal
    certainly lands while the file is being written."""
    db = big_stores[20_000]
    before = dump(db)
    target = tmp_path / "sellers.json"
    gate = tmp_path / "gate"
    gate.mkdir()
    args = ["export", "--format", "json", "--mark-exported", "--output", str(target), *extra]
    proc = subprocess.Popen(
        [sys.executable, "-c", _GATE, str(gate), str(writes), *args],
        env=subprocess_env(db, config_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300  # a safety net: the pause is what we wait for
        while not (gate / "reached").exists():
            if proc.poll() is not None:
                pytest.fail(f"export ended before its pause: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the export did not reach its pause after {writes} writes in 300 s")
            time.sleep(0.01)
        temp = tmp_path / f".{target.name}.{proc.pid}.tmp"
        assert temp.stat().st_size > 0, "the rows written so far are in the temporary file"
        assert not target.exists()
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        (gate / "release").touch()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_CANCELLED, stderr
    assert "Traceback" not in stderr and "Exported" not in stderr
    assert stdout == ""
    assert not target.exists()
    assert leftover_temp_files(tmp_path) == []
    assert dump(db) == before  # nothing marked, no audit row


def test_closed_pipe_exits_quietly(big_stores: dict[int, Path], config_path: Path) -> None:
    """`collector export | head -1` on an export far larger than a pipe buffer."""
    env = subprocess_env(big_stores[200_000], config_path)
    export = subprocess.Popen(
        [sys.executable, "-m", "collector_cli", "export"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.Popen(["head", "-1"], stdin=export.stdout, stdout=subprocess.PIPE)
    assert export.stdout is not None and export.stderr is not None
    export.stdout.close()  # only head holds the read end now
    first, _ = head.communicate(timeout=60)
    stderr = export.stderr.read().decode()
    export.wait(timeout=60)
    assert first.decode() == ",".join(FIELDS) + "\n"
    assert export.returncode == 0, stderr
    assert stderr == ""  # no traceback, no "Exception ignored … BrokenPipeError"


# The child reports the high-water mark of its own address space. RUSAGE_CHILDREN (and the
# rusage of wait4) is no good here: Linux carries the parent's RSS into a child's ru_maxrss
# across fork + exec, so under pytest it measures the test process, not the export.
_PEAK_RSS = """
import atexit, runpy, sys
report = sys.argv[1]
def peak():
    with open('/proc/self/status') as status:
        kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(report, 'w') as out:
        out.write(kib)
atexit.register(peak)
sys.argv = ['collector', *sys.argv[2:]]
runpy.run_module('collector_cli', run_name='__main__', alter_sys=True)
"""


def export_peak_rss(db: Path, config_path: Path, tmp_path: Path, args: list[str]) -> int:
    report = tmp_path / "peak"
    report.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(report), "export", *args],
        env=subprocess_env(db, config_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("Exported "), result.stderr
    return int(report.read_text()) * 1024


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_memory_stays_flat(
    big_stores: dict[int, Path], config_path: Path, tmp_path: Path, fmt: str
) -> None:
    peaks = {}
    for count, db in big_stores.items():
        # CSV streams to stdout (a pipe/file descriptor), JSONL to a file.
        target = tmp_path / f"out-{count}.{fmt}"
        args = ["--format", fmt] + (["--output", str(target)] if fmt == "jsonl" else [])
        peaks[count] = export_peak_rss(db, config_path, tmp_path, args)
        if fmt == "jsonl":
            with target.open("rb") as written:
                assert sum(1 for _ in written) == count
    small, large = peaks[20_000], peaks[200_000]
    assert large < 80 * MIB, f"peak RSS {large / MIB:.1f} MiB"
    assert large / small < 1.5, f"{small / MIB:.1f} MiB for 20k, {large / MIB:.1f} for 200k"


# -- clipboard -------------------------------------------------------------------------------------


def run_export(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector_cli", "export", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_clipboard_without_a_tool_fails_in_one_line(market: Path, config_path: Path) -> None:
    env = subprocess_env(market, config_path)
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(var, None)
    before = dump(market)
    result = run_export(env, "--clipboard", "--mark-exported")
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""  # stdout is a pipe, not a terminal: no OSC 52 either
    [line] = result.stderr.splitlines()
    assert line.startswith("collector: error: ") and "xclip" in line and "xsel" in line
    assert dump(market) == before  # nothing marked


@pytest.fixture
def fake_xclip(tmp_path: Path) -> Path:
    """An `xclip` first on PATH that records its arguments and what it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "xclip"
    script.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_CLIP_DIR/args"\ncat > "$FAKE_CLIP_DIR/clip"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return bin_dir


def test_clipboard_through_xclip(
    db_path: Path, config_path: Path, tmp_path: Path, fake_xclip: Path
) -> None:
    names = ["Alpha", 'Quote "Q"', "😀 Emoji", "=1+1", "Line\nBreak"]
    seed(db_path, [{"sample": names}])
    env = subprocess_env(db_path, config_path, DISPLAY=":99", FAKE_CLIP_DIR=str(tmp_path))
    env["PATH"] = f"{fake_xclip}{os.pathsep}{env['PATH']}"
    env.pop("WAYLAND_DISPLAY", None)
    clip = tmp_path / "clip"

    result = run_export(env, "--clipboard")  # names only, unless a format is given
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "Exported 5 sellers to the clipboard.\n"
    assert "-selection" in (tmp_path / "args").read_text(encoding="utf-8").split()
    copied = clip.read_bytes().decode("utf-8")
    assert sorted(copied.splitlines()) == sorted(n.replace("\n", "\\n") for n in names)

    # CSV on the clipboard is byte for byte what stdout gets (quoting and LFs included).
    plain = run_export(env)  # before the mark changes exported_at
    result = run_export(env, "--clipboard", "--format", "csv", "--mark-exported")
    assert result.returncode == 0, result.stderr
    assert "marked them exported" in result.stderr
    assert clip.read_bytes() == plain.stdout.encode("utf-8")
    assert sorted(row[0] for row in csv_rows(clip.read_bytes())[1:]) == sorted(names)
    assert None not in seller_marks(db_path).values()


def test_store_is_usable_after_exports(cli: Invoke, market: Path) -> None:
    """Exports only read (and mark): the store stays intact and the CLI keeps working."""
    ok(cli("export", "--unexported", "--mark-exported", "--run", "1"))
    store: Store = open_store(market)
    try:
        assert store.integrity_check() == "ok"
        assert not store.conn.in_transaction
    finally:
        store.close()
    assert selected(cli, "--unexported") == ALL - RUN1
