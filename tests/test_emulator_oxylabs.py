"""The Oxylabs emulator itself, over real HTTP with a plain client.

Adapter tests trust this server as their stand-in for the paid API, so it must answer the
way the reference says Oxylabs does and serve exactly the catalogue's ground truth.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import Message
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.emulators import ebay_html
from tests.emulators.catalogue import Catalogue, SearchFilters, cut_query, price_band
from tests.emulators.oxylabs import OxylabsEmulator

NODES = ["172541", "2407760011"]
CARD_SELLER = re.compile(r"^(\S+) ([\d.]+)% positive \(([\d.]+[KM]?)\)$")
LEGACY_SELLER = re.compile(r"^(\S+) \(([\d,]+)\) ([\d.]+)%$")
ANY_FILTERS = SearchFilters(condition_ids=None, free_shipping=False, country=None)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(NODES)


@pytest.fixture
def oxy(catalogue: Catalogue) -> Iterator[OxylabsEmulator]:
    """A fresh server per test, so counters and faults never leak between tests."""
    with OxylabsEmulator(catalogue) as server:
        yield server


# -- a plain synchronous client -------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    oxy: OxylabsEmulator,
    payload: object = None,
    *,
    raw: bytes | None = None,
    auth: str | None = "ok",
    method: str = "POST",
    path: str = "/v1/queries",
    timeout: float = 10,
) -> Reply:
    """One request; ``auth="ok"`` sends the right credentials, any other string is sent as is."""
    data = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(oxy.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth == "ok":
        token = base64.b64encode(f"{oxy.username}:{oxy.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    elif auth is not None:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def bestsellers(oxy: OxylabsEmulator, node: str = NODES[0], **extra: Any) -> Reply:
    return call(oxy, {"source": "amazon_bestsellers", "query": node, "parse": True, **extra})


def search_url(q: str, **params: str) -> str:
    return "https://www.ebay.com/sch/i.html?" + urlencode({"_nkw": q, **params})


def ebay_page(oxy: OxylabsEmulator, url: str, source: str = "ebay") -> str:
    reply = call(oxy, {"source": source, "url": url})
    assert reply.status == 200, reply.body
    (result,) = reply.json()["results"]
    assert result["status_code"] == 200
    return result["content"]


# -- reading the HTML back ----------------------------------------------------------------------


# Elements whose text the tests read, by class; void elements have no end tag to pop.
FIELDS = {
    "s-card__title": "title",
    "s-item__title": "title",
    "su-card-container__attributes__secondary": "seller",
    "s-item__seller-info-text": "seller",
}
VOID = frozenset({"img", "input", "meta", "br", "hr", "link"})


class Listings(HTMLParser):
    """Per ``li`` of either layout: title text, links and seller-line text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []
        self._stack: list[tuple[str, str | None]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "li" and classes & {"s-card", "s-item"}:
            self.items.append({"title": "", "seller": "", "links": [], "layout": classes})
        if tag == "a" and self.items:
            self.items[-1]["links"].append(dict(attrs).get("href"))
        if tag not in VOID:
            field = next((FIELDS[c] for c in classes if c in FIELDS), None)
            self._stack.append((tag, field))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while self._stack and self._stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        field = next((f for _, f in reversed(self._stack) if f), None)
        if field and self.items:
            self.items[-1][field] += data


def sellers(page: str) -> list[tuple[str, str, str]]:
    """(username, count as shown, percent) per real listing; the filler card must come first."""
    items = Listings(page).items
    assert items[0]["title"] == "Shop on eBay" and items[0]["seller"] == ""
    found = []
    for item in items[1:]:
        text = item["seller"]
        if match := CARD_SELLER.match(text):
            found.append((match[1], match[3], match[2]))
        else:
            match = LEGACY_SELLER.match(text)
            assert match, text
            found.append((match[1], match[2], match[3]))
    return found


# -- auth and validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "Authorization header not provided"),
        ("Basic not*base64", "Invalid authorization header"),
        ("Bearer abc", "Invalid authorization header"),
        ("Basic " + base64.b64encode(b"oxy-user:wrong").decode(), "Client not found"),
    ],
)
def test_auth_failures_answer_401_with_the_documented_messages(
    oxy: OxylabsEmulator, auth: str | None, message: str
) -> None:
    reply = call(oxy, {"source": "amazon_bestsellers", "query": NODES[0]}, auth=auth)
    assert (reply.status, reply.json()) == (401, {"message": message})
    assert oxy.jobs == 0 and oxy.billed_results == {}


