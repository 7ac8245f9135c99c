"""The ``ebay`` listing source (Buy Browse API) against the eBay emulator, without the engine.

Ground truth is ``Catalogue.search`` with the filters a correct client sends, so every listing,
seller and feedback value the adapter returns is compared with the data the server holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from collector_cli.errors import SourceError, UsageError
from collector_cli.models import Filters, Listing, ListingPage, ListingQuery, Product
from collector_cli.sources.base import SourceContext
from collector_cli.sources.ebay import EbayBrowse
from collector_cli.sources.usage import SourceUsage, UsageMeter
from tests.conftest import EBAY_ID, EBAY_SECRET
from tests.emulators.catalogue import (
    NEW,
    BestSeller,
    Catalogue,
    Offer,
    SearchFilters,
    cut_query,
    price_band,
)
from tests.emulators.ebay import SEARCH_PATH, TOKEN_PATH, EbayEmulator

pytestmark = pytest.mark.usefixtures("real_env")

T = TypeVar("T")
DEFAULT = Filters()  # new, free shipping, domestic US, 0.8-1.2 of the price
ANYTHING = Filters(condition="any", free_shipping=False, domestic_only=False)
UNLIMITED = {"rate": 0}  # no client-side rate limit: concurrency tests need not wait


def run(work: Callable[[EbayBrowse], Awaitable[T]], *, options: dict[str, Any] | None = None,
        meter: UsageMeter | None = None) -> T:  # fmt: skip
    """``work(source)`` on a fresh source made inside the loop, closed afterwards."""

    async def main() -> T:
        source = EbayBrowse(SourceContext(1, options or {}, meter))
        try:
            return await work(source)
        finally:
            await source.aclose()

    return asyncio.run(main())


def search(query: ListingQuery, **kwargs: Any) -> ListingPage:
    return run(lambda source: source.search(query), **kwargs)


def search_error(query: ListingQuery, **kwargs: Any) -> SourceError:
    with pytest.raises(SourceError) as info:
        search(query, **kwargs)
    return info.value


def product(item: BestSeller) -> Product:
    micros = int(item.price * 1_000_000) or None
    return Product(item.asin, item.title, micros, item.pos)


def query(item: Product, page: int = 1, filters: Filters = DEFAULT) -> ListingQuery:
    """The query the engine builds: the band is the price times the ratios, in micros."""
    price = item.price_micros
    low = round(price * filters.price_min_ratio) if price else None
    high = round(price * filters.price_max_ratio) if price else None
    return ListingQuery(item, filters, page, low, high)


def truth(catalogue: Catalogue, item: BestSeller) -> list[Offer]:
    """What a correct client finds for ``item`` under DEFAULT, in the marketplace's order."""
    low, high = price_band(item.price, 0.8, 1.2)
    filters = SearchFilters(frozenset({NEW}), True, "US", low, high)
    return catalogue.search(cut_query(item.title), filters)


def priced(catalogue: Catalogue, node: str, count: int, at_least: int = 1) -> list[BestSeller]:
    """The first ``count`` best sellers with a price and at least ``at_least`` hits."""
    found = [b for b in catalogue.bestsellers(node) if b.price]
    return [b for b in found if len(truth(catalogue, b)) >= at_least][:count]


def usage(meter: UsageMeter) -> SourceUsage:
    return meter.by_source.get("ebay", SourceUsage())


def searches(ebay: EbayEmulator) -> list[Any]:
    return [r for r in ebay.requests if r.path == SEARCH_PATH]


def assert_listing(listing: Listing, offer: Offer) -> None:
    assert listing.listing_id == offer.item_id
    assert listing.seller_name == offer.seller
    assert listing.feedback_score == offer.feedback_score
    assert listing.feedback_score_approx is False
    assert isinstance(listing.feedback_percent, float)
    assert listing.feedback_percent == float(offer.feedback_percent)
    assert listing.price_micros == int(offer.price * Decimal(1_000_000))
    assert listing.title == offer.title[:80]


