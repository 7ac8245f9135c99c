"""Reading sellers for export: one consistent snapshot, streamed row by row or line by line.

Two ways out of the store. ``rows`` hands each seller to Python as a dict, for an exporter's
``write`` (and for anything computed in Python, like the ranking figures). ``lines`` has SQLite
build the finished output lines from an exporter's ``LineFormat`` and hands them over in
blocks: fetching thirteen values per seller into Python costs as much as the whole export by
the sqlite3 shell, one block of text per thousand sellers does not.

The SQL that builds lines lives here, as all SQL does; what a line is (cells, separators,
quoting and escaping rules, null and boolean words) is the exporter's, stated as data in its
``LineFormat``. The lines must be byte for byte what ``write`` makes of the same rows. Where
SQL cannot be sure of that for a seller (a REAL that is not a one-decimal percentage, a NUL in
a name), it builds no line for that seller, and ``lines`` yields the seller as a row instead,
for ``write``. How each value becomes text, and why that is exact, is in ``_LineQuery``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from collector_cli.errors import NotFoundError, UsageError
from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.exporters.base import LineFormat
    from collector_cli.store.db import Store

_COLUMNS = (
    "s.id, s.name, s.platform, s.feedback_score, s.feedback_score_approx, s.feedback_percent,"
    " s.times_seen, s.sightings, s.first_run_id AS first_seen_run, s.first_seen_at,"
    " s.last_run_id AS last_seen_run, s.last_seen_at, s.flagged, s.exported_at"
)
_BOOLEANS = ("feedback_score_approx", "flagged", "new_in_run")
_second = itemgetter(1)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which sellers an export takes. ``run_id`` limits it to the sellers one run saw."""

    run_id: int | None = None
    new: bool = False
    since_run: int | None = None
    unexported: bool = False
    flagged: bool = False
    platform: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}