def test_validation_errors(oxy: OxylabsEmulator) -> None:
    assert call(oxy, raw=b"{not json").status == 422
    assert call(oxy, [1, 2]).status == 422
    unknown = call(oxy, {"source": "bing_search", "query": "x"})
    assert unknown.status == 400 and "Unsupported source" in unknown.json()["errors"]["message"]
    for payload in ({"source": "amazon_bestsellers"}, {"source": "ebay"}, {"source": "universal"}):
        reply = call(oxy, payload)
        assert reply.status == 400 and reply.json()["errors"]["message"]
    assert call(oxy, {"source": "amazon_bestsellers", "query": "1", "pages": 0}).status == 400
    assert oxy.jobs == 0


def test_other_paths_and_methods_are_404_json(oxy: OxylabsEmulator) -> None:
    assert call(oxy, None, method="GET").status == 404
    reply = call(oxy, {}, path="/v1/queries/batch")
    assert reply.status == 404 and "message" in reply.json()


# -- amazon_bestsellers -------------------------------------------------------------------------


def test_bestsellers_two_pages_hold_the_catalogue_top_100(
    oxy: OxylabsEmulator, catalogue: Catalogue
) -> None:
    reply = bestsellers(oxy, pages=2, render="html")
    assert reply.status == 200
    body = reply.json()
    job_id = body["job"]["id"]
    assert job_id.isdigit() and body["job"]["status"] == "done"
    assert reply.headers["x-oxylabs-job-id"] == job_id
    assert reply.headers["x-ratelimit-internal-api-default-limit"] == "12000"
    assert int(reply.headers["x-ratelimit-internal-api-default-remaining"]) > 0
    results = body["results"]
    assert [r["page"] for r in results] == [1, 2]
    for r in results:
        assert r["status_code"] == 200 and r["job_id"] == job_id and r["parser_type"] == ""
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["created_at"])
        assert r["content"]["pages"] == 2 and r["content"]["parse_status_code"] == 12000
        assert r["content"]["query"] == NODES[0] and len(r["content"]["results"]) == 50
    items = [i for r in results for i in r["content"]["results"]]
    assert [i["asin"] for i in items] == [b.asin for b in catalogue.bestsellers(NODES[0])]
    assert len({i["asin"] for i in items}) == 100
    unknown = [i for i in items if i["price"] == 0]
    assert unknown and all(i["price_str"] == "" for i in unknown)
    priced = next(i for i in items if i["price"])
    assert isinstance(priced["price"], float) and priced["price_str"] == f"${priced['price']:.2f}"
    assert priced["url"].startswith("/") and priced["currency"] == "USD"
    assert oxy.billed_results == {"amazon_bestsellers": 2} and oxy.jobs == 1


def test_bestsellers_paging_int_query_and_raw_html(oxy: OxylabsEmulator) -> None:
    page2 = bestsellers(oxy, int(NODES[1]), start_page=2).json()["results"]
    assert [r["page"] for r in page2] == [2] and page2[0]["content"]["results"][0]["pos"] == 51
    past_end = bestsellers(oxy, start_page=3).json()["results"][0]
    assert past_end["status_code"] == 200 and past_end["content"]["results"] == []
    raw = call(oxy, {"source": "amazon_bestsellers", "query": NODES[0]}).json()["results"][0]
    assert isinstance(raw["content"], str) and raw["content"].count("data-asin=") == 50


def test_unknown_node_is_a_billed_404(oxy: OxylabsEmulator) -> None:
    (result,) = bestsellers(oxy, "999999").json()["results"]
    assert result["status_code"] == 404
    assert result["content"]["results"] == [] and result["content"]["parse_status_code"] == 12002
    assert oxy.billed_results == {"amazon_bestsellers": 1}


def test_settings_render_required_status_201_and_no_job(oxy: OxylabsEmulator) -> None:
    oxy.render_required = True
    refused = bestsellers(oxy)
    assert (refused.status, refused.json()) == (
        400,
        {"message": "render is required for amazon_bestsellers"},
    )
    oxy.success_status, oxy.include_job, oxy.results_per_amazon_page = 201, False, 30
    reply = bestsellers(oxy, render="html")
    assert reply.status == 201 and "job" not in reply.json()
    content = reply.json()["results"][0]["content"]
    assert content["pages"] == 4 and len(content["results"]) == 30


