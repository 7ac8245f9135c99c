"""Rules shared by the real sources that are not about one API: credentials, config values,
countries a route cannot serve, and what an approximate feedback count may overwrite."""

from __future__ import annotations

import asyncio

import pytest

from collector_cli import config
from collector_cli.errors import SourceError, UsageError
from collector_cli.models import Filters, Listing, ListingQuery, Product, ProductOutcome
from collector_cli.sources.base import SourceContext
from collector_cli.sources.oxylabs_ebay import OxylabsEbay
from collector_cli.store.db import open_store
from tests.conftest import OXY_PASS


def test_a_colon_in_the_oxylabs_username_is_a_usage_error(monkeypatch, real_env) -> None:
    monkeypatch.setenv("COLLECTOR_OXYLABS_USERNAME", "team:lead")
    config.load.cache_clear()
    with pytest.raises(UsageError, match="cannot contain ':'"):
        OxylabsEbay.check_credentials()


def test_a_non_latin1_password_is_sent_not_crashed_on(monkeypatch, oxylabs, real_env) -> None:
    """UTF-8 in a password must not end as an internal error that prints the password."""
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", "pass€Secret99")
    config.load.cache_clear()

    async def main() -> SourceError:
        source = OxylabsEbay(SourceContext(1, {"rate": 0}))
        try:
            with pytest.raises(SourceError) as info:
                await source.search(ListingQuery(Product("k", "Headphones", None, 1), Filters(), 1,
                                                 None, None))  # fmt: skip
            return info.value
        finally:
            await source.aclose()

    error = asyncio.run(main())
    assert error.fatal and "rejected the credentials" in str(error)  # the emulator said 401
    assert "pass€Secret99" not in str(error) and OXY_PASS not in str(error)


def test_a_bad_base_url_is_found_with_the_credentials(monkeypatch, real_env) -> None:
    monkeypatch.setenv("COLLECTOR_OXYLABS_URL", "realtime.oxylabs.io")
    config.load.cache_clear()
    with pytest.raises(UsageError, match="COLLECTOR_OXYLABS_URL"):
        OxylabsEbay.check_credentials()


def test_unsupported_country_on_ebay_pages_is_fatal(oxylabs, real_env) -> None:
    filters = Filters(country="FR")

    async def main() -> None:
        source = OxylabsEbay(SourceContext(1, {}))
        try:
            await source.search(ListingQuery(Product("k", "Lamp", None, 1), filters, 1, None, None))
        finally:
            await source.aclose()

    with pytest.raises(SourceError, match="no eBay site for sellers in FR") as info:
        asyncio.run(main())
    assert info.value.fatal
    assert oxylabs.requests == []  # refused before anything was sent (and billed)


@pytest.mark.parametrize(
    ("text", "value"),
    [("02134", "02134"), ("20", 20), ("-3", -3), ("0.5", 0.5), ("true", True), ("1_000", "1_000"),
     ("html", "html"), ("1e3", "1e3")],
)  # fmt: skip
def test_config_values_keep_leading_zeros(text: str, value: object) -> None:
    assert config.parse_value(text) == value
    assert type(config.parse_value(text)) is type(value)


def _listing(score: int, approx: bool) -> Listing:
    return Listing("1", "t", 1, "new", True, "US", "Big Shop", score, approx, 99.0)


def test_an_approximate_score_never_replaces_an_exact_one(db_path) -> None:
    """Browse API (exact 154,843) then a search page (154.8K ≈ 154,800): the exact stays."""
    from collector_cli import taxonomy

    store = open_store(db_path)
    try:
        cat = taxonomy.category("electronics-headphones")
        scores = []
        for exact, approx in ((154_843, False), (154_800, True), (160_000, False)):
            run_id = store.runs.create(
                preset_name="t", snapshot={"name": "t"}, categories=[cat], pid=1,
                pid_started_at=0.0, hostname="h",
            )  # fmt: skip
            (pending,) = store.runs.save_category(run_id, cat, [Product("k", "t", 1, 1)], {})
            outcome = ProductOutcome(pending.row_id, "done", [_listing(exact, approx)], pages=1)
            store.results.commit(run_id, "ebay", [outcome])
            store.runs.finish(run_id, "completed", "ok", 0.0)
            row = store.query_one("SELECT feedback_score, feedback_score_approx FROM sellers")
            scores.append((row[0], row[1]))
        assert scores == [(154_843, 0), (154_843, 0), (160_000, 0)]
    finally:
        store.close()
