"""Sellers as the user sees them: listing, lookup, manual changes and their audit log.

Identity is (platform, name_key) where name_key is ``results.name_key(name)``; every lookup
normalizes what the user typed the same way, so "MÜLLER  handels" finds "Müller Handels".

Manual changes (add, remove, flag, unflag) are all-or-nothing per call: every name is resolved
first, then the changes and one ``seller_audit`` row per changed seller land in one transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collector_cli.errors import NotFoundError, UsageError
from collector_cli.store.db import utcnow
from collector_cli.store.results import name_key

if TYPE_CHECKING:
    from collector_cli.store.db import Store

DEFAULT_PLATFORM = "ebay"  # the marketplace the real listing sources (ebay, oxylabs) search
MAX_NAME_LENGTH = 200
ORDERS = ("sightings", "feedback", "name", "last-seen")
AUDIT_ACTIONS = ("add", "remove", "flag", "unflag", "export_mark")
_PLATFORM_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# A flagged seller's note: the one given with its latest flag (seller_audit, indexed by seller).
_FLAG_NOTE = (
    "CASE WHEN s.flagged THEN (SELECT json_extract(a.detail, '$.note') FROM seller_audit a"
    " WHERE a.seller_id = s.id AND a.action = 'flag' ORDER BY a.id DESC LIMIT 1) END AS flag_note"
)

# Fixed fragments only; values always travel as parameters.
_ORDER_SQL = {
    "sightings": "s.sightings DESC, s.times_seen DESC, s.name_key, s.id",
    "feedback": "s.feedback_score IS NULL, s.feedback_score DESC, s.feedback_percent DESC,"
    " s.name_key, s.id",
    "name": "s.name_key, s.platform, s.id",
    "last-seen": "s.last_seen_at IS NULL, s.last_seen_at DESC, s.sightings DESC, s.id",
}


@dataclass(slots=True)
class SellerFilter:
    """What `sellers list` / `sellers search` select. ``limit`` None means no limit."""

    platform: str | None = None
    flagged: bool | None = None
    exported: bool | None = None
    origin: str | None = None
    new_in: int | None = None
    seen_in: int | None = None
    min_feedback: int | None = None
    min_times_seen: int | None = None
    contains: str | None = None
    order: str = "sightings"
    limit: int | None = 50


@dataclass(slots=True)
class ChangeResult:
    """What a manual change did: the sellers changed and those left alone (with why)."""

    action: str
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)


# Characters that reorder the text around them (bidi embeddings, overrides and isolates): a
# name holding one shows differently from what it is, in every table and export.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def validate_name(raw: str) -> str:
    """The display name to store for ``raw``: outer whitespace trimmed, otherwise as typed."""
    name = raw.strip()
    visible = [ch for ch in name_key(name) if unicodedata.category(ch) not in ("Cf", "Zs")]
    if not visible:
        raise UsageError(f"invalid seller name {raw!r}: it is empty or invisible")
    bidi = next((ch for ch in name if ch in _BIDI_CONTROLS), None)
    if bidi is not None:
        raise UsageError(
            f"invalid seller name {name!r}: the direction control U+{ord(bidi):04X} is not allowed"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(
            f"invalid seller name {name[:40] + '…'!r}: longer than {MAX_NAME_LENGTH} characters"
        )
    for ch in name:
        if ch != "\t" and unicodedata.category(ch) == "Cc":
            raise UsageError(
                f"invalid seller name {name!r}: control character U+{ord(ch):04X} is not allowed"
            )
    return name


def validate_platform(raw: str) -> str:
    platform = raw.strip().lower()
    if not _PLATFORM_RE.fullmatch(platform):
        raise UsageError(
            f"invalid platform {raw!r}: use a-z, 0-9, '_' and '-' (up to 32 characters)"
        )
    return platform


def query_key(text: str, what: str = "seller name") -> str:
    key = name_key(text)
    if not key:
        raise UsageError(f"invalid {what} {text!r}: it is empty")
    return key


class SellerRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading -----------------------------------------------------------------------------

    def _where(self, f: SellerFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if f.platform is not None:
            clauses.append("s.platform = ?")
            params.append(f.platform)
        if f.flagged is not None:
            clauses.append("s.flagged = ?")
            params.append(int(f.flagged))
        if f.exported is not None:
            clauses.append("s.exported_at IS NOT NULL" if f.exported else "s.exported_at IS NULL")
        if f.origin is not None:
            clauses.append("s.origin = ?")
            params.append(f.origin)
        if f.new_in is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM run_sellers rs WHERE rs.seller_id = s.id"
                " AND rs.run_id = ? AND rs.is_new = 1)"
            )
            params.append(f.new_in)
        if f.seen_in is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM run_sellers rs WHERE rs.seller_id = s.id AND rs.run_id = ?)"
            )
            params.append(f.seen_in)
        if f.min_feedback is not None:
            clauses.append("s.feedback_score >= ?")
            params.append(f.min_feedback)
        if f.min_times_seen is not None:
            clauses.append("s.times_seen >= ?")
            params.append(f.min_times_seen)
        if f.contains is not None:
            # instr, not LIKE: '%' and '_' in a seller name are plain characters.
            clauses.append("instr(s.name_key, ?) > 0")
            params.append(f.contains)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _check_runs(self, f: SellerFilter) -> None:
        for run_id in (f.new_in, f.seen_in):
            if run_id is not None:
                self.store.runs.get(run_id)  # NotFoundError for an unknown run

    def list(self, f: SellerFilter) -> tuple[list[sqlite3.Row], int]:
        """The selected sellers (up to ``f.limit``) and how many match in all."""
        if f.order not in ORDERS:
            raise UsageError(f"invalid order {f.order!r}: use one of {', '.join(ORDERS)}")
        self._check_runs(f)
        where, params = self._where(f)
        total = self.store.query_one(f"SELECT count(*) FROM sellers s{where}", tuple(params))[0]
        order = _ORDER_SQL[f.order]
        if f.contains is not None:
            # Searching: an exact match first, then names that start with the text.
            order = "s.name_key = ? DESC, substr(s.name_key, 1, ?) = ? DESC, " + order
            params += [f.contains, len(f.contains), f.contains]
        sql = f"SELECT s.*, {_FLAG_NOTE} FROM sellers s{where} ORDER BY {order}"
        if f.limit is not None:
            sql += " LIMIT ?"
            params.append(f.limit)
        return self.store.query(sql, tuple(params)), total

    def find(self, name: str, platform: str | None = None) -> list[sqlite3.Row]:
        """Every seller whose normalized name equals ``name``'s (one per platform at most)."""
        key = query_key(name)
        if platform is not None:
            return self.store.query(
                f"SELECT s.*, {_FLAG_NOTE} FROM sellers s WHERE s.platform = ? AND s.name_key = ?",
                (platform, key),
            )
        return self.store.query(
            f"SELECT s.*, {_FLAG_NOTE} FROM sellers s WHERE s.name_key = ? ORDER BY s.platform",
            (key,),
        )

    def get(self, name: str, platform: str | None = None) -> sqlite3.Row:
        """One seller by name; unknown → NotFoundError, on several platforms → UsageError."""
        found = self.find(name, platform)
        if not found:
            where = f" on platform {platform!r}" if platform is not None else ""
            raise NotFoundError(f"no seller named {name!r}{where} (see `collector sellers search`)")
        if len(found) > 1:
            platforms = ", ".join(r["platform"] for r in found)
            raise UsageError(
                f"seller {name!r} exists on several platforms ({platforms}): "
                "choose one with --platform"
            )
        return found[0]

    def runs_of(self, seller_id: int) -> list[sqlite3.Row]:
        """The runs that saw a seller, newest first, with the run's preset and start time."""
        return self.store.query(
            "SELECT rs.run_id, rs.sightings, rs.is_new, r.preset_name, r.started_at, r.status"
            " FROM run_sellers rs JOIN runs r ON r.id = rs.run_id"
            " WHERE rs.seller_id = ? ORDER BY rs.run_id DESC",
            (seller_id,),
        )

    def feedback_history(self, seller_id: int) -> list[sqlite3.Row]:
        """Feedback numbers each time they changed, oldest first."""
        return self.store.query(
            "SELECT recorded_at, run_id, feedback_score, feedback_score_approx, feedback_percent"
            " FROM seller_feedback WHERE seller_id = ? ORDER BY id",
            (seller_id,),
        )

    def in_run(self, run_id: int, *, new_only: bool = False) -> list[sqlite3.Row]:
        """Sellers a run saw (or only those new in it), most sightings in that run first."""
        self.store.runs.get(run_id)
        return self.store.query(
            "SELECT s.*, rs.sightings AS run_sightings, rs.is_new"
            " FROM run_sellers rs JOIN sellers s ON s.id = rs.seller_id"
            " WHERE rs.run_id = ?"
            + (" AND rs.is_new = 1" if new_only else "")
            + " ORDER BY rs.sightings DESC, s.name_key, s.id",
            (run_id,),
        )

    def audit_log(self, *, limit: int | None = 50, action: str | None = None) -> list[sqlite3.Row]:
        """The audit log, newest first."""
        if action is not None and action not in AUDIT_ACTIONS:
            raise UsageError(f"invalid action {action!r}: use one of {', '.join(AUDIT_ACTIONS)}")
        sql = "SELECT * FROM seller_audit"
        params: list[Any] = []
        if action is not None:
            sql += " WHERE action = ?"
            params.append(action)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self.store.query(sql, tuple(params))

    # -- manual changes ----------------------------------------------------------------------

    def add(
        self, names: Iterable[str], platform: str = DEFAULT_PLATFORM, *, note: str | None = None
    ) -> ChangeResult:
        """Add sellers by hand (origin 'manual'). Known names are left alone and reported.

        Every name is validated before anything is written, so one bad name adds nothing.
        """
        platform = validate_platform(platform)
        cleaned = [validate_name(n) for n in names]
        if not cleaned:
            raise UsageError(
                "no seller names given: pass NAME... or pipe names on stdin, one per line"
            )
        result = ChangeResult("add")
        detail = _detail(note=note)
        now = utcnow()
        with self.store.transaction() as conn:
            seen: dict[str, str] = {}
            for name in cleaned:
                key = name_key(name)
                if key in seen:
                    result.unchanged.append(
                        {"name": name, "platform": platform, "reason": "repeated in the input"}
                    )
                    continue
                seen[key] = name
                row = conn.execute(
                    "SELECT * FROM sellers WHERE platform = ? AND name_key = ?", (platform, key)
                ).fetchone()
                if row is not None:
                    known = "already known"
                    if row["name"] != name:
                        known += f" as {row['name']!r}"
                    result.unchanged.append(_brief(row) | {"reason": known})
                    continue
                cur = conn.execute(
                    "INSERT INTO sellers (platform, name_key, name, origin, created_at)"
                    " VALUES (?, ?, ?, 'manual', ?)",
                    (platform, key, name, now),
                )
                seller_id = int(cur.lastrowid or 0)
                self._audit(conn, now, "add", seller_id, platform, name, detail)
                result.changed.append({"id": seller_id, "name": name, "platform": platform})
        return result

    def remove(
        self,
        names: Iterable[str],
        platform: str | None = None,
        *,
        force: bool = False,
        note: str | None = None,
    ) -> ChangeResult:
        """Delete sellers. Sellers that runs have seen need ``force``.

        A forced removal also deletes the seller's run_sellers rows and feedback history and
        takes it out of each run's sellers_found / sellers_new, so the run counters keep
        equalling their rows. listings_seen is left alone: those listings were seen.
        """
        result = ChangeResult("remove")
        now = utcnow()
        with self.store.transaction() as conn:
            rows = self._resolve(names, platform)
            seen = [r for r in rows if r["times_seen"] > 0]
            if seen and not force:
                r = seen[0]
                more = f" (and {len(seen) - 1} more)" if len(seen) > 1 else ""
                raise UsageError(
                    f"seller {r['name']!r} ({r['platform']}) was seen by {r['times_seen']} "
                    f"run{'s' if r['times_seen'] != 1 else ''}{more}; removing it rewrites "
                    "those runs' seller counts: pass --force to remove it anyway"
                )
            for row in rows:
                runs = conn.execute(
                    "SELECT run_id, is_new FROM run_sellers WHERE seller_id = ?", (row["id"],)
                ).fetchall()
                conn.executemany(
                    "UPDATE runs SET sellers_found = sellers_found - 1,"
                    " sellers_new = sellers_new - ? WHERE id = ?",
                    [(r["is_new"], r["run_id"]) for r in runs],
                )
                conn.execute("DELETE FROM sellers WHERE id = ?", (row["id"],))
                detail = _detail(
                    note=note,
                    origin=row["origin"],
                    forced=True if runs else None,
                    runs=[r["run_id"] for r in runs] or None,
                    sightings=row["sightings"] or None,
                )
                self._audit(conn, now, "remove", row["id"], row["platform"], row["name"], detail)
                result.changed.append(_brief(row))
        return result

    def set_flag(
        self, names: Iterable[str], flagged: bool, platform: str | None = None, *, note: str | None
    ) -> ChangeResult:
        """Flag or unflag sellers. Idempotent: a seller already so is reported, not audited."""
        action = "flag" if flagged else "unflag"
        result = ChangeResult(action)
        detail = _detail(note=note)
        now = utcnow()
        with self.store.transaction() as conn:
            for row in self._resolve(names, platform):
                if bool(row["flagged"]) == flagged:
                    result.unchanged.append(_brief(row) | {"reason": f"already {action}ged"})
                    continue
                conn.execute(
                    "UPDATE sellers SET flagged = ? WHERE id = ?", (int(flagged), row["id"])
                )
                self._audit(conn, now, action, row["id"], row["platform"], row["name"], detail)
                result.changed.append(_brief(row))
        return result

    def _resolve(self, names: Iterable[str], platform: str | None) -> list[sqlite3.Row]:
        """Every name to one seller, in order, each seller once; any failure before writing."""
        if platform is not None:
            platform = validate_platform(platform)
        rows: dict[int, sqlite3.Row] = {}
        for name in names:
            row = self.get(name, platform)
            rows.setdefault(row["id"], row)
        if not rows:
            raise UsageError("no seller names given")
        return list(rows.values())

    @staticmethod
    def _audit(
        conn: sqlite3.Connection,
        at: str,
        action: str,
        seller_id: int | None,
        platform: str | None,
        name: str,
        detail: str | None,
    ) -> None:
        conn.execute(
            "INSERT INTO seller_audit (at, action, seller_id, platform, name, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (at, action, seller_id, platform, name, detail),
        )


def _brief(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "platform": row["platform"]}


def _detail(**items: Any) -> str | None:
    kept = {k: v for k, v in items.items() if v is not None and v != ""}
    return json.dumps(kept, ensure_ascii=False) if kept else None