# -- eBay search pages --------------------------------------------------------------------------


def test_ebay_url_filters_map_onto_the_catalogue(
    oxy: OxylabsEmulator, catalogue: Catalogue
) -> None:
    checked = 0
    for item in catalogue.bestsellers(NODES[0])[:12]:
        if not item.price:
            continue
        q = cut_query(item.title)
        low, high = price_band(item.price, 0.8, 1.2)
        hits = catalogue.search(q, SearchFilters(price_low=low, price_high=high))
        params = {"LH_ItemCondition": "1000", "LH_Free": "1", "LH_PrefLoc": "1"}
        url = search_url(q, **params, _udlo=str(low), _udhi=str(high), _ipg="240", _pgn="1")
        page = ebay_page(oxy, url)
        if not hits:
            assert "No exact matches found" in page and not Listings(page).items
            continue
        assert [s[0] for s in sellers(page)] == [o.seller for o in hits[:240]]
        assert f'<span class="BOLD">{len(hits):,}</span> results' in page
        assert "pagination__next" not in page
        checked += 1
    assert checked >= 3
    either = SearchFilters(frozenset({"1000", "3000"}), False, None)
    expected = [o.seller for o in catalogue.search("Blender", either)[:120]]
    page = ebay_page(oxy, search_url("Blender", LH_ItemCondition="1000|3000", _ipg="120"))
    assert [s[0] for s in sellers(page)] == expected


def test_ebay_paging_and_next_link(oxy: OxylabsEmulator, catalogue: Catalogue) -> None:
    hits = catalogue.search("Headphones", ANY_FILTERS)
    last = -(-len(hits) // 60)
    first = ebay_page(oxy, search_url("Headphones", _ipg="50"))  # not a valid size: 60
    assert len(sellers(first)) == 60
    assert 'class="pagination__next' in first and "_pgn=2" in first
    final = ebay_page(oxy, search_url("Headphones", _pgn=str(last)), source="universal")
    assert [s[0] for s in sellers(final)] == [o.seller for o in hits[(last - 1) * 60 :]]
    assert "pagination__next" not in final
    by_keyword = call(oxy, {"source": "ebay_search", "query": "Headphones", "start_page": 2})
    (result,) = by_keyword.json()["results"]
    assert [s[0] for s in sellers(result["content"])] == [o.seller for o in hits[60:120]]
    item_page = call(oxy, {"source": "ebay", "url": "https://www.ebay.com/itm/1"}).json()
    assert item_page["results"][0]["status_code"] == 404


@pytest.mark.parametrize("layout", ["card", "legacy", "legacy-split"])
def test_every_layout_renders_every_seller(
    oxy: OxylabsEmulator, catalogue: Catalogue, layout: str
) -> None:
    oxy.layout = layout
    hits = catalogue.search("Headphones", ANY_FILTERS)[:240]
    shown = sellers(ebay_page(oxy, search_url("Headphones", _ipg="240")))
    for offer, (name, count, pct) in zip(hits, shown, strict=True):
        assert (name, pct) == (offer.seller, offer.feedback_percent)
        if layout == "card":
            assert count == ebay_html.abbreviate_count(offer.feedback_score)
        else:
            assert count == f"{offer.feedback_score:,}"
    if layout == "card":
        assert {c[-1] for _, c, _ in shown} >= {"K", "M"}
        assert any(c.isdigit() for _, c, _ in shown)


def test_alternate_layout_flips_by_page(oxy: OxylabsEmulator) -> None:
    oxy.layout = "alternate"
    one = Listings(ebay_page(oxy, search_url("Headphones"))).items
    two = Listings(ebay_page(oxy, search_url("Headphones", _pgn="2"))).items
    assert "s-card" in one[1]["layout"] and "s-item" in two[1]["layout"]


def test_titles_are_escaped_and_links_point_at_items(
    oxy: OxylabsEmulator, catalogue: Catalogue
) -> None:
    hits = catalogue.search("Bluetooth", ANY_FILTERS)[:60]
    for layout in ("card", "legacy"):
        oxy.layout = layout
        items = Listings(ebay_page(oxy, search_url("Bluetooth"))).items[1:]
        assert [i["title"] for i in items] == [o.title for o in hits]
        assert all(
            f"https://www.ebay.com/itm/{o.item_id}?" in i["links"][0]
            for i, o in zip(items, hits, strict=True)
        )


@pytest.mark.parametrize(
    ("score", "shown"),
    [(812, "812"), (1000, "1K"), (12_000, "12K"), (154_843, "154.8K"), (999_999, "999.9K"),
     (1_234_567, "1.2M"), (2_000_000, "2M")],
)  # fmt: skip
def test_abbreviated_counts(catalogue: Catalogue, score: int, shown: str) -> None:
    offer = replace(catalogue.offers[0], feedback_score=score, feedback_percent="99.3")
    assert ebay_html.card_seller_text(offer) == f"{offer.seller} 99.3% positive ({shown})"


# -- faults and billing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [("429", "Too many requests"), ("500", "Internal Server Error"), ("524", "Timeout"),
     ("612", "Undefined Internal Error"), ("613", "Faulted After Too Many Retries")],
)  # fmt: skip
def test_http_faults_are_not_billed(oxy: OxylabsEmulator, kind: str, message: str) -> None:
    oxy.faults.add(kind, retry_after="7")
    reply = bestsellers(oxy)
    assert (reply.status, reply.json()) == (int(kind), {"message": message})
    assert reply.headers.get("Retry-After") == ("7" if kind == "429" else None)
    assert oxy.billed_results == {} and oxy.jobs == 0
    assert oxy.requests[-1].fault == kind
    assert bestsellers(oxy).status == 200  # used up