# -- the happy path ------------------------------------------------------------------------------


def test_pages_equal_the_ground_truth(catalogue: Catalogue, ebay: EbayEmulator) -> None:
    page_size = 3
    items = priced(catalogue, catalogue.nodes[0], 4, at_least=4)
    assert len(items) == 4
    meter = UsageMeter()

    async def work(source: EbayBrowse) -> dict[str, list[ListingPage]]:
        result: dict[str, list[ListingPage]] = {}
        for item in items:
            pages = result.setdefault(item.asin, [])
            for number in range(1, 20):
                page = await source.search(query(product(item), number))
                pages.append(page)
                if not page.has_more:
                    break
        return result

    result = run(work, options={"page_size": page_size}, meter=meter)
    calls = 0
    for item in items:
        expected = truth(catalogue, item)
        pages = result[item.asin]
        calls += len(pages)
        assert len(pages) == -(-len(expected) // page_size)
        for number, page in enumerate(pages, 1):
            chunk = expected[(number - 1) * page_size : number * page_size]
            assert len(page.listings) == len(chunk)
            for listing, offer in zip(page.listings, chunk, strict=True):
                assert_listing(listing, offer)
                assert listing.condition == "new"
                assert listing.free_shipping is True
                assert listing.country == "US"
            assert page.total == len(expected)
            assert page.has_more is (number < len(pages))
    assert usage(meter).quota_calls == calls == ebay.search_calls
    assert usage(meter).requests == calls + 1  # plus the one token request
    assert usage(meter).cost_micros == 0


def test_percent_100_and_exact_big_scores(catalogue: Catalogue, ebay: EbayEmulator) -> None:
    """Scores in the millions are exact here (only search pages abbreviate them)."""
    item = Product("X1", "Headphones", None, 1)
    page = search(query(item, filters=ANYTHING), options={"page_size": 200})
    offers = catalogue.search("Headphones", SearchFilters(None, False, None))[:200]
    assert len(page.listings) == 200
    for listing, offer in zip(page.listings, offers, strict=True):
        assert_listing(listing, offer)
    assert any(listing.feedback_score >= 1_000_000 for listing in page.listings)
    assert any(listing.feedback_percent == 100.0 for listing in page.listings)
    assert page.has_more is True


# -- the request on the wire ---------------------------------------------------------------------


def test_query_parameters_and_headers(catalogue: Catalogue, ebay: EbayEmulator) -> None:
    item = next(b for b in catalogue.bestsellers(catalogue.nodes[0]) if b.price and
                len(b.title) > 100)  # fmt: skip
    wanted = query(product(item), page=3)
    search(wanted, options={"page_size": 7})
    (recorded,) = searches(ebay)
    q = recorded.param("q")
    assert q == cut_query(item.title)
    assert len(q) <= 100 and item.title.startswith(q) and item.title[len(q)] == " "
    low, high = price_band(item.price, 0.8, 1.2)
    assert recorded.param("filter") == (
        f"conditionIds:{{1000}},price:[{low}..{high}],priceCurrency:USD,"
        "itemLocationCountry:US,maxDeliveryCost:0,deliveryCountry:US"
    )
    assert recorded.param("limit") == "7"
    assert recorded.param("offset") == "14"
    assert int(recorded.param("offset")) % int(recorded.param("limit")) == 0
    assert recorded.headers["X-EBAY-C-MARKETPLACE-ID"] == "EBAY_US"
    scheme, _, token = recorded.headers["Authorization"].partition(" ")
    assert scheme == "Bearer" and token in ebay.issued_tokens
    assert recorded.status == 200


def test_band_edges_are_rounded_outwards(ebay: EbayEmulator) -> None:
    item = Product("X2", "Headphones", 12_345_678, 1)  # $12.345678
    search(query(item))
    text = searches(ebay)[0].param("filter") or ""
    # 9.8765424 → 9.87 (down), 14.8148136 → 14.82 (up)
    assert "price:[9.87..14.82]" in text


@pytest.mark.parametrize(
    ("filters", "band", "expected"),
    [
        (Filters(condition="any"), False,
         "itemLocationCountry:US,maxDeliveryCost:0,deliveryCountry:US"),
        (Filters(domestic_only=False), False,
         "conditionIds:{1000},maxDeliveryCost:0,deliveryCountry:US"),
        (Filters(free_shipping=False), False, "conditionIds:{1000},itemLocationCountry:US"),
        (Filters(condition="used", free_shipping=False, domestic_only=False), True,
         "conditionIds:{3000|4000|5000|6000},price:[8.00..12.00],priceCurrency:USD"),
        (ANYTHING, False, None),
    ],
    ids=["any-condition", "not-domestic", "no-free-shipping", "used-band-only", "nothing"],
)  # fmt: skip
def test_optional_filters_are_omitted(
    ebay: EbayEmulator, filters: Filters, band: bool, expected: str | None
) -> None:
    item = Product("X3", "Headphones", 10_000_000 if band else None, 1)
    search(query(item, filters=filters))
    (recorded,) = searches(ebay)
    assert recorded.param("filter") == expected
    assert recorded.param("q") == "Headphones"


def test_unfiltered_search_equals_the_unfiltered_truth(
    catalogue: Catalogue, ebay: EbayEmulator
) -> None:
    item = catalogue.bestsellers(catalogue.nodes[1])[0]
    page = search(query(Product(item.asin, item.title, None, 1), filters=ANYTHING),
                  options={"page_size": 200})  # fmt: skip
    offers = catalogue.search(cut_query(item.title), SearchFilters(None, False, None))
    assert [x.listing_id for x in page.listings] == [o.item_id for o in offers[:200]]
    conditions = {x.condition for x in page.listings}
    assert len(conditions) > 1 and "new" in conditions  # eBay's labels, lower-cased
    assert {x.free_shipping for x in page.listings} == {True, False}


# -- the access token ----------------------------------------------------------------------------


def test_one_token_for_concurrent_searches(catalogue: Catalogue, ebay: EbayEmulator) -> None:
    items = [b for b in catalogue.bestsellers(catalogue.nodes[0]) if b.price][:20]
    meter = UsageMeter()

    async def work(source: EbayBrowse) -> list[ListingPage]:
        return await asyncio.gather(*(source.search(query(product(b))) for b in items))

    pages = run(work, options=UNLIMITED, meter=meter)
    assert len(pages) == 20
    assert ebay.token_calls == 1
    assert ebay.count(TOKEN_PATH) == 1
    assert ebay.search_calls == 20
    assert all(r.status == 200 for r in searches(ebay))
    assert usage(meter).requests == 21
    assert usage(meter).quota_calls == 20
    for item, page in zip(items, pages, strict=True):
        assert [x.listing_id for x in page.listings] == [
            o.item_id for o in truth(catalogue, item)[:50]
        ]


def test_token_request_on_the_wire(ebay: EbayEmulator) -> None:
    search(query(Product("X4", "Headphones", None, 1)))
    token_request = ebay.requests[0]
    assert token_request.path == TOKEN_PATH and token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = token_request.body.decode()
    assert "grant_type=client_credentials" in body
    assert "scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope" in body
    assert token_request.headers["Authorization"].startswith("Basic ")


def test_revoked_token_is_renewed_once(catalogue: Catalogue, ebay: EbayEmulator) -> None:
    item = priced(catalogue, catalogue.nodes[0], 1)[0]
    ebay.faults.add("revoke-token")
    meter = UsageMeter()
    page = search(query(product(item)), meter=meter)
    assert [x.listing_id for x in page.listings] == [o.item_id for o in truth(catalogue, item)]
    assert ebay.token_calls == 2
    assert [r.status for r in searches(ebay)] == [401, 200]
    first, second = (r.headers["Authorization"] for r in searches(ebay))
    assert first != second
    assert usage(meter).retries == 1
    assert usage(meter).quota_calls == 2 == ebay.quota_used
    assert usage(meter).requests == 4


def test_revoked_token_under_concurrency_is_renewed_once(
    catalogue: Catalogue, ebay: EbayEmulator
) -> None:
    """Searches in flight with the revoked token all switch to the one fresh token."""
    items = [b for b in catalogue.bestsellers(catalogue.nodes[1]) if b.price][:12]
    meter = UsageMeter()

    async def work(source: EbayBrowse) -> list[ListingPage]:
        await source.search(query(product(items[0])))  # mint the first token
        ebay.faults.add("revoke-token")
        return await asyncio.gather(*(source.search(query(product(b))) for b in items))

    pages = run(work, options=UNLIMITED, meter=meter)
    assert ebay.token_calls == 2
    rejected = sum(1 for r in searches(ebay) if r.status == 401)
    assert rejected >= 1
    assert usage(meter).retries == rejected
    for item, page in zip(items, pages, strict=True):
        assert [x.listing_id for x in page.listings] == [
            o.item_id for o in truth(catalogue, item)[:50]
        ]


def test_two_401s_in_a_row_are_fatal(ebay: EbayEmulator) -> None:
    ebay.faults.add("revoke-token", times=2)
    error = search_error(query(Product("X5", "Headphones", None, 1)))
    assert error.fatal is True and error.retryable is False
    assert "COLLECTOR_EBAY_CLIENT_ID" in str(error)
    assert ebay.token_calls == 2
    assert [r.status for r in searches(ebay)] == [401, 401]


def test_short_lived_token_is_renewed_before_it_expires(ebay: EbayEmulator) -> None:
    ebay.token_ttl = 1
    meter = UsageMeter()
    item = Product("X6", "Headphones", None, 1)

    async def work(source: EbayBrowse) -> None:
        await source.search(query(item))
        await source.search(query(item))  # still fresh: no new token
        await asyncio.sleep(1.0)
        await source.search(query(item))

    run(work, meter=meter)
    assert ebay.token_calls == 2
    assert [r.status for r in searches(ebay)] == [200, 200, 200]
    assert usage(meter).retries == 0  # renewed ahead of time, not after a 401


@pytest.mark.parametrize("how", ["wrong-secret", "fault"])
def test_rejected_client_is_fatal_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, ebay: EbayEmulator, how: str
) -> None:
    secret = EBAY_SECRET
    if how == "wrong-secret":
        secret = "wrong-secret-Hh42Pq"
        monkeypatch.setenv("COLLECTOR_EBAY_CLIENT_SECRET", secret)
    else:
        ebay.faults.add("token-invalid-client")
    error = search_error(query(Product("X7", "Headphones", None, 1)))
    message = str(error)
    assert error.fatal is True and error.retryable is False
    assert "COLLECTOR_EBAY_CLIENT_ID" in message
    assert "invalid_client" in message
    assert secret not in message and EBAY_SECRET not in message and EBAY_ID not in message
    assert ebay.search_calls == 0 and searches(ebay) == []


