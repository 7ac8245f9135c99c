"""Loopback emulator of the Oxylabs Web Scraper API, realtime ``POST /v1/queries``.

The real API is paid, rate limited and slow, so the collector's Oxylabs adapter is tested
against this server instead. It answers from the shared :class:`Catalogue`, so a correct
client finds exactly the sellers ``Catalogue.expected_sellers`` predicts, and it can be told
to misbehave the ways the real service is documented (or suspected) to: 401 bodies, 429,
5xx/6xx, a 613 inside a result, partial parses, captcha pages, cut-off bodies, slowness.

Sources served: ``amazon_bestsellers`` (parsed JSON or raw HTML), ``ebay``/``universal``
(an eBay search URL whose filters are applied) and ``ebay_search`` (keywords, no filters).

Billing follows Oxylabs' rule: a result entry is billed when its ``status_code`` is 2xx or
4xx; API-level failures (429, 5xx, 6xx) and results with a 6xx status are free.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from . import ebay_html
from .catalogue import BestSeller, Catalogue, SearchFilters
from .server import BackgroundServer, Fault

HTTP_FAULTS = {
    "429": "Too many requests",
    "500": "Internal Server Error",
    "524": "Timeout",
    "612": "Undefined Internal Error",
    "613": "Faulted After Too Many Retries",
}
CONTENT_FAULTS = ("result-613", "parse-12004", "malformed-json", "truncated-html", "captcha")
FAULT_KINDS = (*HTTP_FAULTS, *CONTENT_FAULTS, "empty", "slow", "timeout")
RATE_LIMIT = 12000  # the only documented example of x-ratelimit-internal-api-default-limit
EBAY_PAGE_SIZES = (60, 120, 240)
_FIRST_JOB_ID = 7_140_365_864_557_110_273  # the shape of a documented job id: 19 digits
_MALFORMED_PREFIX = '{"results": [{"content": '

Entry = dict[str, Any]


class _Rejected(Exception):
    """A request the API refuses; carries the status and JSON body it would answer with."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _bad_request(message: str) -> _Rejected:
    return _Rejected(400, {"errors": {"message": message}})


def _message(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers or None)


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _positive_int(payload: dict[str, Any], name: str, default: int) -> int:
    """``start_page``/``pages``: a positive int (digit strings too, as lenient APIs do)."""
    value = payload.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad_request(f"{name} must be a positive integer")
    return value


def _text(payload: dict[str, Any], name: str, default: str) -> str:
    value = payload.get(name)
    return value if isinstance(value, str) and value else default


def _price(text: str | None) -> Decimal | None:
    """A ``_udlo``/``_udhi`` bound; eBay ignores values it cannot read, and so do we."""
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _amazon_item(item: BestSeller) -> dict[str, Any]:
    """One parsed best seller. Rating and counts are stable made-up values per ASIN."""
    d = hashlib.blake2b(item.asin.encode(), digest_size=8).digest()
    price: float | int = float(item.price) if item.price else 0
    return {
        "pos": item.pos,
        "url": item.url,
        "asin": item.asin,
        "price": price,
        "title": item.title,
        "rating": round(3.5 + (d[0] % 16) / 10, 1),
        "currency": "USD",
        "is_prime": d[1] % 3 != 0,
        "price_str": f"${item.price:,.2f}" if item.price else "",
        "price_upper": price,
        "ratings_count": int.from_bytes(d[2:5], "little") % 60_000,
    }


def _amazon_html(node: str, items: list[BestSeller], found: bool) -> str:
    """The raw (``parse: false``) Best Sellers page: simple, but with the ASINs a parser needs."""
    if not found:
        return (
            "<!doctype html><html><head><title>Page Not Found</title></head><body>"
            "<h1>Sorry! We couldn't find that page.</h1></body></html>"
        )
    rows = "".join(
        f'<div id="gridItemRoot"><span class="zg-bdg-text">#{i.pos}</span>'
        f'<div class="p13n-sc-uncoverable-faceout" data-asin="{i.asin}">'
        f'<a class="a-link-normal" href="{escape(i.url)}">'
        f'<div class="_cDEzb_p13n-sc-css-line-clamp-3_g3dy1">{escape(i.title)}</div></a>'
        f'<span class="p13n-sc-price">{f"${i.price:,.2f}" if i.price else ""}</span>'
        "</div></div>"
        for i in items
    )
    return (
        "<!doctype html><html><head><title>Amazon.com Best Sellers</title></head><body>"
        f'<div id="zg" data-node="{escape(node)}"><div class="p13n-gridRow">{rows}</div></div>'
        "</body></html>"
    )


