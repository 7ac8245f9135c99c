"""The eBay emulator itself, spoken to with plain urllib so its wire behaviour is pinned down.

The adapters' tests trust this emulator to behave like eBay (reference section 2); these tests
are what earns that trust: every error code, warning, paging rule and fault kind is checked
against the reference and against the catalogue's own ``search``.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.emulators.catalogue import Catalogue, SearchFilters, cut_query, price_band
from tests.emulators.ebay import API_SCOPE, SEARCH_PATH, TOKEN_PATH, EbayEmulator
from tests.emulators.ebay_filters import NEW_IDS, USED_IDS

NODE = "172541"
ANY = SearchFilters(None, False, None)  # no filter at all

# The loopback server must never be reached through an environment proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Reply:
    """Status, headers and body of one exchange, whatever the status."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> Reply:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


def basic(user: str = "ebay-client", secret: str = "ebay-secret") -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


FORM = "application/x-www-form-urlencoded"


def token_call(emu: EbayEmulator, **overrides: Any) -> Reply:
    form = {"grant_type": "client_credentials", "scope": API_SCOPE}
    form.update({k: v for k, v in overrides.items() if k in form})
    form = {k: v for k, v in form.items() if v is not None}
    headers = {"Authorization": overrides.get("auth", basic()), "Content-Type": FORM}
    if "content_type" in overrides:
        headers["Content-Type"] = overrides["content_type"]
    headers = {k: v for k, v in headers.items() if v is not None}
    return call(emu.url + TOKEN_PATH, data=urlencode(form).encode(), headers=headers)


def mint(emu: EbayEmulator) -> str:
    reply = token_call(emu)
    assert reply.status == 200, reply.body
    return reply.json()["access_token"]


def search(emu: EbayEmulator, token: str | None, timeout: float = 5, **params: Any) -> Reply:
    headers = {"X-EBAY-C-MARKETPLACE-ID": "EBAY_US"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    query = urlencode({k: str(v) for k, v in params.items()})
    return call(f"{emu.url}{SEARCH_PATH}?{query}", headers=headers, timeout=timeout)


def ids(reply: Reply) -> list[str]:
    return [item["legacyItemId"] for item in reply.json().get("itemSummaries", [])]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue([NODE, "2407760011"], per_node=30)


@pytest.fixture
def emu(catalogue: Catalogue) -> Iterator[EbayEmulator]:
    with EbayEmulator(catalogue) as server:
        yield server


@pytest.fixture
def token(emu: EbayEmulator) -> str:
    return mint(emu)


def query_with_hits(catalogue: Catalogue, minimum: int) -> str:
    """A best seller's (word-cut) title that matches at least ``minimum`` offers unfiltered."""
    for item in catalogue.bestsellers(NODE):
        q = cut_query(item.title)
        if item.price and len(catalogue.search(q, ANY)) >= minimum:
            return q
    raise AssertionError("catalogue has no such best seller")


# -- identity ------------------------------------------------------------------------------------


def test_token_success_mints_a_fresh_token_each_call(emu: EbayEmulator) -> None:
    first, second = token_call(emu), token_call(emu)
    assert first.status == second.status == 200
    body = first.json()
    assert body["token_type"] == "Application Access Token"
    assert body["expires_in"] == 7200
    assert body["access_token"].startswith("v^1.1#i^1#")
    assert body["access_token"] != second.json()["access_token"]
    assert emu.token_calls == 2
    assert emu.issued_tokens[body["access_token"]] == pytest.approx(time.monotonic() + 7200, abs=5)


def test_token_ttl_and_scope_list_are_honoured(emu: EbayEmulator) -> None:
    emu.token_ttl = 60
    reply = token_call(emu, scope=f"{API_SCOPE} {API_SCOPE}/buy.item.bulk")
    assert reply.status == 200
    assert reply.json()["expires_in"] == 60


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"auth": None}, 401, "invalid_client"),
        ({"auth": basic(secret="wrong")}, 401, "invalid_client"),
        ({"auth": "Basic not-base64!"}, 401, "invalid_client"),
        ({"content_type": "application/json"}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": None}, 400, "unsupported_grant_type"),
        ({"scope": "https://api.ebay.com/oauth/api_scope/sell.inventory"}, 400, "invalid_scope"),
        ({"scope": None}, 400, "invalid_scope"),
    ],
)
def test_token_errors(emu: EbayEmulator, overrides: dict, status: int, error: str) -> None:
    reply = token_call(emu, **overrides)
    assert reply.status == status
    assert reply.json()["error"] == error
    if error == "invalid_client":
        assert reply.json()["error_description"] == "client authentication failed"
    assert emu.issued_tokens == {}


