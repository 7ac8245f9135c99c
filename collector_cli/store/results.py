"""The hot path: committing finished products with their sellers (DESIGN §3 durability)."""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collector_cli.models import Listing, ProductOutcome
from collector_cli.store.db import utcnow

if TYPE_CHECKING:
    from collector_cli.store.db import Store

# An approximate score (a search page's "154.8K") never replaces an exact one (Browse API).
_UPSERT_SELLER = """
INSERT INTO sellers (platform, name_key, name, feedback_score, feedback_score_approx,
    feedback_percent, sightings, first_run_id, first_seen_at, last_run_id, last_seen_at,
    created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (platform, name_key) DO UPDATE SET
    sightings = sightings + excluded.sightings,
    feedback_score = CASE
        WHEN excluded.feedback_score IS NULL THEN feedback_score
        WHEN excluded.feedback_score_approx AND NOT feedback_score_approx
            AND feedback_score IS NOT NULL THEN feedback_score
        ELSE excluded.feedback_score END,
    feedback_score_approx = CASE
        WHEN excluded.feedback_score IS NULL THEN feedback_score_approx
        WHEN excluded.feedback_score_approx AND NOT feedback_score_approx
            AND feedback_score IS NOT NULL THEN feedback_score_approx
        ELSE excluded.feedback_score_approx END,
    feedback_percent = coalesce(excluded.feedback_percent, feedback_percent),
    first_run_id = coalesce(first_run_id, excluded.first_run_id),
    first_seen_at = coalesce(first_seen_at, excluded.first_seen_at),
    last_seen_at = CASE WHEN excluded.last_run_id >= coalesce(last_run_id, 0)
        THEN excluded.last_seen_at ELSE last_seen_at END,
    last_run_id = max(coalesce(last_run_id, 0), excluded.last_run_id)
"""

# Plain INSERT: a product is committed once (done products are dropped before), so a
# conflict here would be a bug worth failing on rather than a duplicate to hide.
_INSERT_EVIDENCE = """
INSERT INTO seller_evidence (run_product_id, seller_id, listings, price_min_micros,
    price_max_micros, example_listing_id, example_url)
SELECT ?, id, ?, ?, ?, ?, ? FROM sellers WHERE platform = ? AND name_key = ?
"""

# INSERT … SELECT needs its WHERE clause so SQLite can tell ON CONFLICT from a join.
_UPSERT_RUN_SELLER = """
INSERT INTO run_sellers (run_id, seller_id, sightings, is_new)
SELECT ?, id, ?, coalesce(first_run_id = ?, 0) FROM sellers WHERE platform = ? AND name_key = ?
ON CONFLICT (run_id, seller_id) DO UPDATE SET sightings = sightings + excluded.sightings
"""


def name_key(name: str) -> str:
    """The identity of a seller name: NFKC, casefolded, trimmed, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass(slots=True)
class _SellerSighting:
    name: str
    sightings: int
    last: Listing


@dataclass(slots=True)
class _Evidence:
    """One seller's listings for one product: count, price range, the cheapest as example."""

    listings: int
    low: int | None
    high: int | None
    example: Listing

    def add(self, listing: Listing) -> None:
        self.listings += 1
        price = listing.price_micros if listing.price_micros > 0 else None
        if price is None:
            return
        if self.low is None or price < self.low:
            self.low, self.example = price, listing
        if self.high is None or price > self.high:
            self.high = price

    @classmethod
    def first(cls, listing: Listing) -> _Evidence:
        price = listing.price_micros if listing.price_micros > 0 else None
        return cls(1, price, price, listing)


class ResultRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def commit(self, run_id: int, platform: str, outcomes: list[ProductOutcome]) -> None:
        """Commit a group of finished products in one transaction.

        Each product's sellers, run_sellers rows, counters and its done/failed mark land
        together; grouping several products per transaction never splits one.
        """
        now = utcnow()
        with self.store.transaction() as conn:
            outcomes = self._not_done(conn, outcomes)
            sellers, evidence, product_rows, failed_rows = _aggregate(outcomes, now)
            conn.executemany(
                _UPSERT_SELLER,
                [
                    (
                        platform,
                        key,
                        s.name,
                        s.last.feedback_score,
                        int(s.last.feedback_score_approx),
                        s.last.feedback_percent,
                        s.sightings,
                        run_id,
                        now,
                        run_id,
                        now,
                        now,
                    )
                    for key, s in sellers.items()
                ],
            )
            conn.executemany(
                _UPSERT_RUN_SELLER,
                [(run_id, s.sightings, run_id, platform, key) for key, s in sellers.items()],
            )
            conn.executemany(
                _INSERT_EVIDENCE,
                [
                    (
                        row_id,
                        e.listings,
                        e.low,
                        e.high,
                        e.example.listing_id or None,
                        e.example.url,
                        platform,
                        key,
                    )
                    for (row_id, key), e in evidence.items()
                ],
            )
            conn.executemany(
                "UPDATE run_products SET status = 'done', listings_seen = ?, sellers_seen = ?,"
                " pages = ?, attempts = attempts + 1, error = NULL, updated_at = ?"
                " WHERE id = ? AND status IN ('pending', 'failed')",
                product_rows,
            )
            conn.executemany(
                "UPDATE run_products SET status = 'failed', error = ?, updated_at = ?,"
                " pages = ?, attempts = attempts + 1 WHERE id = ?",
                failed_rows,
            )
            for error, _, _, row_id in failed_rows:
                self.store.events.add(
                    run_id, "error", "product_failed", str(error), {"run_product_id": row_id}
                )
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (now, run_id))

    @staticmethod
    def _not_done(conn: sqlite3.Connection, outcomes: list[ProductOutcome]) -> list[ProductOutcome]:
        """Drop outcomes of products already done, so committing twice never counts twice."""
        ids = [o.row_id for o in outcomes]
        done: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            done.update(
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM run_products WHERE status = 'done'"
                    f" AND id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return [o for o in outcomes if o.row_id not in done] if done else outcomes

    def add_usage(self, run_id: int, usage: dict[str, dict[str, int]]) -> None:
        """Add what each source spent since the last call; triggers update the run's totals."""
        if not usage:
            return
        columns = ("requests", "retries", "failures", "billed_results", "cost_micros",
                   "quota_calls")  # fmt: skip
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO run_usage (run_id, source, requests, retries, failures,"
                " billed_results, cost_micros, quota_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, source) DO UPDATE SET"
                " requests = requests + excluded.requests,"
                " retries = retries + excluded.retries,"
                " failures = failures + excluded.failures,"
                " billed_results = billed_results + excluded.billed_results,"
                " cost_micros = cost_micros + excluded.cost_micros,"
                " quota_calls = quota_calls + excluded.quota_calls",
                [
                    (run_id, source, *(int(counts.get(c, 0)) for c in columns))
                    for source, counts in usage.items()
                ],
            )

    def usage(self, run_id: int) -> list[dict[str, object]]:
        return [
            dict(row)
            for row in self.store.query(
                "SELECT source, requests, retries, failures, billed_results, cost_micros,"
                " quota_calls FROM run_usage WHERE run_id = ? ORDER BY source",
                (run_id,),
            )
        ]

    def counters(self, run_id: int) -> dict[str, int]:
        row = self.store.query_one(
            "SELECT products_total, products_done, products_failed, products_skipped,"
            " listings_seen, sellers_found, sellers_new, errors, requests, retries,"
            " request_failures, billed_results, cost_micros, quota_calls,"
            " categories_total, categories_done, categories_failed, attempts"
            " FROM runs WHERE id = ?",
            (run_id,),
        )
        return dict(row) if row else {}


def _aggregate(
    outcomes: list[ProductOutcome], now: str
) -> tuple[dict[str, _SellerSighting], dict[tuple[int, str], _Evidence], list[tuple], list[tuple]]:
    """Sum sightings per normalized seller name across the batch, and per (product, seller).

    A listing without a usable seller name is not a sighting, and is not counted as a listing
    seen either, so listings_seen always equals the sum of sightings (and of evidence listings).
    """
    sellers: dict[str, _SellerSighting] = {}
    evidence: dict[tuple[int, str], _Evidence] = {}
    product_rows = []
    failed_rows = []
    for outcome in outcomes:
        if outcome.status != "done":
            failed_rows.append((outcome.error, now, outcome.pages, outcome.row_id))
            continue
        product_sellers: set[str] = set()
        listings = 0
        for listing in outcome.listings:
            key = name_key(listing.seller_name)
            if not key:
                continue
            listings += 1
            product_sellers.add(key)
            seen = sellers.get(key)
            if seen is None:
                sellers[key] = _SellerSighting(listing.seller_name, 1, listing)
            else:
                seen.sightings += 1
                seen.last = listing
            found = evidence.get((outcome.row_id, key))
            if found is None:
                evidence[(outcome.row_id, key)] = _Evidence.first(listing)
            else:
                found.add(listing)
        product_rows.append((listings, len(product_sellers), outcome.pages, now, outcome.row_id))
    return sellers, evidence, product_rows, failed_rows
