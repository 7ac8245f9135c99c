"""The ``oxylabs`` product source against the Oxylabs emulator, driven without the engine.

Each test builds the source inside ``asyncio.run`` (its aiohttp session belongs to that loop),
always closes it, and checks what went over the wire, what came back and what was counted.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest

from collector_cli import taxonomy
from collector_cli.errors import SourceError, UsageError
from collector_cli.models import Category, ProductPage
from collector_cli.sources.base import SourceContext
from collector_cli.sources.oxylabs import OxylabsBestSellers
from collector_cli.sources.usage import SourceUsage, UsageMeter
from tests.conftest import OXY_PASS, OXY_USER
from tests.emulators.catalogue import Catalogue
from tests.emulators.oxylabs import OxylabsEmulator

HEADPHONES = taxonomy.category("electronics-headphones")
TOYS = taxonomy.category("toys-building-toys")
UNKNOWN = Category("nowhere", "Nowhere", "999999999", "none", "None")

pytestmark = pytest.mark.usefixtures("real_env")


def fetch(
    pages: Iterable[int] = (1,),
    *,
    category: Category = HEADPHONES,
    options: dict[str, Any] | None = None,
    meter: UsageMeter | None = None,
) -> list[ProductPage]:
    """The given Best Sellers pages, one call each, through a fresh source."""

    async def main() -> list[ProductPage]:
        source = OxylabsBestSellers(SourceContext(1, options or {}, meter))
        try:
            return [await source.product_page(category, page) for page in pages]
        finally:
            await source.aclose()

    return asyncio.run(main())


def fetch_error(page: int = 1, **kwargs: Any) -> SourceError:
    with pytest.raises(SourceError) as info:
        fetch((page,), **kwargs)
    return info.value


def usage(meter: UsageMeter) -> SourceUsage:
    return meter.by_source.get("oxylabs", SourceUsage())


def payload(recorded: Any) -> dict[str, Any]:
    return json.loads(recorded.body)


# -- the happy path ------------------------------------------------------------------------------


@pytest.mark.parametrize("category", [HEADPHONES, TOYS], ids=lambda c: c.id)
def test_two_pages_are_the_catalogue_top_100(
    catalogue: Catalogue, oxylabs: OxylabsEmulator, category: Category
) -> None:
    first, second = fetch((1, 2), category=category)
    products = first.products + second.products
    truth = catalogue.bestsellers(category.node_id)
    assert len(first.products) == len(second.products) == 50
    assert [p.key for p in products] == [b.asin for b in truth]
    assert [p.title for p in products] == [b.title for b in truth]
    assert [p.rank for p in products] == list(range(1, 101))
    assert first.has_more is True
    assert second.has_more is False
    assert oxylabs.jobs == 2


def test_prices_and_unknown_prices(catalogue: Catalogue, oxylabs: OxylabsEmulator) -> None:
    first, second = fetch((1, 2))
    truth = {b.asin: b.price for b in catalogue.bestsellers(HEADPHONES.node_id)}
    unknown = [p for p in first.products + second.products if truth[p.key] == 0]
    assert unknown, "the catalogue puts a price of 0 on every ninth best seller"
    assert all(p.price_micros is None for p in unknown)
    for product in first.products + second.products:
        if truth[product.key]:
            assert product.price_micros == int(truth[product.key] * Decimal(1_000_000))


def test_payload_on_the_wire(oxylabs: OxylabsEmulator) -> None:
    fetch((1, 2), category=TOYS)
    assert [r.path for r in oxylabs.requests] == ["/v1/queries", "/v1/queries"]
    for number, recorded in enumerate(oxylabs.requests, 1):
        assert recorded.method == "POST"
        assert payload(recorded) == {
            "source": "amazon_bestsellers",
            "domain": "com",
            "query": TOYS.node_id,
            "start_page": number,
            "pages": 1,
            "parse": True,
            "render": "html",
        }
        scheme, _, token = recorded.headers["Authorization"].partition(" ")
        assert scheme == "Basic"
        assert base64.b64decode(token).decode() == f"{OXY_USER}:{OXY_PASS}"
        assert recorded.headers["Content-Type"].startswith("application/json")


def test_render_none_and_geo_location_options(oxylabs: OxylabsEmulator) -> None:
    fetch(options={"render": "none", "geo_location": "10001", "domain": "com"})
    sent = payload(oxylabs.requests[0])
    assert "render" not in sent
    assert sent["geo_location"] == "10001"


def test_render_required_by_the_server_is_met(oxylabs: OxylabsEmulator) -> None:
    oxylabs.render_required = True
    (page,) = fetch()
    assert len(page.products) == 50


@pytest.mark.parametrize("status", [200, 201])
@pytest.mark.parametrize("include_job", [True, False], ids=["job", "no-job"])
def test_success_status_and_optional_job(
    catalogue: Catalogue, oxylabs: OxylabsEmulator, status: int, include_job: bool
) -> None:
    oxylabs.success_status = status
    oxylabs.include_job = include_job
    (page,) = fetch()
    assert oxylabs.requests[0].status == status
    truth = catalogue.bestsellers(HEADPHONES.node_id)[:50]
    assert [p.key for p in page.products] == [b.asin for b in truth]
    assert page.has_more is True


# -- credentials ---------------------------------------------------------------------------------


def test_wrong_password_is_fatal_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, oxylabs: OxylabsEmulator
) -> None:
    wrong = "wrong-pass-Zq81Lm"
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", wrong)
    meter = UsageMeter()
    error = fetch_error(meter=meter)
    assert error.fatal is True
    assert error.retryable is False
    message = str(error)
    assert "COLLECTOR_OXYLABS_USERNAME" in message
    assert "Client not found" in message  # the server's reason is passed on
    assert wrong not in message and OXY_PASS not in message
    assert oxylabs.requests[0].status == 401
    assert usage(meter).billed_results == 0


def test_missing_credentials_are_a_usage_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch, oxylabs: OxylabsEmulator
) -> None:
    monkeypatch.delenv("COLLECTOR_OXYLABS_PASSWORD")
    with pytest.raises(UsageError, match="COLLECTOR_OXYLABS_PASSWORD"):
        fetch()
    assert oxylabs.requests == []


# -- failures and their retry class --------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["429", "500", "524", "612", "613", "result-613", "malformed-json"]
)
def test_transient_faults_are_retryable(oxylabs: OxylabsEmulator, kind: str) -> None:
    oxylabs.faults.add(kind)
    error = fetch_error()
    assert error.retryable is True
    assert error.fatal is False
    assert oxylabs.requests[0].fault == kind
    # the fault was used up: the same call now succeeds
    (page,) = fetch()
    assert len(page.products) == 50


def test_retry_after_is_carried_on_the_error(oxylabs: OxylabsEmulator) -> None:
    oxylabs.faults.add("429", retry_after="7")
    error = fetch_error()
    assert error.retryable is True
    assert error.retry_after == 7.0
    oxylabs.faults.add("500")
    assert fetch_error().retry_after is None


def test_unknown_node_is_not_retryable(oxylabs: OxylabsEmulator) -> None:
    meter = UsageMeter()
    error = fetch_error(category=UNKNOWN, meter=meter)
    assert error.retryable is False
    assert error.fatal is False
    assert "404" in str(error)
    # Oxylabs bills a result whose target answered 4xx, and so does the meter.
    assert usage(meter).billed_results == 1 == oxylabs.billed_results["amazon_bestsellers"]


def test_partial_parse_12004_is_a_short_success(
    catalogue: Catalogue, oxylabs: OxylabsEmulator
) -> None:
    oxylabs.faults.add("parse-12004")
    (page,) = fetch()
    truth = catalogue.bestsellers(HEADPHONES.node_id)[:25]
    assert [p.key for p in page.products] == [b.asin for b in truth]
    assert page.has_more is True


def test_empty_page_has_no_more(oxylabs: OxylabsEmulator) -> None:
    oxylabs.faults.add("empty")
    (page,) = fetch()
    assert page.products == []
    assert page.has_more is False


def test_timeout_is_retryable_and_quick(oxylabs: OxylabsEmulator) -> None:
    # The server would answer after 60 s: an error at all means the client gave up first.
    oxylabs.faults.add("timeout", delay=60)
    meter = UsageMeter()
    error = fetch_error(options={"timeout": 0.3}, meter=meter)
    assert error.retryable is True
    assert "0.3s" in str(error)
    assert usage(meter).requests == 1
    # The job may still finish and be billed after the client gave up: counted, to be safe.
    assert usage(meter).billed_results == 1


# -- billing -------------------------------------------------------------------------------------


def test_billing_matches_the_emulator(oxylabs: OxylabsEmulator) -> None:
    meter = UsageMeter()
    fetch((1, 2), meter=meter)
    billed = oxylabs.billed_results["amazon_bestsellers"]
    assert billed == 2
    assert usage(meter).billed_results == billed
    assert usage(meter).cost_micros == 2 * 400  # $0.40 per 1,000 results
    assert usage(meter).requests == 2
    assert meter.cost_micros == 800


@pytest.mark.parametrize("kind", ["429", "500", "524", "612", "613", "result-613"])
def test_failed_jobs_are_not_billed(oxylabs: OxylabsEmulator, kind: str) -> None:
    meter = UsageMeter()
    oxylabs.faults.add(kind)
    with pytest.raises(SourceError):
        fetch(meter=meter)
    assert usage(meter).requests == 1
    assert usage(meter).billed_results == 0
    assert usage(meter).cost_micros == 0
    assert oxylabs.billed_results.get("amazon_bestsellers", 0) == 0


def test_custom_price_per_1k(oxylabs: OxylabsEmulator) -> None:
    meter = UsageMeter()
    fetch((1, 2), options={"price_per_1k": 1.5}, meter=meter)
    assert usage(meter).billed_results == 2
    assert usage(meter).cost_micros == 2 * 1500


def test_call_cost_and_plan_follow_the_price() -> None:
    assert OxylabsBestSellers.plan_products({}, 100) == (2, 800)
    assert OxylabsBestSellers.plan_products({}, 30) == (1, 400)
    assert OxylabsBestSellers.plan_products({"price_per_1k": 2}, 500) == (2, 4000)

    async def main() -> int:
        source = OxylabsBestSellers(SourceContext(1, {"price_per_1k": 0.9}))
        try:
            return source.call_cost_micros
        finally:
            await source.aclose()

    assert asyncio.run(main()) == 900
