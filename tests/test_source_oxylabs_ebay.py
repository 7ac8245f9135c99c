"""The ``oxylabs-ebay`` listing source and its HTML parser, against the Oxylabs emulator.

The adapter builds an eBay search URL, Oxylabs (here: the emulator) fetches the page, and
``ebay_html`` reads the sellers off it. Ground truth is ``Catalogue.search`` with the filters
the URL asks for, sliced by eBay's page size.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from collector_cli.errors import SourceError
from collector_cli.models import Filters, Listing, ListingPage, ListingQuery, Product
from collector_cli.sources import ebay_html
from collector_cli.sources.base import SourceContext
from collector_cli.sources.oxylabs_ebay import OxylabsEbay
from collector_cli.sources.usage import SourceUsage, UsageMeter
from tests.emulators import ebay_html as emulated_html
from tests.emulators.catalogue import NEW, Catalogue, Offer, SearchFilters, cut_query, price_band
from tests.emulators.oxylabs import OxylabsEmulator

pytestmark = pytest.mark.usefixtures("real_env")

DEFAULT = Filters()
ANYTHING = Filters(condition="any", free_shipping=False, domestic_only=False)
BROAD = Product("P-broad", "Headphones", None, 1)  # many hits: several pages of 60
BROAD_TRUTH = SearchFilters()  # new, free shipping, US, no band
FILLER_ID = "123456"


def fetch(
    queries: list[ListingQuery],
    *,
    options: dict[str, Any] | None = None,
    meter: UsageMeter | None = None,
) -> list[ListingPage]:
    async def main() -> list[ListingPage]:
        source = OxylabsEbay(SourceContext(1, options or {}, meter))
        try:
            return [await source.search(q) for q in queries]
        finally:
            await source.aclose()

    return asyncio.run(main())


def fetch_error(query: ListingQuery, **kwargs: Any) -> SourceError:
    with pytest.raises(SourceError) as info:
        fetch([query], **kwargs)
    return info.value


def query(item: Product, page: int = 1, filters: Filters = DEFAULT) -> ListingQuery:
    price = item.price_micros
    low = round(price * filters.price_min_ratio) if price else None
    high = round(price * filters.price_max_ratio) if price else None
    return ListingQuery(item, filters, page, low, high)


def sent_url(recorded: Any) -> tuple[str, str, dict[str, str]]:
    """(host, path, query parameters) of the eBay URL in a recorded Oxylabs job."""
    body = json.loads(recorded.body)
    assert body["source"] == "ebay"
    parts = urlsplit(body["url"])
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    assert len(pairs) == len({k for k, _ in pairs}), "no parameter is sent twice"
    return parts.netloc, parts.path, dict(pairs)


def usage(meter: UsageMeter) -> SourceUsage:
    return meter.by_source.get("oxylabs-ebay", SourceUsage())


def floored(score: int) -> int:
    """A count as the card layout shows it (floored to a tenth of K or M), read back."""
    if score < 1000:
        return score
    divisor = 1000 if score < 1_000_000 else 1_000_000
    return score * 10 // divisor * divisor // 10


def assert_listing(listing: Listing, offer: Offer, layout: str) -> None:
    assert listing.listing_id == offer.item_id
    assert listing.title == offer.title
    assert listing.seller_name == offer.seller
    assert listing.feedback_percent == float(offer.feedback_percent)
    assert listing.price_micros == int(offer.price * Decimal(1_000_000))
    if layout == "card" and offer.feedback_score >= 1000:
        assert listing.feedback_score_approx is True
        assert listing.feedback_score == floored(offer.feedback_score)
        step = 100 if offer.feedback_score < 1_000_000 else 100_000  # a tenth of K or M
        assert 0 <= offer.feedback_score - listing.feedback_score < step
    else:
        assert listing.feedback_score_approx is False
        assert listing.feedback_score == offer.feedback_score


# -- the URL on the wire -------------------------------------------------------------------------


def test_search_url_on_the_wire(catalogue: Catalogue, oxylabs: OxylabsEmulator) -> None:
    item = next(b for b in catalogue.bestsellers(catalogue.nodes[1]) if b.price and
                len(b.title) > 100)  # fmt: skip
    wanted = Product(item.asin, item.title, int(item.price * 1_000_000), item.pos)
    fetch([query(wanted, page=2)])
    (recorded,) = oxylabs.requests
    host, path, params = sent_url(recorded)
    assert (host, path) == ("www.ebay.com", "/sch/i.html")
    low, high = price_band(item.price, 0.8, 1.2)
    assert params == {
        "_nkw": cut_query(item.title),
        "LH_ItemCondition": "1000",
        "LH_Free": "1",
        "LH_PrefLoc": "1",
        "_udlo": str(low),
        "_udhi": str(high),
        "LH_BIN": "1",
        "_ipg": "60",
        "_pgn": "2",
    }
    assert len(params["_nkw"]) <= 100 and item.title[len(params["_nkw"])] == " "
    assert "render" not in json.loads(recorded.body)
    assert recorded.headers["Authorization"].startswith("Basic ")


def test_optional_filters_are_left_out(oxylabs: OxylabsEmulator) -> None:
    fetch([query(BROAD, filters=ANYTHING)], options={"page_size": 240, "render": "html"})
    (recorded,) = oxylabs.requests
    _, _, params = sent_url(recorded)
    assert params == {"_nkw": "Headphones", "LH_BIN": "1", "_ipg": "240", "_pgn": "1"}
    assert json.loads(recorded.body)["render"] == "html"


def test_rendered_pages_cost_the_rendered_price(oxylabs: OxylabsEmulator) -> None:
    """render=html bills at the rendered rate ($1.30 per 1,000) unless price_per_1k says else."""
    meter = UsageMeter()
    fetch([query(BROAD, filters=ANYTHING)], options={"render": "html"}, meter=meter)
    assert usage(meter).cost_micros == 1300
    meter = UsageMeter()
    fetch([query(BROAD, filters=ANYTHING)], options={"render": "html", "price_per_1k": 2},
          meter=meter)  # fmt: skip
    assert usage(meter).cost_micros == 2000


def test_used_condition_ids_are_joined(oxylabs: OxylabsEmulator) -> None:
    fetch([query(BROAD, filters=Filters(condition="used"))])
    _, _, params = sent_url(oxylabs.requests[0])
    assert params["LH_ItemCondition"] == "3000|4000|5000|6000"


# -- ground truth per layout ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["card", "legacy", "legacy-split", "alternate"])
def test_every_page_equals_the_ground_truth(
    catalogue: Catalogue, oxylabs: OxylabsEmulator, layout: str
) -> None:
    oxylabs.layout = layout
    expected = catalogue.search("Headphones", BROAD_TRUTH)
    count = -(-len(expected) // 60)
    assert count >= 3
    pages = fetch([query(BROAD, page) for page in range(1, count + 1)])
    for number, page in enumerate(pages, 1):
        chunk = expected[(number - 1) * 60 : number * 60]
        concrete = emulated_html.layout_for_page(layout, number)
        assert len(page.listings) == len(chunk)
        for listing, offer in zip(page.listings, chunk, strict=True):
            assert_listing(listing, offer, concrete)
            assert (listing.condition, listing.free_shipping, listing.country) == (
                "new", True, "US",
            )  # fmt: skip
        assert FILLER_ID not in {x.listing_id for x in page.listings}
        assert "Shop on eBay" not in {x.title for x in page.listings}
        assert page.has_more is (number < count)
    found = {x.seller_name for page in pages for x in page.listings}
    assert found == {o.seller for o in expected}


def test_card_scores_are_approximate(catalogue: Catalogue, oxylabs: OxylabsEmulator) -> None:
    oxylabs.layout = "card"
    (page,) = fetch([query(BROAD)])
    scores = {x.seller_name: (x.feedback_score, x.feedback_score_approx) for x in page.listings}
    offers = catalogue.search("Headphones", BROAD_TRUTH)[:60]
    small = [o for o in offers if o.feedback_score < 1000]
    big = [o for o in offers if o.feedback_score >= 1000]
    assert small and big
    for offer in small:
        assert scores[offer.seller] == (offer.feedback_score, False)
    for offer in big:
        assert scores[offer.seller][1] is True
        assert scores[offer.seller][0] <= offer.feedback_score


def test_priced_products_are_banded(catalogue: Catalogue, oxylabs: OxylabsEmulator) -> None:
    items = [b for b in catalogue.bestsellers(catalogue.nodes[0]) if b.price][:6]
    products = [Product(b.asin, b.title, int(b.price * 1_000_000), b.pos) for b in items]
    pages = fetch([query(p) for p in products])
    for item, page in zip(items, pages, strict=True):
        low, high = price_band(item.price, 0.8, 1.2)
        truth = catalogue.search(
            cut_query(item.title), SearchFilters(frozenset({NEW}), True, "US", low, high)
        )
        assert [x.listing_id for x in page.listings] == [o.item_id for o in truth[:60]]
        assert all(low <= Decimal(x.price_micros) / 1_000_000 <= high for x in page.listings)
        assert page.has_more is False


def test_unfiltered_listings_say_unknown_condition(
    catalogue: Catalogue, oxylabs: OxylabsEmulator
) -> None:
    (page,) = fetch([query(BROAD, filters=ANYTHING)], options={"page_size": 120})
    expected = catalogue.search("Headphones", SearchFilters(None, False, None))[:120]
    assert [x.listing_id for x in page.listings] == [o.item_id for o in expected]
    assert {(x.condition, x.country, x.free_shipping) for x in page.listings} == {
        ("unknown", "", False)
    }
    assert page.has_more is True


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["captcha", "truncated-html"])
def test_bad_pages_are_retryable_errors(oxylabs: OxylabsEmulator, kind: str) -> None:
    oxylabs.faults.add(kind)
    meter = UsageMeter()
    error = fetch_error(query(BROAD), meter=meter)
    assert error.retryable is True and error.fatal is False
    assert oxylabs.requests[0].fault == kind
    # Oxylabs bills the page all the same (its target answered 200), and so does the meter.
    assert usage(meter).billed_results == 1 == oxylabs.billed_results["ebay"]
    (page,) = fetch([query(BROAD)])  # the fault is used up
    assert len(page.listings) == 60


@pytest.mark.parametrize("kind", ["429", "500", "613", "result-613"])
def test_api_faults_are_retryable_and_free(oxylabs: OxylabsEmulator, kind: str) -> None:
    oxylabs.faults.add(kind)
    meter = UsageMeter()
    error = fetch_error(query(BROAD), meter=meter)
    assert error.retryable is True
    assert usage(meter).billed_results == 0 and usage(meter).cost_micros == 0


def test_malformed_answer_is_retryable_and_billed(oxylabs: OxylabsEmulator) -> None:
    """A 2xx job cut off in transit was still produced: Oxylabs bills it, so the ledger does."""
    oxylabs.faults.add("malformed-json")
    meter = UsageMeter()
    error = fetch_error(query(BROAD), meter=meter)
    assert error.retryable is True
    assert usage(meter).billed_results == oxylabs.billed_results["ebay"] == 1
    assert usage(meter).cost_micros == 1100


def test_no_matches_page(oxylabs: OxylabsEmulator) -> None:
    oxylabs.faults.add("empty")
    (page,) = fetch([query(BROAD)])
    assert page.listings == [] and page.has_more is False


def test_query_without_hits(oxylabs: OxylabsEmulator) -> None:
    (page,) = fetch([query(Product("P-none", "Zzyzx Qwv", None, 1))])
    assert page == ListingPage([], has_more=False)


# -- billing -------------------------------------------------------------------------------------


def test_each_page_bills_one_result(oxylabs: OxylabsEmulator) -> None:
    meter = UsageMeter()
    fetch([query(BROAD, 1), query(BROAD, 2), query(BROAD, 3)], meter=meter)
    assert usage(meter).billed_results == 3 == oxylabs.billed_results["ebay"]
    assert usage(meter).cost_micros == 3 * 1100  # $1.10 per 1,000 results
    assert usage(meter).requests == 3
    assert OxylabsEbay.plan_search({}, 2) == (2, 2200, 0)


def test_custom_price(oxylabs: OxylabsEmulator) -> None:
    meter = UsageMeter()
    fetch([query(BROAD)], options={"price_per_1k": 2.5}, meter=meter)
    assert usage(meter).cost_micros == 2500


# -- the parser on its own -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("812", (812, False)),
        ("0", (0, False)),
        ("12,345", (12345, False)),
        ("1,234,567", (1234567, False)),
        ("154.8K", (154800, True)),
        ("12K", (12000, True)),
        ("999.9K", (999900, True)),
        ("1.5k", (1500, True)),
        ("154.8 K", (154800, True)),
        ("1.2M", (1_200_000, True)),
        ("2M", (2_000_000, True)),
    ],
)
def test_parse_count(text: str, expected: tuple[int, bool]) -> None:
    assert ebay_html.parse_count(text) == expected


def test_parser_reads_the_emulator_rendering_of_every_count(catalogue: Catalogue) -> None:
    for score in (0, 999, 1000, 1049, 154_843, 999_999, 1_234_567):
        shown = emulated_html.abbreviate_count(score)
        value, approx = ebay_html.parse_count(shown)
        assert (value, approx) == (floored(score), score >= 1000)


def parse(html: str) -> ebay_html.SearchPage:
    return ebay_html.parse_search_page(
        html, "test page", condition="new", country="US", free_shipping=True
    )


def test_parser_layouts_and_filler(catalogue: Catalogue) -> None:
    offers = catalogue.search("Headphones", BROAD_TRUTH)[:5]
    for layout, expected in (("card", "card"), ("legacy", "legacy"), ("legacy-split", "legacy")):
        html = emulated_html.search_page(query="Headphones", offers=offers, total=5, page=1,
                                         layout=layout, next_url=None)  # fmt: skip
        page = parse(html)
        assert page.layout == expected
        assert [x.listing_id for x in page.listings] == [o.item_id for o in offers]
        assert page.has_more is False
    html = emulated_html.search_page(query="q", offers=offers, total=9, page=1, layout="card",
                                     next_url="https://www.ebay.com/sch/i.html?_pgn=2")  # fmt: skip
    assert parse(html).has_more is True


def test_parser_rejects_captcha_and_cut_pages(catalogue: Catalogue) -> None:
    with pytest.raises(SourceError, match="captcha") as info:
        parse(emulated_html.captcha_page())
    assert info.value.retryable is True
    offers = catalogue.search("Headphones", BROAD_TRUTH)[:5]
    whole = emulated_html.search_page(query="q", offers=offers, total=5, page=1, layout="card",
                                      next_url=None)  # fmt: skip
    with pytest.raises(SourceError, match="cut off") as info:
        parse(emulated_html.truncate_listing(whole))
    assert info.value.retryable is True
    no_matches = parse(emulated_html.no_matches_page("q"))
    assert no_matches.listings == [] and no_matches.has_more is False