def test_result_613_and_partial_parse(oxy: OxylabsEmulator) -> None:
    oxy.faults.add("result-613")
    results = bestsellers(oxy, pages=2).json()["results"]
    assert [(r["status_code"], r["content"]) for r in results] == [(613, ""), (613, "")]
    assert oxy.billed_results == {"amazon_bestsellers": 0}
    oxy.faults.add("parse-12004")
    (partial,) = bestsellers(oxy).json()["results"]
    assert partial["content"]["parse_status_code"] == 12004
    assert len(partial["content"]["results"]) == 25
    assert oxy.billed_results == {"amazon_bestsellers": 1} and oxy.jobs == 2


def test_slow_and_timeout(oxy: OxylabsEmulator) -> None:
    oxy.faults.add("slow", delay=0.3)
    started = time.monotonic()
    assert bestsellers(oxy).status == 200
    assert time.monotonic() - started >= 0.3
    oxy.faults.add("timeout", delay=1.5)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        call(oxy, {"source": "amazon_bestsellers", "query": NODES[0]}, timeout=0.3)
    assert bestsellers(oxy).status == 200


def test_malformed_json_body(oxy: OxylabsEmulator) -> None:
    oxy.faults.add("malformed-json")
    reply = bestsellers(oxy)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    assert reply.body.startswith(b'{"results": [{"content": ')
    with pytest.raises(ValueError):
        reply.json()
    assert oxy.billed_results == {"amazon_bestsellers": 1}  # produced, then cut in transit


def test_ebay_content_faults_are_billed(oxy: OxylabsEmulator) -> None:
    url = search_url("Headphones", _ipg="240")
    oxy.faults.add("truncated-html")
    cut = ebay_page(oxy, url)
    assert "srp-results" in cut and "</ul>" not in cut and "</html>" not in cut
    oxy.faults.add("captcha")
    captcha = ebay_page(oxy, url)
    assert "<title>Security Measure | eBay</title>" in captcha
    assert 'action="/splashui/captcha"' in captcha and "s-card" not in captcha
    oxy.faults.add("empty")
    empty = ebay_page(oxy, url)
    assert "No exact matches found" in empty and not Listings(empty).items
    oxy.faults.add("empty")
    assert bestsellers(oxy).json()["results"][0]["content"]["results"] == []
    assert oxy.billed_results == {"ebay": 3, "amazon_bestsellers": 1}


def test_billing_over_a_mixed_run(oxy: OxylabsEmulator) -> None:
    bestsellers(oxy, pages=2)
    bestsellers(oxy, "404404", pages=2)
    ebay_page(oxy, search_url("Blender"))
    ebay_page(oxy, search_url("Blender"), source="universal")
    oxy.faults.add("429")
    oxy.faults.add("result-613", match="universal")
    assert bestsellers(oxy).status == 429
    call(oxy, {"source": "universal", "url": search_url("Lamp")})
    assert oxy.billed_results == {"amazon_bestsellers": 4, "ebay": 1, "universal": 1}
    assert oxy.jobs == 5