# -- bearer ---------------------------------------------------------------------------------------


def assert_invalid_token(reply: Reply) -> None:
    assert reply.status == 401
    (error,) = reply.json()["errors"]
    assert (error["errorId"], error["domain"], error["message"]) == (
        1001,
        "OAuth",
        "Invalid access token",
    )


@pytest.mark.parametrize("bad", [None, "nope", "expired"])
def test_search_needs_a_live_bearer_token(emu: EbayEmulator, token: str, bad: str | None) -> None:
    if bad == "expired":
        emu.issued_tokens[token] = time.monotonic() - 0.01
        bad = token
    assert_invalid_token(search(emu, bad, q="blender"))
    assert emu.search_calls == 0  # unauthorised calls do not count toward the quota


def test_basic_credentials_are_not_a_bearer_token(emu: EbayEmulator) -> None:
    headers = {"Authorization": basic()}
    assert_invalid_token(call(f"{emu.url}{SEARCH_PATH}?q=blender", headers=headers))


def test_short_ttl_expires_on_the_server_clock(emu: EbayEmulator) -> None:
    emu.token_ttl = 0.3
    token = mint(emu)
    assert search(emu, token, q="blender").status == 200
    time.sleep(0.35)
    assert_invalid_token(search(emu, token, q="blender"))


def test_marketplace_header_is_recorded(emu: EbayEmulator, token: str) -> None:
    search(emu, token, q="blender")
    # The log keeps header names as sent (urllib sends "X-ebay-c-marketplace-id").
    headers = {k.lower(): v for k, v in emu.requests[-1].headers.items()}
    assert headers["x-ebay-c-marketplace-id"] == "EBAY_US"
    assert emu.requests[-1].param("q") == "blender"


# -- filters --------------------------------------------------------------------------------------


def filter_cases(catalogue: Catalogue) -> list[tuple[str, SearchFilters, list[str]]]:
    """(filter string, the equivalent SearchFilters, expected warning ids)."""
    item = next(b for b in catalogue.bestsellers(NODE) if b.price)
    low, high = price_band(item.price, 0.8, 1.2)
    new_us_free = SearchFilters(frozenset({"1000", "1500"}), True, "US")
    F = SearchFilters
    return [
        ("", ANY, []),
        ("conditionIds:{1000}", SearchFilters(frozenset({"1000"}), False, None), []),
        (
            "conditionIds:{1000|1500},itemLocationCountry:US,maxDeliveryCost:0,deliveryCountry:US",
            new_us_free,
            [],
        ),
        ("conditions:{NEW}", SearchFilters(NEW_IDS, False, None), []),
        ("conditions:{USED}", SearchFilters(USED_IDS, False, None), []),
        ("itemLocationCountry:CN", SearchFilters(None, False, "CN"), []),
        ("maxDeliveryCost:0.00", SearchFilters(None, True, None), []),
        (f"price:[{low}..{high}],priceCurrency:USD", F(None, False, None, low, high), []),
        (f"priceCurrency:USD,price:[{low}]", SearchFilters(None, False, None, low, None), []),
        (f"price:[..{high}],priceCurrency:USD", SearchFilters(None, False, None, None, high), []),
        ("buyingOptions:{FIXED_PRICE|BEST_OFFER}", ANY, []),
        # Unusable filters are dropped with a warning; the rest still apply.
        ("colour:{RED},conditionIds:{1000}", F(frozenset({"1000"}), False, None), ["12002"]),
        ("conditionIds:{abc}", ANY, ["12002"]),
        ("conditions:{SHINY}", ANY, ["12002"]),
        ("itemLocationCountry:us", ANY, ["12002"]),
        ("maxDeliveryCost:5", ANY, ["12002"]),
        ("price:[x..y],priceCurrency:USD", ANY, ["12002"]),
        (f"price:[{high}..{low}],priceCurrency:USD", ANY, ["12002"]),
        (f"price:[{low}..{high}]", ANY, ["12012"]),
        ("nocolon", ANY, ["12002"]),
    ]  # fmt: skip


