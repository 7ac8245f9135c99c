"""Seller evidence as rows for insight/: per-seller aggregates, feedback points, one seller's
products, and pruning old evidence.

The figures themselves (median markup, persistence, growth, score) are computed in
``collector_cli.insight`` from what these queries return; here is only SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector_cli.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from collector_cli.store.db import Store


@dataclass(frozen=True, slots=True)
class Scope:
    """Which evidence a figure rests on: one run, runs from one on, a department, a category."""

    run_id: int | None = None
    since_run: int | None = None
    department: str | None = None
    category: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over ``run_products p`` (fixed fragments, values as parameters)."""
        clauses, params = ["p.status = 'done'"], []
        if self.run_id is not None:
            clauses.append("p.run_id = ?")
            params.append(self.run_id)
        if self.since_run is not None:
            clauses.append("p.run_id >= ?")
            params.append(self.since_run)
        if self.department is not None:
            clauses.append("p.department_id = ?")
            params.append(self.department)
        if self.category is not None:
            clauses.append("p.category_id = ?")
            params.append(self.category)
        return " AND ".join(clauses), params


# One row per seller: breadth, runs, and every (lowest listing price ÷ product price) as text,
# for the median and spread that SQLite has no aggregate for.
_SUMMARY = """
SELECT s.id AS seller_id, s.name, s.platform, s.feedback_score, s.feedback_score_approx,
    s.feedback_percent, s.flagged, a.products, a.categories, a.departments, a.listings,
    a.runs_seen, a.first_run, a.last_run, a.markups
FROM (
    SELECT e.seller_id,
        count(DISTINCT p.product_key) AS products,
        count(DISTINCT p.category_id) AS categories,
        count(DISTINCT p.department_id) AS departments,
        sum(e.listings) AS listings,
        count(DISTINCT p.run_id) AS runs_seen,
        min(p.run_id) AS first_run,
        max(p.run_id) AS last_run,
        group_concat(CASE WHEN p.price_micros > 0 AND e.price_min_micros IS NOT NULL
            THEN round(CAST(e.price_min_micros AS REAL) / p.price_micros, 4) END) AS markups
    FROM seller_evidence e JOIN run_products p ON p.id = e.run_product_id
    WHERE {where}
    GROUP BY e.seller_id
    HAVING count(DISTINCT p.product_key) >= ?
) a JOIN sellers s ON s.id = a.seller_id
"""


class EvidenceRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def check_scope(self, scope: Scope) -> None:
        """Unknown runs, departments and categories are errors, not empty answers."""
        for run_id in (scope.run_id, scope.since_run):
            if run_id is not None:
                self.store.runs.get(run_id)
        if scope.department is not None and not self.store.query_one(
            "SELECT 1 FROM run_products WHERE department_id = ? LIMIT 1", (scope.department,)
        ):
            raise NotFoundError(f"no run has searched department {scope.department!r}")
        if scope.category is not None and not self.store.query_one(
            "SELECT 1 FROM run_products WHERE category_id = ? LIMIT 1", (scope.category,)
        ):
            raise NotFoundError(f"no run has searched category {scope.category!r}")

    def summaries(
        self, scope: Scope, min_products: int = 1, seller_id: int | None = None
    ) -> Iterator[sqlite3.Row]:
        where, params = scope.where()
        if seller_id is not None:
            where += " AND e.seller_id = ?"
            params.append(seller_id)
        yield from self.store.conn.execute(_SUMMARY.format(where=where), [*params, min_products])

    def runs_with_evidence(self, scope: Scope) -> list[int]:
        """The runs in scope that recorded evidence: the runs a seller could have been seen in."""
        where, params = scope.where()
        rows = self.store.query(
            f"SELECT DISTINCT p.run_id FROM run_products p WHERE {where} AND EXISTS"
            " (SELECT 1 FROM seller_evidence e WHERE e.run_product_id = p.id) ORDER BY 1",
            tuple(params),
        )
        return [row[0] for row in rows]

    def feedback_points(self, seller_ids: list[int] | None = None) -> Iterator[sqlite3.Row]:
        """(seller_id, recorded_at, feedback_score, approx) in time order per seller."""
        sql = (
            "SELECT seller_id, recorded_at, feedback_score, feedback_score_approx AS approx"
            " FROM seller_feedback WHERE feedback_score IS NOT NULL"
        )
        if seller_ids is None:
            yield from self.store.conn.execute(sql + " ORDER BY seller_id, id")
            return
        for start in range(0, len(seller_ids), 500):
            chunk = seller_ids[start : start + 500]
            yield from self.store.conn.execute(
                sql + f" AND seller_id IN ({','.join('?' * len(chunk))}) ORDER BY seller_id, id",
                chunk,
            )

    def products_of(self, seller_id: int, scope: Scope | None = None) -> list[sqlite3.Row]:
        """One seller's evidence, newest run first: what it listed, at what price."""
        where, params = (scope or Scope()).where()
        return self.store.query(
            "SELECT p.run_id, p.product_key, p.title, p.category_id, p.department_id,"
            " p.price_micros AS product_price_micros, e.listings, e.price_min_micros,"
            " e.price_max_micros, e.example_listing_id, e.example_url"
            " FROM seller_evidence e JOIN run_products p ON p.id = e.run_product_id"
            f" WHERE e.seller_id = ? AND {where} ORDER BY p.run_id DESC, p.category_id, p.rank",
            (seller_id, *params),
        )

    def latest_example_url(self, seller_id: int) -> str | None:
        row = self.store.query_one(
            "SELECT e.example_url FROM seller_evidence e JOIN run_products p"
            " ON p.id = e.run_product_id WHERE e.seller_id = ? AND e.example_url IS NOT NULL"
            " ORDER BY p.run_id DESC LIMIT 1",
            (seller_id,),
        )
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        row = self.store.query_one(
            "SELECT count(*) AS rows, coalesce(sum(listings), 0) AS listings,"
            " count(DISTINCT p.run_id) AS runs FROM seller_evidence e"
            " JOIN run_products p ON p.id = e.run_product_id"
        )
        return dict(row) if row else {"rows": 0, "listings": 0, "runs": 0}

    def prune(self, keep_runs: int) -> dict[str, int]:
        """Drop the evidence of every run but the newest ``keep_runs`` that have some.

        A run still going keeps its evidence whatever its age.
        Sellers' totals (sightings, times seen, first/last run) live in ``sellers`` and
        ``run_sellers`` and are not touched, so they stay exact; only per-product detail of
        old runs goes. Freed pages are reused by later runs; ``vacuum`` gives them back.
        """
        if keep_runs < 0:
            raise UsageError("--keep-runs must be 0 or more")
        with self.store.transaction() as conn:
            runs = [
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT p.run_id FROM seller_evidence e JOIN run_products p"
                    " ON p.id = e.run_product_id ORDER BY 1 DESC"
                )
            ]
            live = {row[0] for row in conn.execute(
                "SELECT id FROM runs WHERE status IN ('running', 'waiting')"
            )}  # fmt: skip
            dropped = [run_id for run_id in runs[keep_runs:] if run_id not in live]
            rows = listings = 0
            for run_id in dropped:
                found = conn.execute(
                    "SELECT count(*), coalesce(sum(listings), 0) FROM seller_evidence"
                    " WHERE run_product_id IN (SELECT id FROM run_products WHERE run_id = ?)",
                    (run_id,),
                ).fetchone()
                rows, listings = rows + found[0], listings + found[1]
                conn.execute(
                    "DELETE FROM seller_evidence WHERE run_product_id IN"
                    " (SELECT id FROM run_products WHERE run_id = ?)",
                    (run_id,),
                )
        page_size = self.store.query_one("PRAGMA page_size")[0]  # type: ignore[index]
        free = self.store.query_one("PRAGMA freelist_count")[0]  # type: ignore[index]
        return {
            "runs_pruned": len(dropped),
            "runs_kept": len(runs) - len(dropped),
            "rows_deleted": rows,
            "listings_deleted": listings,
            "free_bytes": int(free) * int(page_size),
        }

    def vacuum(self) -> dict[str, int]:
        """Give free pages back to the file system (rewrites the file; needs no run active)."""
        before = self.store.path.stat().st_size
        self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.store.conn.execute("VACUUM")
        self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = self.store.path.stat().st_size
        return {"bytes_before": before, "bytes_after": after, "bytes_freed": before - after}

    def category_yield(self, run_id: int) -> list[sqlite3.Row]:
        """Per category of one run: products searched, listings seen and distinct sellers.

        What the report's yield chart shows: which categories repay their searches. A product
        counts once searched (done; failed ones are counted apart). Distinct sellers come from
        the evidence, so a run from before evidence was kept has 0 there.
        """
        return self.store.query(
            "SELECT p.department_id, p.category_id,"
            " sum(p.status = 'done') AS products, sum(p.status = 'failed') AS failed,"
            " coalesce(sum(CASE WHEN p.status = 'done' THEN p.listings_seen END), 0) AS listings,"
            " (SELECT count(DISTINCT e.seller_id) FROM run_products q JOIN seller_evidence e"
            " ON e.run_product_id = q.id WHERE q.run_id = p.run_id"
            " AND q.category_id = p.category_id) AS sellers"
            " FROM run_products p WHERE p.run_id = ?"
            " GROUP BY p.department_id, p.category_id ORDER BY p.department_id, p.category_id",
            (run_id,),
        )