class OxylabsEmulator(BackgroundServer):
    """``POST /v1/queries`` on 127.0.0.1, answering from ``catalogue``.

    The plain attributes below are read on every request, so tests may change them
    between (or during) runs: ``success_status`` (200, or 201 as some clients see),
    ``include_job``, ``layout`` (see :mod:`ebay_html`), ``render_required`` and
    ``results_per_amazon_page``. ``billed_results`` (per source) and ``jobs`` count what
    the real service would bill and how many queries it accepted.
    """

    def __init__(
        self, catalogue: Catalogue, *, username: str = "oxy-user", password: str = "oxy-pass"
    ) -> None:
        super().__init__(self._make_app)
        self.catalogue = catalogue
        self.username = username
        self.password = password
        self.success_status = 200
        self.include_job = True
        self.layout = "card"
        self.render_required = False
        self.results_per_amazon_page = 50
        self.billed_results: dict[str, int] = {}
        self.jobs = 0

    def start(self) -> Self:
        super().start()
        return self

    def __enter__(self) -> Self:
        return self.start()

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/queries", self._queries)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _not_found(self, request: web.Request) -> web.Response:
        return _message(404, f"Not found: {request.method} {request.path}")

    # -- request handling ----------------------------------------------------------------------

    def _auth_error(self, request: web.Request) -> web.Response | None:
        """The three documented 401 answers, or None when the credentials are right."""
        header = request.headers.get("Authorization")
        if header is None:
            return _message(401, "Authorization header not provided")
        scheme, _, token = header.strip().partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError(scheme)
            user, sep, password = (
                base64.b64decode(token.strip(), validate=True).decode().partition(":")
            )
            if not sep:
                raise ValueError("no colon")
        except ValueError:  # covers binascii.Error and UnicodeDecodeError
            return _message(401, "Invalid authorization header")
        if (user, password) != (self.username, self.password):
            return _message(401, "Client not found")
        return None

    async def _queries(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        fault = self.take_fault(request)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind in ("slow", "timeout"):
            await asyncio.sleep(fault.delay)
        if fault is not None and kind in HTTP_FAULTS:
            return self._http_fault(fault)
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return _message(422, "Unprocessable Entity: the body is not valid JSON")
        if not isinstance(payload, dict):
            return _message(422, "Unprocessable Entity: the body must be a JSON object")
        source = payload.get("source")
        try:
            if source == "amazon_bestsellers":
                entries = self._amazon(payload, kind)
            elif source in ("ebay", "universal", "universal_ecommerce"):
                entries = self._ebay_url(payload, source, kind)
            elif source == "ebay_search":
                entries = self._ebay_search(payload, kind)
            else:
                raise _bad_request(f"Unsupported source: {source}")
        except _Rejected as exc:
            return web.json_response(exc.body, status=exc.status)
        return self._answer(payload, entries, kind)

    def _http_fault(self, fault: Fault) -> web.Response:
        """API-level failures: nothing ran, nothing is billed."""
        headers: dict[str, str] = {}
        if fault.kind == "429":
            headers = self._rate_headers(remaining=0)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
        return _message(int(fault.kind), HTTP_FAULTS[fault.kind], **headers)

    def _rate_headers(self, remaining: int | None = None) -> dict[str, str]:
        if remaining is None:
            remaining = max(RATE_LIMIT - self.jobs, 0)
        return {
            "x-ratelimit-internal-api-default-limit": str(RATE_LIMIT),
            "x-ratelimit-internal-api-default-remaining": str(remaining),
        }

    def _answer(
        self, payload: dict[str, Any], entries: list[Entry], kind: str | None
    ) -> web.Response:
        """Wrap the page entries in the realtime envelope, count the job and the billing."""
        self.jobs += 1
        job_id = str(_FIRST_JOB_ID + self.jobs)
        now = datetime.now(UTC).replace(microsecond=0)
        created, updated = _timestamp(now - timedelta(seconds=2)), _timestamp(now)
        stamps = {"created_at": created, "updated_at": updated, "job_id": job_id}
        results = [{**entry, **stamps} for entry in entries]  # "content" stays the first key
        if kind == "result-613":
            for result in results:
                result.update(content="", status_code=613)
        source = str(payload["source"])
        # 2xx and 4xx targets are billed, 429 is not; a body cut in transit was still produced.
        billed = sum(1 for r in results if r["status_code"] // 100 in (2, 4)
                     and r["status_code"] != 429)  # fmt: skip
        self.billed_results[source] = self.billed_results.get(source, 0) + billed
        body: dict[str, Any] = {"results": results}
        if self.include_job:
            echoed = ("query", "url", "domain", "start_page", "pages", "parse", "render")
            body["job"] = {
                "id": job_id,
                "status": "done",
                "source": source,
                **{name: payload.get(name) for name in echoed},
                "created_at": created,
                "updated_at": updated,
                "statuses": [],
            }
        headers = {"x-oxylabs-job-id": job_id, **self._rate_headers()}
        if kind == "malformed-json":
            text = json.dumps(body)
            cut = text[: max(len(_MALFORMED_PREFIX) + 16, len(text) // 2)]
            return web.Response(text=cut, content_type="application/json", headers=headers)
        return web.json_response(body, status=self.success_status, headers=headers)

    # -- sources -------------------------------------------------------------------------------

    def _amazon(self, payload: dict[str, Any], kind: str | None) -> list[Entry]:
        """One entry per page; 50 per page (top 100 = 2 pages), 404 + 12002 for unknown nodes."""
        node = payload.get("query")
        if isinstance(node, bool) or not isinstance(node, str | int) or not str(node).strip():
            raise _bad_request("query is required for amazon_bestsellers")
        node = str(node).strip()
        if self.render_required and payload.get("render") != "html":
            raise _Rejected(400, {"message": "render is required for amazon_bestsellers"})
        domain = _text(payload, "domain", "com")
        start = _positive_int(payload, "start_page", 1)
        pages = _positive_int(payload, "pages", 1)
        parse = bool(payload.get("parse", False))
        items = self.catalogue.bestsellers(node)
        size = max(1, int(self.results_per_amazon_page))
        total_pages = -(-len(items) // size)
        entries = []
        for page in range(start, start + pages):
            url = f"https://www.amazon.{domain}/Best-Sellers/zgbs/x/{node}/?pg={page}"
            chunk = items[(page - 1) * size : page * size]
            status, parse_code = (200, 12000) if items else (404, 12002)
            if kind == "empty":
                chunk = []
            elif kind == "parse-12004" and items:
                chunk, parse_code = chunk[: len(chunk) // 2], 12004
            content: Any
            if parse:
                content = {
                    "url": url,
                    "page": page,
                    "pages": total_pages,
                    "query": node,
                    "results": [_amazon_item(i) for i in chunk],
                    "parse_status_code": parse_code,
                }
            else:
                content = _amazon_html(node, chunk, found=bool(items))
            entries.append({"content": content, "page": page, "url": url, "status_code": status})
            entries[-1]["parser_type"] = ""  # as in the documented sample
        return entries

    def _ebay_url(self, payload: dict[str, Any], source: str, kind: str | None) -> list[Entry]:
        """``ebay``/``universal``: an eBay search URL, its filters mapped onto the catalogue."""
        url = payload.get("url")
        if not isinstance(url, str) or not url.strip():
            raise _bad_request(f"url is required for {source}")
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        is_ebay = host == "ebay.com" or host.endswith(".ebay.com")
        if not (is_ebay and parts.path.startswith("/sch/") and parts.path.endswith("/i.html")):
            return [self._ebay_entry(ebay_html.not_found_page(), url, 1, 404, kind)]
        params = parse_qsl(parts.query, keep_blank_values=True)
        first: dict[str, str] = {}
        for key, value in params:
            first.setdefault(key, value)
        conditions = [c for c in first.get("LH_ItemCondition", "").split("|") if c.strip()]
        filters = SearchFilters(
            condition_ids=frozenset(c.strip() for c in conditions) if conditions else None,
            free_shipping=first.get("LH_Free") == "1",
            country="US" if first.get("LH_PrefLoc") == "1" else None,
            price_low=_price(first.get("_udlo")),
            price_high=_price(first.get("_udhi")),
        )
        ipg = first.get("_ipg", "")
        size = int(ipg) if ipg.isdigit() and int(ipg) in EBAY_PAGE_SIZES else 60
        pgn = first.get("_pgn", "")
        page = int(pgn) if pgn.isdigit() and int(pgn) >= 1 else 1

        def page_url(number: int) -> str:
            rest = [(k, v) for k, v in params if k != "_pgn"]
            return urlunsplit(parts._replace(query=urlencode([*rest, ("_pgn", str(number))])))

        html = self._search_html(first.get("_nkw", ""), filters, page, size, page_url, kind)
        return [self._ebay_entry(html, url, 1, 200, kind)]

    def _ebay_search(self, payload: dict[str, Any], kind: str | None) -> list[Entry]:
        """``ebay_search``: keywords only (no filters), 60 per page, one entry per page."""
        query = payload.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _bad_request("query is required for ebay_search")
        domain = _text(payload, "domain", "com")
        start = _positive_int(payload, "start_page", 1)
        pages = _positive_int(payload, "pages", 1)
        filters = SearchFilters(condition_ids=None, free_shipping=False, country=None)

        def page_url(number: int) -> str:
            return f"https://www.ebay.{domain}/sch/i.html?" + urlencode(
                {"_nkw": query, "_pgn": number}
            )

        entries = []
        for page in range(start, start + pages):
            html = self._search_html(query, filters, page, 60, page_url, kind)
            entries.append(self._ebay_entry(html, page_url(page), page, 200, kind))
        return entries

    def _search_html(
        self,
        query: str,
        filters: SearchFilters,
        page: int,
        size: int,
        page_url: Callable[[int], str],
        kind: str | None,
    ) -> str:
        """The search page for one page of hits; past the last page it is the no-matches page."""
        hits = [] if kind == "empty" else self.catalogue.search(query, filters)
        more = page * size < len(hits)
        return ebay_html.search_page(
            query=query,
            offers=hits[(page - 1) * size : page * size],
            total=len(hits),
            page=page,
            layout=self.layout,
            next_url=page_url(page + 1) if more else None,
        )

    @staticmethod
    def _ebay_entry(html: str, url: str, page: int, status: int, kind: str | None) -> Entry:
        """One raw-HTML result entry, with the content-level faults applied."""
        if kind == "captcha":
            html, status = ebay_html.captcha_page(), 200
        elif kind == "truncated-html":
            html = ebay_html.truncate_listing(html)
        return {"content": html, "page": page, "url": url, "status_code": status}
