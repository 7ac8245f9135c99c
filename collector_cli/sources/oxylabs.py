"""Oxylabs Web Scraper API (realtime ``POST /v1/queries``): Amazon Best Sellers as products.

The eBay search-page listing source (``oxylabs_ebay``) shares ``OxylabsClient``.

Tolerances for points the reference could not confirm: success may be 200 or 201 and ``job``
is optional; 612/613 are retried whether they come as the HTTP status or as a result's
``status_code``; ``price`` 0 or missing means "unknown" (it usually is, per the sample).
"""

from __future__ import annotations

import math
import re
from typing import Any

from collector_cli.errors import SourceError
from collector_cli.models import Category, Product, ProductPage, to_micros
from collector_cli.sources.base import SourceContext
from collector_cli.sources.http import (
    RETRYABLE_STATUSES,
    HttpResponse,
    basic_auth,
    status_error,
)
from collector_cli.sources.settings import HttpSettings, base_url, choice, credentials
from collector_cli.sources.usage import price_micros

AMAZON_PAGE_SIZE = 50  # Best Sellers shows the top 100 as two pages of 50
OK_PARSE_CODES = {12000, 12004, 12005}  # success and the two partial successes
CREDENTIAL_HINT = "check COLLECTOR_OXYLABS_USERNAME and COLLECTOR_OXYLABS_PASSWORD"


class OxylabsClient:
    """Sends jobs, checks the envelope and bills what Oxylabs bills (2xx/4xx results)."""

    def __init__(self, source: str, ctx: SourceContext, settings: HttpSettings) -> None:
        creds = credentials("oxylabs", source)
        self.source = source
        self.url = base_url("oxylabs") + "/v1/queries"
        self._headers = {"Authorization": basic_auth(creds["username"], creds["password"])}
        self.settings = settings
        self.http = settings.client(source, ctx.meter, on_unanswered=lambda: self._bill(1))

    async def query(self, payload: dict[str, Any], what: str) -> list[dict[str, Any]]:
        """The job's result entries; API-level failures raise with the right retry class."""
        response = await self.http.request(
            "POST", self.url, what, json=payload, headers=self._headers
        )
        if response.status in (401, 403):
            raise SourceError(
                f"Oxylabs rejected the credentials (HTTP {response.status}:"
                f" {_message(response)}): {CREDENTIAL_HINT}",
                fatal=True,
            )
        if response.status not in (200, 201, 202):
            raise status_error(response, f"{what}: Oxylabs", _message(response))
        try:
            data = response.json(f"{what}: Oxylabs")
        except SourceError:
            self._bill(1)  # a job answered 2xx but cut off in transit was still produced
            raise
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise SourceError(f"{what}: Oxylabs answer has no results list", retryable=True)
        self._bill(sum(1 for entry in results if _billed(entry)))
        for entry in results:
            _check_entry(entry, what)
        return results

    def _bill(self, results: int) -> None:
        self.http.meter.record(
            self.source,
            billed_results=results,
            cost_micros=price_micros(results, self.settings.price_per_1k),
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def _message(response: HttpResponse) -> str:
    """Oxylabs puts its reason in ``message`` or ``errors.message``; else a body excerpt."""
    try:
        data = response.json("")
    except SourceError:
        return response.text(120)
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, dict) and errors.get("message"):
            return str(errors["message"])[:200]
        if data.get("message"):
            return str(data["message"])[:200]
    return response.text(120)


def _status(entry: Any) -> int:
    if not isinstance(entry, dict):
        return 0
    try:
        return int(entry.get("status_code", 200))
    except (TypeError, ValueError):
        return 0


def _billed(entry: Any) -> bool:
    status = _status(entry)  # Oxylabs bills 2xx and 4xx targets, but not 429
    return 200 <= status < 300 or (400 <= status < 500 and status != 429)