def test_token_server_error_is_retryable(ebay: EbayEmulator) -> None:
    ebay.faults.add("token-500")
    error = search_error(query(Product("X8", "Headphones", None, 1)))
    assert error.retryable is True and error.fatal is False
    assert searches(ebay) == []


def test_missing_credentials_are_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, ebay: EbayEmulator
) -> None:
    monkeypatch.delenv("COLLECTOR_EBAY_CLIENT_SECRET")
    with pytest.raises(UsageError, match="COLLECTOR_EBAY_CLIENT_SECRET"):
        search(query(Product("X9", "Headphones", None, 1)))
    assert ebay.requests == []


# -- failures and their retry class --------------------------------------------------------------


def test_daily_quota_is_fatal(ebay: EbayEmulator) -> None:
    ebay.daily_quota = 2
    meter = UsageMeter()
    item = Product("XA", "Headphones", None, 1)
    errors: list[SourceError] = []

    async def work(source: EbayBrowse) -> int:
        done = 0
        for _ in range(3):
            try:
                await source.search(query(item))
                done += 1
            except SourceError as exc:
                errors.append(exc)
        return done

    assert run(work, meter=meter) == 2
    (error,) = errors
    assert error.fatal is True and error.retryable is False
    assert "daily" in str(error) and "2001" in str(error)
    assert searches(ebay)[-1].status == 429
    assert usage(meter).quota_calls == 3


