"""Listing source ``ebay``: the Buy Browse API ``item_summary/search`` with exact feedback.

An application token (OAuth client credentials) is minted once and shared by every search of
the run; it is renewed shortly before it expires, and once after a 401 in case eBay revoked
it early. The token endpoint allows 1,000 calls a day, so a second 401 ends the run.

Paging is rebuilt from ``offset`` + ``limit`` rather than by following ``next``: the host
path of ``next`` is not confirmed (the spec's own examples lack ``/browse/``).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from collector_cli.errors import SourceError
from collector_cli.models import Listing, ListingPage, ListingQuery
from collector_cli.sources import ebay_query
from collector_cli.sources.base import SourceContext
from collector_cli.sources.http import HttpResponse, basic_auth, status_error
from collector_cli.sources.settings import HttpSettings, base_url, credentials, number

SCOPE = "https://api.ebay.com/oauth/api_scope"
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
TOKEN_PATH = "/identity/v1/oauth2/token"
RENEW_MARGIN_S = 300  # re-mint this long before expiry (eBay tokens live 7,200 s)
CREDENTIAL_HINT = "check COLLECTOR_EBAY_CLIENT_ID and COLLECTOR_EBAY_CLIENT_SECRET"
FILTER_WARNINGS = {12002, 12011, 12012, 12517}  # a filter was ignored: results are unfiltered
QUOTA_ERROR = 2001  # the daily call limit: retrying the same day does not help
MARKETPLACES = {"US": "EBAY_US", "GB": "EBAY_GB", "DE": "EBAY_DE", "CA": "EBAY_CA",
                "AU": "EBAY_AU"}  # fmt: skip


class EbayBrowse:
    name = "ebay"
    platform = "ebay"
    call_cost_micros = 0  # free, but every search counts against 5,000 calls a day
    token_requests = 1  # one application token per run, in the normal case

    def __init__(self, ctx: SourceContext) -> None:
        options = ctx.options
        self.settings = _settings(options)
        self.page_size = int(number(self.name, options, "page_size", 50, low=1, high=200))
        creds = credentials("ebay", self.name)
        self._basic = basic_auth(creds["client_id"], creds["client_secret"])
        self.base = base_url("ebay")
        self.http = self.settings.client(self.name, ctx.meter)
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        _settings(options)
        number(cls.name, options, "page_size", 50, low=1, high=200)

    @classmethod
    def check_credentials(cls) -> None:
        credentials("ebay", cls.name)

    @classmethod
    def plan_search(cls, options: dict[str, Any], pages: int) -> tuple[int, int, int]:
        return pages, 0, pages

    # -- token ---------------------------------------------------------------------------------

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached token, minted when missing, near expiry or equal to ``stale``."""
        async with self._token_lock:  # concurrent searches wait for one mint
            fresh = time.monotonic() < self._expires_at
            if self._token is not None and self._token != stale and fresh:
                return self._token
            response = await self.http.request(
                "POST",
                self.base + TOKEN_PATH,
                "eBay token request",
                headers={"Authorization": self._basic},
                data={"grant_type": "client_credentials", "scope": SCOPE},
            )
            if response.status in (400, 401, 403):
                raise SourceError(
                    f"eBay rejected the client credentials (HTTP {response.status}:"
                    f" {_oauth_error(response)}): {CREDENTIAL_HINT}",
                    fatal=True,
                )
            if not 200 <= response.status < 300:
                raise status_error(response, "eBay token request", _oauth_error(response))
            data = response.json("eBay token request")
            token = data.get("access_token") if isinstance(data, dict) else None
            if not token:
                raise SourceError("eBay token request: no access_token in the answer")
            try:
                lifetime = float(data.get("expires_in", 7200))
            except (TypeError, ValueError):
                lifetime = 7200.0
            margin = min(RENEW_MARGIN_S, lifetime / 10)
            self._token, self._expires_at = str(token), time.monotonic() + lifetime - margin
            return self._token

    # -- search --------------------------------------------------------------------------------

    def params(self, query: ListingQuery) -> dict[str, str]:
        f = query.filters
        filters = []
        ids = ebay_query.condition_ids(f.condition)
        if ids:
            filters.append("conditionIds:{" + "|".join(ids) + "}")
        low, high = ebay_query.price_band(query)
        if low is not None or high is not None:
            filters.append(f"price:[{low or ''}..{high or ''}]")
            filters.append("priceCurrency:USD")
        if f.domestic_only:
            filters.append(f"itemLocationCountry:{f.country}")
        if f.free_shipping:
            filters.append("maxDeliveryCost:0")
            filters.append(f"deliveryCountry:{f.country}")
        params = {
            "q": ebay_query.keywords(query.product.title),
            "limit": str(self.page_size),
            "offset": str((query.page - 1) * self.page_size),
        }
        if filters:
            params["filter"] = ",".join(filters)
        return params

    async def search(self, query: ListingQuery) -> ListingPage:
        what = f"eBay search page {query.page} for {query.product.key}"
        offset = (query.page - 1) * self.page_size
        if offset >= 10_000:  # eBay serves at most 10,000 items per search
            return ListingPage([], has_more=False)
        token = await self._access_token()
        response = await self._search(query, token, what)
        if response.status == 401:  # revoked or expired early: one fresh token, then give up
            self.http.meter.record(self.name, failures=1, retries=1)
            token = await self._access_token(stale=token)
            response = await self._search(query, token, what)
            if response.status == 401:
                raise SourceError(
                    f"eBay rejected a fresh access token ({_api_error(response)[1]}):"
                    f" {CREDENTIAL_HINT}",
                    fatal=True,
                )
        data = self._checked(response, what)
        ignored = [w for w in data.get("warnings") or []
                   if isinstance(w, dict) and w.get("errorId") in FILTER_WARNINGS]  # fmt: skip
        if ignored:  # an ignored filter would collect sellers outside the preset's filters
            code, message = _first_error(ignored)
            raise SourceError(f"{what}: eBay ignored a filter (warning {code}: {message})",
                              fatal=True)  # fmt: skip
        try:
            listings = [x for x in map(self._listing, data.get("itemSummaries") or []) if x]
        except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise SourceError(
                f"{what}: unexpected item in the answer ({type(exc).__name__})", retryable=True
            ) from None
        total = data.get("total") if isinstance(data.get("total"), int) else None
        has_more = bool(data.get("next")) or (total is not None and offset + self.page_size < total)
        return ListingPage(listings, has_more=has_more and bool(listings), total=total)

    async def _search(self, query: ListingQuery, token: str, what: str) -> HttpResponse:
        return await self.http.request(
            "GET",
            self.base + SEARCH_PATH,
            what,
            quota=True,
            params=self.params(query),
            headers={
                "Authorization": f"Bearer {token}",
                "X-EBAY-C-MARKETPLACE-ID": MARKETPLACES.get(query.filters.country, "EBAY_US"),
            },
        )

    def _checked(self, response: HttpResponse, what: str) -> dict[str, Any]:
        if response.status == 403:  # the keyset may not use the Browse API: no search can work
            raise SourceError(
                f"eBay refused the search (HTTP 403: {_api_error(response)[1]}): this keyset has"
                " no access to the Buy Browse API",
                fatal=True,
            )
        if response.status == 429:
            code, message = _api_error(response)
            if code == QUOTA_ERROR and response.retry_after is None:
                raise SourceError(
                    "eBay daily call limit reached (errorId 2001: the Browse API allows"
                    " 5,000 calls a day; it resets at midnight US Pacific time)",
                    fatal=True,
                )
            raise status_error(response, what, f"errorId {code}: {message}")
        if response.status != 200:
            code, message = _api_error(response)
            raise status_error(response, what, f"errorId {code}: {message}" if code else message)
        data = response.json(what)
        if not isinstance(data, dict):
            raise SourceError(f"{what}: the answer is not a JSON object", retryable=True)
        return data

    def _listing(self, item: Any) -> Listing | None:
        if not isinstance(item, dict):
            return None
        seller = item.get("seller") or {}
        name = seller.get("username")
        if not name:
            return None
        try:
            percent = float(seller["feedbackPercentage"])
        except (KeyError, TypeError, ValueError):
            percent = None
        score = seller.get("feedbackScore")
        price = item.get("price") or {}
        shipping = item.get("shippingOptions") or []
        return Listing(
            listing_id=str(item.get("legacyItemId") or item.get("itemId") or ""),
            title=str(item.get("title") or ""),
            price_micros=_micros(price.get("value")),
            condition=str(item.get("condition") or "").lower() or "unknown",
            free_shipping=any(_is_free(option) for option in shipping),
            country=str((item.get("itemLocation") or {}).get("country") or ""),
            seller_name=str(name),
            feedback_score=None if isinstance(score, bool) or not isinstance(score, int) else score,
            feedback_score_approx=False,
            feedback_percent=percent,
            url=_web_url(item.get("itemWebUrl")),
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def _settings(options: dict[str, Any]) -> HttpSettings:
    return HttpSettings.read("ebay", options, timeout_s=30, rate=10, price=0)


def _web_url(value: Any) -> str | None:
    """The listing's page on eBay; anything that is not an http(s) address is dropped."""
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return value
    return None


def _is_free(option: Any) -> bool:
    """A shipping option with a stated cost of zero; an absent cost is not free (spec)."""
    if not isinstance(option, dict) or not isinstance(option.get("shippingCost"), dict):
        return False
    value = option["shippingCost"].get("value")
    return value is not None and _micros(value) == 0


def _micros(value: Any) -> int:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return 0
    return int(amount * 1_000_000) if amount.is_finite() else 0


def _first_error(errors: Any) -> tuple[int | None, str]:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return first.get("errorId"), str(first.get("message") or first.get("longMessage") or "")
    return None, ""


def _api_error(response: HttpResponse) -> tuple[int | None, str]:
    try:
        data = response.json("")
    except SourceError:
        return None, response.text(120)
    if isinstance(data, dict):
        code, message = _first_error(data.get("errors"))
        if code is not None or message:
            return code, message[:200]
    return None, response.text(120)


def _oauth_error(response: HttpResponse) -> str:
    try:
        data = response.json("")
    except SourceError:
        return response.text(120)
    if isinstance(data, dict) and data.get("error"):
        return f"{data['error']}: {data.get('error_description', '')}".strip(": ")[:200]
    return response.text(120)