def test_filter_grammar_matches_the_catalogue(emu: EbayEmulator, token: str) -> None:
    catalogue = emu.catalogue
    item = next(b for b in catalogue.bestsellers(NODE) if b.price)
    q = cut_query(item.title)
    for text, filters, warnings in filter_cases(catalogue):
        params = {"q": q, "limit": 200, **({"filter": text} if text else {})}
        reply = search(emu, token, **params)
        assert reply.status == 200, (text, reply.body)
        body = reply.json()
        expected = catalogue.search(q, filters)
        assert body["total"] == len(expected), text
        assert ids(reply) == [o.item_id for o in expected[:200]], text
        assert [str(w["errorId"]) for w in body.get("warnings", [])] == warnings, text
    assert len({len(catalogue.search(q, f)) for _, f, _ in filter_cases(catalogue)}) > 4


def test_warning_texts(emu: EbayEmulator, token: str) -> None:
    body = search(emu, token, q="blender", filter="colour:{RED},price:[1..2]").json()
    first, second = body["warnings"]
    assert first["message"] == "The colour value is invalid."
    assert (first["domain"], first["category"]) == ("API_BROWSE", "REQUEST")
    assert second["errorId"] == 12012
    assert second["message"] == (
        "A valid 'price' filter and a valid 'priceCurrency' filter is necessary to filter "
        "based on price."
    )


def test_auction_only_matches_nothing(emu: EbayEmulator, token: str) -> None:
    body = search(emu, token, q="blender", filter="buyingOptions:{AUCTION}").json()
    assert body["total"] == 0 and "itemSummaries" not in body and "warnings" not in body


def test_q_is_cut_to_100_characters(emu: EbayEmulator, token: str) -> None:
    q = query_with_hits(emu.catalogue, 1)
    padded = q.ljust(100) + "zzzznotaword"  # only survives if the server ignores the limit
    assert emu.catalogue.search(padded, ANY) == []
    reply = search(emu, token, q=padded, limit=200)
    assert reply.json()["total"] == len(emu.catalogue.search(q, ANY)) > 0


# -- parameter errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error_id", "message"),
    [
        ({}, 12001, "The call must have a valid 'q', 'category_ids', 'epid' or 'gtin' query "
                    "parameter."),
        ({"q": "  "}, 12001, None),
        ({"q": "x", "offset": -50}, 12004, "The 'offset' value cannot be negative."),
        ({"q": "x", "offset": "ab"}, 12005, "The 'offset' value must be an integer."),
        ({"q": "x", "offset": "1.0"}, 12005, None),
        ({"q": "x", "limit": 0}, 12006, "The 'limit' value should be between 1 and 200 "
                                        "(inclusive)."),
        ({"q": "x", "limit": 201}, 12006, None),
        ({"q": "x", "limit": "ten"}, 12007, "The 'limit' value must be an integer value."),
        ({"q": "x", "offset": 10000, "limit": 50}, 12029, None),
        ({"q": "x", "offset": 7, "limit": 50}, 12515, "The 'offset' value must be either zero "
                                                      "or a multiple of the 'limit' value."),
    ],
)  # fmt: skip
def test_parameter_errors(
    emu: EbayEmulator, token: str, params: dict, error_id: int, message: str | None
) -> None:
    reply = search(emu, token, **params)
    assert reply.status == 400
    (error,) = reply.json()["errors"]
    assert error["errorId"] == error_id
    assert (error["domain"], error["subdomain"], error["category"]) == (
        "API_BROWSE",
        "Browsing",
        "REQUEST",
    )
    if message is not None:
        assert error["message"] == message


