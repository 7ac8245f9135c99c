"""Sellers on screen: tables, the `sellers show` page, the audit log, JSON shapes.

Seller names come from marketplaces and users, so they are never read as Rich markup: every
name goes into a ``Text`` (or through ``escape``), with control characters made visible.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from collector_cli.ui.fmt import local_time, num
from collector_cli.ui.tables import Col, plain_table


def display_name(name: str) -> str:
    """A name safe for one terminal line: tabs/newlines as spaces, other controls as U+FFFD."""
    if name.isprintable():
        return name
    out = []
    for ch in name:
        if ch in "\t\n\r":
            out.append(" ")
        elif unicodedata.category(ch) == "Cc":
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def feedback(score: int | None, approx: int | bool, percent: float | None) -> str:
    """'12,345 (99.8%)'; '~12,000' when the source only gave an approximation."""
    if score is None and percent is None:
        return "—"
    parts = []
    if score is not None:
        parts.append(("~" if approx else "") + num(score))
    if percent is not None:
        parts.append(f"({percent:g}%)" if score is not None else f"{percent:g}%")
    return " ".join(parts)


def seller_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "name_key": row["name_key"],
        "platform": row["platform"],
        "feedback_score": row["feedback_score"],
        "feedback_score_approx": bool(row["feedback_score_approx"]),
        "feedback_percent": row["feedback_percent"],
        "times_seen": row["times_seen"],
        "sightings": row["sightings"],
        "first_run_id": row["first_run_id"],
        "first_seen_at": row["first_seen_at"],
        "last_run_id": row["last_run_id"],
        "last_seen_at": row["last_seen_at"],
        "flagged": bool(row["flagged"]),
        "flag_note": _note(row),
        "exported_at": row["exported_at"],
        "origin": row["origin"],
        "created_at": row["created_at"],
    }


def _note(row: sqlite3.Row) -> str | None:
    return row["flag_note"] if "flag_note" in row.keys() else None  # noqa: SIM118 (sqlite3.Row)


def run_seller_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A seller as one run saw it (``history show RUN --sellers``)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "platform": row["platform"],
        "feedback_score": row["feedback_score"],
        "feedback_score_approx": bool(row["feedback_score_approx"]),
        "feedback_percent": row["feedback_percent"],
        "sightings_in_run": row["run_sightings"],
        "is_new": bool(row["is_new"]),
        "flagged": bool(row["flagged"]),
    }


def _marks(row: sqlite3.Row) -> str:
    marks = []
    if row["flagged"]:
        note = _note(row)
        marks.append(f"flagged: {display_name(note)}" if note else "flagged")
    if row["origin"] != "run":
        marks.append(row["origin"])
    if row["exported_at"]:
        marks.append("exported")
    return ", ".join(marks)


# A seller's name is what a user copies: never dropped, never cut.
SELLER_COLS = (
    Col("name"),
    Col("platform", drop=2),
    Col("feedback", drop=1, right=True),
    Col("runs", drop=3, right=True),
    Col("sightings", drop=4, right=True),
    Col("last seen", drop=5),
    Col("", drop=2),
)


def seller_rows(rows: list[sqlite3.Row]) -> list[list[str | Text]]:
    return [
        [
            Text(display_name(r["name"])),
            Text(r["platform"]),
            feedback(r["feedback_score"], r["feedback_score_approx"], r["feedback_percent"]),
            num(r["times_seen"]),
            num(r["sightings"]),
            _run_and_time(r["last_run_id"], r["last_seen_at"], short=True),
            _marks(r),
        ]
        for r in rows
    ]


def run_sellers_table(rows: list[sqlite3.Row], title: str) -> Table:
    table = plain_table(
        ("name", "platform", "feedback", "sightings", ""),
        right=("feedback", "sightings"),
        title=title,
    )
    for r in rows:
        table.add_row(
            Text(display_name(r["name"])),
            Text(r["platform"]),
            feedback(r["feedback_score"], r["feedback_score_approx"], r["feedback_percent"]),
            num(r["run_sightings"]),
            "flagged" if r["flagged"] else "",
        )
    return table


def _run_and_time(run_id: int | None, at: str | None, *, short: bool = False) -> str:
    if not at:
        return "—" if run_id is None else f"run #{run_id}"
    when = local_time(at)[:16] if short else local_time(at)
    return f"{when} (run #{run_id})" if run_id is not None else when


def _flagged(row: sqlite3.Row) -> str:
    if not row["flagged"]:
        return "no"
    note = _note(row)
    return "[yellow]yes[/]" + (f" — {escape(display_name(note))}" if note else "")


def print_seller(
    console: Console,
    seller: sqlite3.Row,
    runs: list[sqlite3.Row],
    history: list[sqlite3.Row],
    *,
    profile: str | None = None,
) -> None:
    """The `sellers show` page: fields, the runs that saw it, its feedback series."""
    s = seller
    console.print(Text(display_name(s["name"]), style="bold"))
    fields = [
        ("platform", escape(s["platform"])),
        ("profile", escape(profile) if profile else "— (no profile pages on this platform)"),
        ("name key", escape(display_name(s["name_key"]))),
        (
            "feedback",
            feedback(s["feedback_score"], s["feedback_score_approx"], s["feedback_percent"])
            + (" (approximate)" if s["feedback_score_approx"] else ""),
        ),
        ("seen", f"{num(s['times_seen'])} run{'s' if s['times_seen'] != 1 else ''}"),
        ("sightings", num(s["sightings"])),
        ("first seen", _run_and_time(s["first_run_id"], s["first_seen_at"])),
        ("last seen", _run_and_time(s["last_run_id"], s["last_seen_at"])),
        ("flagged", _flagged(s)),
        ("exported", local_time(s["exported_at"]) if s["exported_at"] else "never"),
        ("origin", escape(s["origin"])),
        ("added", local_time(s["created_at"])),
    ]
    for label, value in fields:
        console.print(f"  {label:<11} {value}")

    console.print()
    if runs:
        table = plain_table(
            ("run", "preset", "started", "status", "sightings", ""),
            right=("run", "sightings"),
            title=f"seen in {len(runs)} runs",
        )
        for r in runs:
            table.add_row(
                f"#{r['run_id']}",
                Text(r["preset_name"]),
                local_time(r["started_at"])[:16],
                r["status"],
                num(r["sightings"]),
                "new" if r["is_new"] else "",
            )
        console.print(table)
    else:
        console.print("seen in no runs")

    console.print()
    if history:
        table = plain_table(
            ("recorded", "run", "score", "percent"),
            right=("run", "score", "percent"),
            title=f"feedback history ({len(history)})",
        )
        for h in history:
            table.add_row(
                local_time(h["recorded_at"]),
                f"#{h['run_id']}" if h["run_id"] is not None else "—",
                "—"
                if h["feedback_score"] is None
                else ("~" if h["feedback_score_approx"] else "") + num(h["feedback_score"]),
                "—" if h["feedback_percent"] is None else f"{h['feedback_percent']:g}%",
            )
        console.print(table)
    else:
        console.print("feedback history: none recorded")


def seller_page_dict(
    seller: sqlite3.Row, runs: list[sqlite3.Row], history: list[sqlite3.Row]
) -> dict[str, Any]:
    data = seller_dict(seller)
    data["runs"] = [
        {
            "run_id": r["run_id"],
            "preset": r["preset_name"],
            "started_at": r["started_at"],
            "status": r["status"],
            "sightings": r["sightings"],
            "is_new": bool(r["is_new"]),
        }
        for r in runs
    ]
    data["feedback_history"] = [
        {
            "recorded_at": h["recorded_at"],
            "run_id": h["run_id"],
            "feedback_score": h["feedback_score"],
            "feedback_score_approx": bool(h["feedback_score_approx"]),
            "feedback_percent": h["feedback_percent"],
        }
        for h in history
    ]
    return data


# -- the audit log -------------------------------------------------------------------------------


def parse_detail(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def audit_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": row["at"],
        "action": row["action"],
        "seller_id": row["seller_id"],
        "platform": row["platform"],
        "name": row["name"],
        "detail": parse_detail(row["detail"]),
    }


def describe_detail(action: str, detail: Any) -> str:
    """The detail column in words. export_mark rows carry a count and the export's filters."""
    if detail is None:
        return ""
    if not isinstance(detail, dict):
        return display_name(str(detail))
    d = dict(detail)
    bits = []
    if action == "export_mark":
        count = d.pop("count", None)
        if count is not None:
            bits.append(f"{num(count)} seller{'s' if count != 1 else ''} marked exported")
        filters = d.pop("filters", None)
        if isinstance(filters, dict):
            shown = [
                k if v is True else f"{k}={_value(v)}"
                for k, v in filters.items()
                if v not in (None, False, [], "")
            ]
            bits.append("filters: " + (", ".join(shown) if shown else "none (all sellers)"))
        elif filters:
            bits.append(f"filters: {_value(filters)}")
    if action == "remove" and d.pop("forced", False):
        runs = d.pop("runs", None) or []
        bits.append(
            f"forced: seen in run{'s' if len(runs) != 1 else ''} "
            + ", ".join(f"#{r}" for r in runs)
        )
    note = d.pop("note", None)
    bits.extend(f"{k}={_value(v)}" for k, v in d.items())
    if note:
        bits.append(f"note: {note}")
    return display_name(" · ".join(bits))


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def audit_table(rows: list[sqlite3.Row]) -> Table:
    table = plain_table(("when", "action", "platform", "seller", "detail"))
    for r in rows:
        table.add_row(
            local_time(r["at"]),
            r["action"],
            Text(r["platform"] or "—"),
            Text(display_name(r["name"]) if r["name"] else "—"),
            Text(describe_detail(r["action"], parse_detail(r["detail"]))),
        )
    return table