def test_429_with_retry_after_is_retryable(ebay: EbayEmulator) -> None:
    ebay.faults.add("429", retry_after="5")
    error = search_error(query(Product("XB", "Headphones", None, 1)))
    assert error.retryable is True and error.fatal is False
    assert error.retry_after == 5.0


@pytest.mark.parametrize("kind", ["500", "502", "503", "malformed-json"])
def test_server_trouble_is_retryable(ebay: EbayEmulator, kind: str) -> None:
    ebay.faults.add(kind)
    error = search_error(query(Product("XC", "Headphones", None, 1)))
    assert error.retryable is True and error.fatal is False
    assert searches(ebay)[0].fault == kind


def test_503_carries_retry_after(ebay: EbayEmulator) -> None:
    ebay.faults.add("503", retry_after="3")
    assert search_error(query(Product("XD", "Headphones", None, 1))).retry_after == 3.0


def test_timeout_is_retryable(ebay: EbayEmulator) -> None:
    # The server would answer after 60 s: an error at all means the client gave up first.
    ebay.faults.add("timeout", delay=60)
    error = search_error(query(Product("XE", "Headphones", None, 1)), options={"timeout": 0.3})
    assert error.retryable is True
    assert "0.3s" in str(error), error


def test_empty_keywords_are_a_plain_failure(ebay: EbayEmulator) -> None:
    error = search_error(query(Product("XF", "   ", None, 1)))
    assert error.retryable is False and error.fatal is False
    assert "400" in str(error) and "12001" in str(error)
    assert searches(ebay)[0].param("q") == ""