def test_category_ids_alone_is_accepted(emu: EbayEmulator, token: str) -> None:
    assert search(emu, token, category_ids="112529").status == 200


def test_unknown_path_is_a_404_envelope(emu: EbayEmulator, token: str) -> None:
    reply = call(emu.url + "/buy/v1/item_summary/search?q=x", headers={"Authorization": token})
    assert reply.status == 404
    assert reply.json()["errors"][0]["message"] == "Resource not found"


# -- paging ---------------------------------------------------------------------------------------


def test_paging_links_and_last_page(emu: EbayEmulator, token: str) -> None:
    q = query_with_hits(emu.catalogue, 25)
    expected = [o.item_id for o in emu.catalogue.search(q, ANY)]
    limit = 10
    first = search(emu, token, q=q, limit=limit).json()
    assert (first["total"], first["limit"], first["offset"]) == (len(expected), limit, 0)
    assert "prev" not in first
    assert first["next"].startswith("https://api.ebay.com/buy/browse/v1/item_summary/search?")
    assert "offset=10" in first["next"] and "limit=10" in first["next"]
    last_offset = (len(expected) - 1) // limit * limit
    last = search(emu, token, q=q, limit=limit, offset=last_offset)
    assert ids(last) == expected[last_offset:]
    assert "next" not in last.json() and "prev" in last.json()
    past = search(emu, token, q=q, limit=limit, offset=last_offset + limit).json()
    assert "itemSummaries" not in past and past["total"] == len(expected)


def test_next_styles_and_following_self_links(emu: EbayEmulator, token: str) -> None:
    q = query_with_hits(emu.catalogue, 25)
    emu.next_style = "typo"
    typo = search(emu, token, q=q, limit=10).json()
    assert typo["href"].startswith("https://api.ebay.com/buy/v1/item_summary/search?")
    emu.next_style = "self"
    collected: list[str] = []
    url: str | None = f"{emu.url}{SEARCH_PATH}?{urlencode({'q': q, 'limit': 10})}"
    while url:
        reply = call(url, headers={"Authorization": f"Bearer {token}"})
        collected += ids(reply)
        url = reply.json().get("next")
        assert url is None or urlsplit(url).netloc == f"127.0.0.1:{emu.port}"
    assert collected == [o.item_id for o in emu.catalogue.search(q, ANY)]


def test_sort_by_price_and_soft_warnings(emu: EbayEmulator, token: str) -> None:
    q = query_with_hits(emu.catalogue, 5)
    body = search(emu, token, q=q, sort="-price", limit=200).json()
    prices = [Decimal(i["price"]["value"]) for i in body["itemSummaries"]]
    assert prices == sorted(prices, reverse=True)
    body = search(emu, token, q=q, sort="cheapest", fieldgroups="EVERYTHING").json()
    assert [w["errorId"] for w in body["warnings"]] == [12008, 12016]


# -- quota ----------------------------------------------------------------------------------------


def test_daily_quota(emu: EbayEmulator, token: str) -> None:
    emu.daily_quota = 3
    assert [search(emu, token, q="blender").status for _ in range(3)] == [200] * 3
    reply = search(emu, token, q="blender")
    assert reply.status == 429 and reply.headers.get("Retry-After") is None
    (error,) = reply.json()["errors"]
    assert (error["errorId"], error["domain"], error["message"]) == (
        2001,
        "ACCESS",
        "Too many requests.",
    )
    assert emu.search_calls == 4
    emu.quota_used = 0  # a new day
    assert search(emu, token, q="blender").status == 200


# -- faults ---------------------------------------------------------------------------------------


def test_fault_revoke_token(emu: EbayEmulator, token: str) -> None:
    emu.faults.add("revoke-token")
    assert_invalid_token(search(emu, token, q="blender"))
    assert token not in emu.issued_tokens
    assert_invalid_token(search(emu, token, q="blender"))
    assert search(emu, mint(emu), q="blender").status == 200