def _check_entry(entry: Any, what: str) -> None:
    status = _status(entry)
    if 200 <= status < 300:
        return
    if status in RETRYABLE_STATUSES or status == 0:
        raise SourceError(f"{what}: Oxylabs job status {status or 'missing'}", retryable=True)
    raise SourceError(f"{what}: the target site answered {status}")


class OxylabsBestSellers:
    """Product source ``oxylabs``: ``amazon_bestsellers`` with the browse-node id as query.

    One job per Best Sellers page (50 products), so ``--max-products 30`` bills one result,
    not two; the top 100 is pages 1-2.
    """

    name = "oxylabs"

    def __init__(self, ctx: SourceContext) -> None:
        options = ctx.options
        self.settings = _settings(options)
        self.domain = str(options.get("domain", "com"))
        self.render = choice("oxylabs", options, "render", "html", ("html", "none"))
        self.geo_location = options.get("geo_location")
        self.client = OxylabsClient(self.name, ctx, self.settings)
        self.call_cost_micros = price_micros(1, self.settings.price_per_1k)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        _settings(options)
        choice("oxylabs", options, "render", "html", ("html", "none"))

    @classmethod
    def check_credentials(cls) -> None:
        credentials("oxylabs", cls.name)

    @classmethod
    def plan_products(cls, options: dict[str, Any], products: int) -> tuple[int, int]:
        """(requests, cost in micros) to list one category's ``products`` best sellers."""
        calls = math.ceil(min(products, 100) / AMAZON_PAGE_SIZE)
        return calls, calls * price_micros(1, _settings(options).price_per_1k)

    async def product_page(self, category: Category, page: int) -> ProductPage:
        payload: dict[str, Any] = {
            "source": "amazon_bestsellers",
            "domain": self.domain,
            "query": str(category.node_id),
            "start_page": page,
            "pages": 1,
            "parse": True,
        }
        if self.render != "none":
            payload["render"] = self.render
        if self.geo_location:
            payload["geo_location"] = str(self.geo_location)
        what = f"best sellers of {category.id} (node {category.node_id}) page {page}"
        results = await self.client.query(payload, what)
        if not results:
            raise SourceError(f"{what}: Oxylabs returned no result", retryable=True)
        content = results[0].get("content")
        if not isinstance(content, dict):
            raise SourceError(f"{what}: Oxylabs returned unparsed content", retryable=True)
        code = content.get("parse_status_code", 12000)
        if code not in OK_PARSE_CODES:
            raise SourceError(f"{what}: Oxylabs could not parse the page ({code})", retryable=True)
        items = content.get("results") or []
        products = [p for p in (_product(item) for item in items) if p is not None]
        try:
            last_page = int(content.get("pages") or page)
        except (TypeError, ValueError):
            last_page = page
        more = last_page > page or len(items) >= AMAZON_PAGE_SIZE  # `pages` is unconfirmed
        return ProductPage(products, has_more=bool(products) and page < 2 and more)

    async def aclose(self) -> None:
        await self.client.aclose()


def _settings(options: dict[str, Any]) -> HttpSettings:
    # Realtime answers may take minutes (Oxylabs asks for 180 s); the free plan allows 10/s.
    return HttpSettings.read("oxylabs", options, timeout_s=180, rate=10, price=0.40)


_PRICE_RE = re.compile(r"[\d,]+(?:\.\d+)?")


def _product(item: Any) -> Product | None:
    if not isinstance(item, dict) or not item.get("title"):
        return None
    key = str(item.get("asin") or item.get("url") or "").strip()
    if not key:
        return None
    try:
        rank = int(item.get("pos") or 0)
    except (TypeError, ValueError):
        rank = 0
    return Product(key, " ".join(str(item["title"]).split()), _price(item), rank)


def _price(item: dict[str, Any]) -> int | None:
    """Micro-dollars, or None when Amazon showed no price (0, empty or unreadable)."""
    value = item.get("price")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return to_micros(float(value))
    match = _PRICE_RE.search(str(item.get("price_str") or ""))
    if match:
        amount = float(match.group().replace(",", ""))
        return to_micros(amount) if amount > 0 else None
    return None