def test_ignored_filter_warning_is_fatal(ebay: EbayEmulator) -> None:
    filters = Filters(country="usa")  # not a two-letter code: eBay drops the filter and warns
    error = search_error(query(Product("XG", "Headphones", None, 1), filters=filters))
    assert error.fatal is True
    assert "12002" in str(error)
    assert searches(ebay)[0].status == 200


def test_empty_answer_has_no_more(ebay: EbayEmulator) -> None:
    ebay.faults.add("empty")
    page = search(query(Product("XH", "Headphones", None, 1), filters=ANYTHING))
    assert page.listings == [] and page.has_more is False and page.total == 0


def test_no_request_past_the_10000_item_window(ebay: EbayEmulator) -> None:
    item = Product("XI", "Headphones", None, 1)
    meter = UsageMeter()
    page = search(query(item, page=201, filters=ANYTHING), meter=meter)  # offset 10,000
    assert page == ListingPage([], has_more=False)
    assert ebay.requests == [] and usage(meter).requests == 0
    last = search(query(item, page=200, filters=ANYTHING))  # offset 9,950: still served
    assert searches(ebay)[0].param("offset") == "9950"
    assert last.listings == []  # "Headphones" has fewer hits than that


def test_forbidden_keyset_is_fatal(ebay: EbayEmulator) -> None:
    """A 403 on search (no Buy Browse access) fails every call: end the run, not each product."""
    ebay.faults.add("403")
    error = search_error(query(Product("XA", "Headphones", None, 1)))
    assert error.fatal is True and error.retryable is False
    assert "HTTP 403" in str(error) and "Buy Browse API" in str(error)
    assert EBAY_SECRET not in str(error)


def test_fractional_rate_limit_works(ebay: EbayEmulator) -> None:
    """rate=0.5 means one request per two seconds, not a crash of the limiter."""
    page = search(query(Product("XA", "Headphones", None, 1)), options={"rate": 0.5})
    assert isinstance(page, ListingPage)
    assert len(searches(ebay)) == 1