@pytest.mark.parametrize(
    ("kind", "status", "retry_after"),
    [("429", 429, "60"), ("429", 429, None), ("500", 500, None), ("502", 502, None),
     ("503", 503, "5")],
)  # fmt: skip
def test_fault_statuses(
    emu: EbayEmulator, token: str, kind: str, status: int, retry_after: str | None
) -> None:
    emu.faults.add(kind, retry_after=retry_after)
    reply = search(emu, token, q="blender")
    assert reply.status == status
    assert reply.headers.get("Retry-After") == retry_after
    if kind == "429":
        assert reply.json()["errors"][0]["errorId"] == 2001
    elif kind == "500":
        error = reply.json()["errors"][0]
        assert (error["errorId"], error["category"]) == (12000, "APPLICATION")
    else:
        assert reply.headers.get_content_type() == "text/plain"
    assert emu.requests[-1].fault == kind
    assert search(emu, token, q="blender").status == 200  # used up


def test_fault_slow_and_timeout(emu: EbayEmulator, token: str) -> None:
    emu.faults.add("slow", delay=0.3)
    started = time.monotonic()
    assert search(emu, token, q="blender").status == 200
    assert time.monotonic() - started >= 0.3
    emu.faults.add("timeout", delay=2.0)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        search(emu, token, q="blender", timeout=0.3)


def test_fault_malformed_json_and_empty(emu: EbayEmulator, token: str) -> None:
    emu.faults.add("malformed-json")
    reply = search(emu, token, q="blender")
    assert reply.status == 200 and reply.headers.get_content_type() == "application/json"
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    emu.faults.add("empty")
    body = search(emu, token, q="blender").json()
    assert body["total"] == 0 and "itemSummaries" not in body and "next" not in body


def test_token_and_search_faults_do_not_use_each_other_up(emu: EbayEmulator, token: str) -> None:
    emu.faults.add("token-500")
    emu.faults.add("500")
    assert token_call(emu).status == 500  # the token fault, though added first
    assert token_call(emu).status == 200
    assert search(emu, token, q="blender").status == 500
    assert search(emu, token, q="blender").status == 200
    emu.faults.add("token-invalid-client")
    assert search(emu, token, q="blender").status == 200
    reply = token_call(emu)
    assert reply.status == 401 and reply.json()["error"] == "invalid_client"
    assert emu.faults.faults == []


def test_unknown_fault_kind_fails_loudly(emu: EbayEmulator, token: str) -> None:
    emu.faults.add("teapot")
    reply = search(emu, token, q="blender")
    assert reply.status == 500 and b"teapot" in reply.body


# -- item shape -----------------------------------------------------------------------------------


def test_item_summary_types_and_shipping(emu: EbayEmulator, token: str) -> None:
    offers = {o.item_id: o for o in emu.catalogue.offers}
    seen_absent = seen_paid = 0
    for q in ("blender", "headphones"):
        for item in search(emu, token, q=q, limit=200).json()["itemSummaries"]:
            offer = offers[item["legacyItemId"]]
            assert item["itemId"] == f"v1|{offer.item_id}|0"
            assert len(item["title"]) <= 80 and offer.title.startswith(item["title"])
            assert item["price"] == {"value": f"{offer.price:.2f}", "currency": "USD"}
            assert item["conditionId"] == offer.condition_id
            seller = item["seller"]
            assert isinstance(seller["feedbackPercentage"], str)
            assert isinstance(seller["feedbackScore"], int)
            assert seller["username"] == offer.seller
            assert seller["sellerAccountType"] in ("BUSINESS", "INDIVIDUAL")
            assert item["itemLocation"]["country"] == offer.country
            assert item["itemLocation"]["postalCode"].endswith("****")
            assert item["buyingOptions"] == ["FIXED_PRICE"]
            assert item["itemWebUrl"] == f"https://www.ebay.com/itm/{offer.item_id}"
            options = item.get("shippingOptions")
            if offer.free_shipping:
                assert options[0]["shippingCost"]["value"] == "0.00"
            elif options is None:
                seen_absent += 1
            else:
                seen_paid += 1
                assert Decimal(options[0]["shippingCost"]["value"]) > 0
    assert seen_absent and seen_paid