class ExportSnapshot:
    """Count, rows and the export mark, all inside one transaction of the caller."""

    def __init__(self, conn: sqlite3.Connection, selection: Selection) -> None:
        self.conn = conn
        self.selection = selection
        self._from, self._where, self._params = _query(selection)

    def count(self) -> int:
        sql = f"SELECT count(*) FROM {self._from} WHERE {self._where}"
        return int(self.conn.execute(sql, self._params).fetchone()[0])

    def rows(self) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(
            f"SELECT {self._columns()} FROM {self._from} WHERE {self._where} ORDER BY s.id",
            self._params,
        )
        names = [d[0] for d in cursor.description]
        while batch := cursor.fetchmany(1000):
            for values in batch:
                yield _row(names, values)

    def lines(self, fmt: LineFormat) -> Iterator[bytes | dict[str, Any]]:
        """The selection as finished lines (UTF-8, whole lines in blocks), in id order.

        A seller whose line SQL cannot build exactly comes in its place as a row dict (what
        ``rows`` yields), for the exporter's ``write``."""
        query = _LineQuery(fmt, run=self.selection.run_id is not None)
        if self.conn.execute("PRAGMA encoding").fetchone()[0] != "UTF-8":
            return iter(self.rows())  # a BLOB of its text would not be UTF-8
        if self.selection.run_id is None:
            return self._line_blocks(query)
        return self._line_rows(query)

    def _line_blocks(self, query: _LineQuery) -> Iterator[bytes | dict[str, Any]]:
        """Blocks joined by SQLite: group_concat over the selected sellers among the next
        LINES_PER_BLOCK ids, so Python takes one value per block instead of a row per seller
        (about 10 % of a CSV export's time).

        A block is a range of ids that SQLite reads as a rowid range of the table, in id
        order, aggregating the lines as it reads them (the plan is checked by a test). The
        filters are written as +column so that SQLite never answers them from an index
        instead (the platform index would read a platform's sellers by name). A seller
        without a line leaves a NUL in its block, which is then read again seller by seller
        (so does a NUL in a name)."""
        bound, block_sql, each_sql = self._block_queries(query)
        low = -(2**63)
        while True:
            end = self.conn.execute(bound, (low, LINES_PER_BLOCK - 1)).fetchone()
            high = 2**63 - 1 if end is None else end[0]
            block = self.conn.execute(block_sql, (*self._params, low, high)).fetchone()[0]
            if block and b"\x00" in block:
                rows = self._tuples(each_sql, (*self._params, low, high)).fetchall()
                yield from self._each(rows, query)
            elif block:
                yield block
            if end is None:
                return
            low = high

    def _block_queries(self, query: _LineQuery) -> tuple[str, str, str]:
        """SELECTs of _line_blocks: the id ending the next block after ?, the block's lines
        as one BLOB, and its sellers one by one as (id, line or NULL)."""
        where = _query(self.selection, indexed=False)[1]
        line = query.line()
        span = "s.id > ? AND s.id <= ?"
        return (
            "SELECT id FROM sellers WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
            f"SELECT CAST(group_concat(ifnull({line}, char(0)), '') AS BLOB)"
            f" FROM {self._from} WHERE {where} AND {span}",
            f"SELECT s.id, CAST({line} AS BLOB) FROM {self._from}"
            f" WHERE {where} AND {span} ORDER BY s.id",
        )

    def _line_rows(self, query: _LineQuery) -> Iterator[bytes | dict[str, Any]]:
        """Line by line, for a run's sellers. They are read through run_sellers, and which
        of the two tables SQLite reads first is its planner's choice: the order of a block
        aggregated without ORDER BY would depend on it. Here ORDER BY s.id decides."""
        cursor = self._tuples(
            f"SELECT s.id, CAST({query.line()} AS BLOB) FROM {self._from}"
            f" WHERE {self._where} ORDER BY s.id",
            self._params,
        )
        while batch := cursor.fetchmany(LINES_PER_BLOCK):
            try:
                block = b"".join(map(_second, batch))
            except TypeError:  # None: a seller for write
                yield from self._each(batch, query)
                continue
            if query.glob_on_free_text and b"\x00" in block:
                yield from self._each(batch, query)
            else:
                yield block

    def _each(
        self, rows: list[tuple[int, bytes | None]], query: _LineQuery
    ) -> Iterator[bytes | dict[str, Any]]:
        """Lines and, for the sellers SQL left out (no line, or a NUL that GLOB stopped
        at), their rows: read in one query, however many of the block they are."""
        missing = [
            seller_id
            for seller_id, line in rows
            if line is None or (query.glob_on_free_text and b"\x00" in line)
        ]
        by_id = self._rows_by_id(missing)
        good: list[bytes] = []
        for seller_id, line in rows:
            if seller_id not in by_id:
                good.append(line)  # type: ignore[arg-type]
                continue
            if good:
                yield b"".join(good)
                good = []
            yield by_id[seller_id]
        if good:
            yield b"".join(good)

    def _tuples(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        cursor = self.conn.cursor()
        cursor.row_factory = None  # plain tuples: a sqlite3.Row per line costs ~5 %
        return cursor.execute(sql, params)

    def _rows_by_id(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        cursor = self.conn.execute(
            f"SELECT {self._columns()} FROM {self._from} WHERE {self._where}"
            f" AND s.id IN ({', '.join('?' * len(ids))})",
            (*self._params, *ids),
        )
        names = [d[0] for d in cursor.description]
        return {row["id"]: row for row in (_row(names, values) for values in cursor)}

    def _columns(self) -> str:
        if self.selection.run_id is None:
            return _COLUMNS
        return _COLUMNS + ", rs.sightings AS run_sightings, rs.is_new AS new_in_run"

    def mark_exported(self, count: int) -> str:
        """Stamp exported_at on exactly the selected sellers and record it in the audit log."""
        at = utcnow()
        self.conn.execute(
            f"UPDATE sellers SET exported_at = ? WHERE id IN"
            f" (SELECT s.id FROM {self._from} WHERE {self._where})",
            (at, *self._params),
        )
        self.conn.execute(
            "INSERT INTO seller_audit (at, action, name, detail) VALUES (?, 'export_mark', '', ?)",
            (at, json.dumps({"count": count, "filters": self.selection.to_dict()})),
        )
        return at


def _row(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(names, values, strict=True))
    for key in _BOOLEANS:
        if key in row:
            row[key] = bool(row[key])
    return row


def _query(sel: Selection, *, indexed: bool = True) -> tuple[str, str, tuple[Any, ...]]:
    """FROM, WHERE and parameters of a selection; ``indexed=False`` keeps SQLite from
    answering the sellers filters from an index (+column)."""
    p = "" if indexed else "+"
    source, where, params = "sellers s", ["1 = 1"], []
    if sel.run_id is not None:
        source += " JOIN run_sellers rs ON rs.seller_id = s.id AND rs.run_id = ?"
        params.append(sel.run_id)
        if sel.new:
            where.append("rs.is_new = 1")
    if sel.since_run is not None:
        where.append(f"{p}s.first_run_id > ?")
        params.append(sel.since_run)
    if sel.unexported:
        where.append(f"{p}s.exported_at IS NULL")
    if sel.flagged:
        where.append(f"{p}s.flagged = 1")
    if sel.platform is not None:
        where.append(f"{p}s.platform = ?")
        params.append(sel.platform)
    return source, " AND ".join(where), tuple(params)


class ExportRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def resolve_run(self, run: str) -> int:
        """A run id, or 'latest' for the most recent run that saw sellers."""
        if run == "latest":
            row = self.store.query_one("SELECT max(run_id) FROM run_sellers")
            if row is None or row[0] is None:
                raise NotFoundError("there is no run with sellers yet")
            return int(row[0])
        try:
            run_id = int(run)
        except ValueError:
            raise UsageError(f"invalid --run {run!r}: use a run id or 'latest'") from None
        if not 0 < run_id < 2**63:
            raise UsageError(f"invalid --run {run!r}: use a run id or 'latest'")
        self.store.runs.get(run_id)  # NotFoundError for an unknown id
        return run_id

    @contextlib.contextmanager
    def snapshot(self, selection: Selection, *, for_marking: bool) -> Iterator[ExportSnapshot]:
        """A read transaction; with ``for_marking`` a write lock, so what is read is exactly
        what gets marked. Commits only if the caller's block finishes."""
        conn = self.store.conn
        # A full scan would fill the run-sized page cache (64 MiB) for nothing: an export
        # reads each page once, so a small cache keeps its memory flat however many sellers.
        cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute("PRAGMA cache_size = -2048")
        conn.execute("BEGIN IMMEDIATE" if for_marking else "BEGIN")
        try:
            yield ExportSnapshot(conn, selection)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            if not conn.in_transaction:
                conn.execute(f"PRAGMA cache_size = {int(cache)}")
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA cache_size = {int(cache)}")


# -- lines built by SQLite ------------------------------------------------------------------------

LINES_PER_BLOCK = 1000  # sellers per block of lines written at a time (~150 KiB of CSV)

_TEXT, _INT, _BOOL, _REAL = "text", "integer", "boolean", "real"
# What each export field is in SQL, what its values are, and whether the schema allows NULL.
_LINE_COLUMNS: dict[str, tuple[str, str, bool]] = {
    "name": ("s.name", _TEXT, False),
    "platform": ("s.platform", _TEXT, False),
    "feedback_score": ("s.feedback_score", _INT, True),
    "feedback_score_approx": ("s.feedback_score_approx", _BOOL, False),
    "feedback_percent": ("s.feedback_percent", _REAL, True),
    "times_seen": ("s.times_seen", _INT, False),
    "sightings": ("s.sightings", _INT, False),
    "first_seen_run": ("s.first_run_id", _INT, True),
    "first_seen_at": ("s.first_seen_at", _TEXT, True),
    "last_seen_run": ("s.last_run_id", _INT, True),
    "last_seen_at": ("s.last_seen_at", _TEXT, True),
    "flagged": ("s.flagged", _BOOL, False),
    "exported_at": ("s.exported_at", _TEXT, True),
    "run_sightings": ("rs.sightings", _INT, False),
    "new_in_run": ("rs.is_new", _BOOL, False),
}
_RUN_ONLY = frozenset({"run_sightings", "new_in_run"})
# Text from marketplaces and users: quoted or escaped value by value. The other text columns
# hold only what this program writes there, platform keys ([a-z0-9_-], validated) and ISO
# timestamps, in which no CSV quoting or text escaping ever applies: outside JSON they go into
# the line as they are (four GLOBs per value and line would cost more than the whole rest).
_FREE_TEXT = frozenset({"name"})


def _sql_text(text: str) -> str:
    """An SQL string literal."""
    if "\x00" in text:
        raise ValueError("an SQL literal cannot hold NUL")
    return "'" + text.replace("'", "''") + "'"


def _glob_holding(char: str) -> str:
    """A GLOB pattern matching text that holds ``char``; for an ASCII character other than
    * ? [ SQLite scans for it with one strcspn()."""
    return "*" + (f"[{char}]" if char in "*?[" else char) + "*"


class _LineQuery:
    """The SQL expression that turns a selected seller into its output line, or into NULL
    where SQL cannot be sure to write exactly what the exporter's ``write`` would.

    How values become text, and why that is what Python writes:
    - INTEGER: SQLite's decimal text of a 64-bit integer is ``str(int)``.
    - REAL (feedback_percent): Python writes ``repr(float)``, the shortest decimal that reads
      back as the same double; SQLite writes ``%!.15g`` (15 significant digits, trailing
      zeros dropped, ".0" kept), which differs in general (0.30000000000000004, 1e+16, inf).
      So SQL builds the line only for x in [0, 1e14] with x == k / 10.0, where k = CAST(x *
      10 + 0.5 AS INTEGER): IEEE division of two exact numbers is correctly rounded, so x is
      then the double nearest to the decimal k/10, which has at most 15 significant digits.
      Doubles are denser than 15-digit decimals, so that decimal is the only one of them
      within half an ulp of x, and it is ``repr(x)`` (plain notation below 1e16). SQL writes
      it with integers only: k / 10, '.', k % 10. Every source writes percentages with one
      decimal; any other x goes to ``write``. tests/test_export_identity.py compares the two
      for every one-decimal value from 0.0 to 20000.0, a sample up to 1e14 and odd doubles.
    - booleans: Python's ``bool`` of an INTEGER or NULL is SQL's truth of it.
    - text, per ``TextRule``: ``replace`` for escapes; ``substr`` for formula starts;
      ``json_quote`` for JSON strings (it escapes exactly what json.dumps escapes, with the
      same short forms and lowercase \\u00XX, and nothing else: not DEL, not U+2028); for
      CSV quoting one GLOB '*c*' per quoting character (a strcspn(), far cheaper than
      instr()) and ``replace`` to double the quote character. Free text is joined to the
      line with ``||``, not passed to printf('%s'), which would stop at a NUL; GLOB does
      stop there, so ``lines`` has lines holding a NUL made again by ``write``.
    Values are taken to have the storage classes the schema and the program's writers give
    them (INTEGER, REAL, TEXT; NULL where the schema allows it): checking that row by row
    costs about as much as building the line.
    """

    def __init__(self, fmt: LineFormat, *, run: bool) -> None:
        unknown = [f for f in fmt.fields if f not in _LINE_COLUMNS or (f in _RUN_ONLY and not run)]
        if unknown or not fmt.fields:
            raise ValueError(f"no SQL for the fields {unknown or '(none)'}")
        rule = fmt.text
        if rule.quote_when and rule.quote not in rule.quote_when:
            raise ValueError("the quote character must be among the characters that quote")
        self.fmt = fmt
        self.glob_on_free_text = False  # GLOB looks at free text only up to a NUL
        # The line, in order: ("literal", text), ("value", printf conversion, its arguments:
        # text holding no NUL), ("joined", text that may hold a NUL: joined by ||) or
        # ("real", column): a one-decimal REAL, or its null text (see line()).
        self.parts: list[tuple[Any, ...]] = []
        self.lone = len(fmt.fields) == 1 and fmt.lone_empty is not None
        self._literal(fmt.start)
        for i, field in enumerate(fmt.fields):
            if i:
                self._literal(fmt.separator)
            if fmt.labels:
                self._literal(fmt.labels[i])
            self._field(field)
        self._literal(fmt.end)

    def _literal(self, text: str) -> None:
        if text:
            self.parts.append(("literal", text))

    def _field(self, field: str) -> None:
        column, kind, nullable = _LINE_COLUMNS[field]
        fmt, lone = self.fmt, self.lone
        null = _sql_text(fmt.null)
        if kind == _REAL:
            self.parts.append(("real", column))
            return
        if kind == _TEXT and (field in _FREE_TEXT or fmt.text.json_string or lone):
            piece, expr = self._text(column, nullable=nullable)
        elif kind == _BOOL:  # bool(None) is False
            piece = "value"
            expr = f"CASE WHEN {column} THEN {_sql_text(fmt.true)} ELSE {_sql_text(fmt.false)} END"
        elif kind == _INT and not nullable and not lone:  # %d: no text made for the INTEGER
            self.parts.append(("value", "%d", [column]))
            return
        else:  # as-is text (see _FREE_TEXT) or an INTEGER that may be NULL
            piece = "value"
            expr = self._formula(column) if kind == _TEXT else column
            if lone:
                expr = f"CAST({expr} AS TEXT)"
            if nullable and (fmt.null or lone):
                expr = f"ifnull({expr}, {null})"  # else printf('%s') writes NULL as ''
        if lone:
            assert fmt.lone_empty is not None
            expr = f"ifnull(nullif({expr}, ''), {_sql_text(fmt.lone_empty)})"
        if piece == "value":
            self.parts.append(("value", "%s", [expr]))
        else:
            self.parts.append(("joined", expr))

    def _formula(self, value: str) -> str:
        rule = self.fmt.text
        if not rule.formula_starts:
            return value
        if all(len(s) == 1 for s in rule.formula_starts):
            starts = ", ".join(_sql_text(s) for s in rule.formula_starts)
            test = f"substr({value}, 1, 1) IN ({starts})"
        else:
            test = " OR ".join(
                f"substr({value}, 1, {len(s)}) = {_sql_text(s)}" for s in rule.formula_starts
            )
        return f"CASE WHEN {test} THEN {_sql_text(rule.formula_prefix)} || {value} ELSE {value} END"

    def _text(self, column: str, *, nullable: bool) -> tuple[str, str]:
        """A text value through the whole rule, in SQL, value by value."""
        rule, null = self.fmt.text, _sql_text(self.fmt.null)
        value = column
        for old, new in rule.escapes:
            value = f"replace({value}, {_sql_text(old)}, {_sql_text(new)})"
        value = self._formula(value)
        if rule.json_string:  # json_quote(NULL) is 'null'
            if not nullable or self.fmt.null == "null":
                return "value", f"json_quote({value})"
            return "value", f"CASE WHEN {column} IS NULL THEN {null} ELSE json_quote({value}) END"
        if rule.quote_when:
            self.glob_on_free_text = True
            # Escapes, or a prefix holding a quoting character, change what is to be looked at.
            prefix_quotes = any(c in rule.formula_prefix for c in rule.quote_when)
            seen = value if rule.escapes or prefix_quotes else column
            q = _sql_text(rule.quote)
            others = [c for c in dict.fromkeys(rule.quote_when) if c != rule.quote]
            cases = [
                f"WHEN {seen} GLOB {_sql_text(_glob_holding(rule.quote))} THEN"
                f" {q} || replace({value}, {q}, {_sql_text(rule.quote * 2)}) || {q}"
            ]
            if others:
                test = " OR ".join(f"{seen} GLOB {_sql_text(_glob_holding(c))}" for c in others)
                cases.append(f"WHEN {test} THEN {q} || {value} || {q}")
            value = f"CASE {' '.join(cases)} ELSE {value} END"
        return "joined", f"ifnull({value}, {null})" if nullable else value

    def line(self) -> str:
        """The line's TEXT, NULL for a seller that ``write`` must write.

        The line is written out once for each case of its REAL columns, NULL or a one-decimal
        value, and CASE picks the one that applies; any other REAL value gives NULL."""
        reals = list(dict.fromkeys(part[1] for part in self.parts if part[0] == "real"))
        k = {x: f"CAST({x} * 10 + 0.5 AS INTEGER)" for x in reals}

        def variant(nulls: tuple[bool, ...], i: int) -> str:
            if i == len(reals):
                return self._line(dict(zip(reals, nulls, strict=True)), k)
            x = reals[i]
            return (
                f"CASE WHEN {x} IS NULL THEN {variant((*nulls, True), i + 1)}"
                f" WHEN {x} BETWEEN 0 AND 1e14 AND {x} = {k[x]} / 10.0"
                f" THEN {variant((*nulls, False), i + 1)} END"
            )

        return variant((), 0)

    def _line(self, null: dict[str, bool], k: dict[str, str]) -> str:
        # Runs of literals and values become one printf() each: one allocation for the run,
        # not one per ||. Joined text goes between the runs.
        pieces: list[str] = []
        fmt, args = "", []

        def close() -> None:
            nonlocal fmt, args
            if args:
                pieces.append(f"printf({_sql_text(fmt)}, {', '.join(args)})")
            elif fmt:
                pieces.append(_sql_text(fmt.replace("%%", "%")))
            fmt, args = "", []

        for part in self.parts:
            if part[0] == "real" and null[part[1]]:
                text = self.fmt.null
                if self.lone and not text:
                    text = self.fmt.lone_empty or ""
                part = ("literal", text)
            elif part[0] == "real":  # k // 10 '.' k % 10: see the class comment
                part = ("value", "%d.%d", [f"{k[part[1]]} / 10", f"{k[part[1]]} % 10"])
            if part[0] == "literal":
                fmt += part[1].replace("%", "%%")
            elif part[0] == "joined":
                close()
                pieces.append(part[1])
            else:
                fmt += part[1]
                args += part[2]
        close()
        return " || ".join(pieces) or _sql_text("")
