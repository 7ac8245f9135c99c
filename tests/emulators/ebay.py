"""A loopback emulator of eBay's OAuth client-credentials endpoint and the Buy Browse search.

It follows /work/shared/reference/source-apis.md section 2: the same status codes, error
envelopes, paging rules and filter grammar a real client meets, so an adapter that passes
against it has handled what the live service does (expiring tokens, a daily quota, warnings
instead of errors for bad filters, ``shippingOptions`` that may be absent). Listings come from
the shared :class:`Catalogue`, so the ground truth a test checks against is the data served.

Faults: kinds starting with ``token-`` (``token-500``, ``token-invalid-client``) fire only on
the token endpoint; every other kind fires only on search, so ``faults.add("token-500")`` fails
the next token call however many searches come first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from aiohttp import web

from .catalogue import Catalogue, Offer
from .ebay_filters import browse_error, parse_filter
from .server import RECORDED, BackgroundServer, Fault, Recorded

TOKEN_PATH = "/identity/v1/oauth2/token"
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
API_SCOPE = "https://api.ebay.com/oauth/api_scope"
KNOWN_SCOPES = frozenset({API_SCOPE, f"{API_SCOPE}/buy.item.bulk"})
PAGE_BASES = {
    "browse": "https://api.ebay.com" + SEARCH_PATH,
    "typo": "https://api.ebay.com/buy/v1/item_summary/search",  # as the spec's examples print it
}
MAX_Q = 100
RESULT_WINDOW = 10_000
SORTS = frozenset({"price", "-price", "distance", "newlyListed", "endingSoonest"})
FIELDGROUPS = frozenset({"MATCHING_ITEMS", "EXTENDED", "ASPECT_REFINEMENTS",
                         "BUYING_OPTION_REFINEMENTS", "CATEGORY_REFINEMENTS",
                         "CONDITION_REFINEMENTS", "FULL"})  # fmt: skip
CATEGORIES = {"Headphones": ("112529", "Headphones"), "Blender": ("133704", "Blenders"),
              "Building Set": ("183446", "Building Toys"), "Yoga Mat": ("158932", "Yoga Mats"),
              "Phone Case": ("20349", "Cases, Covers & Skins"),
              "Desk Lamp": ("112581", "Lamps")}  # fmt: skip

INVALID_TOKEN = {"errorId": 1001, "domain": "OAuth", "category": "REQUEST",
                 "message": "Invalid access token",
                 "longMessage": "Invalid access token. Check the value of the Authorization HTTP "
                                "request header."}  # fmt: skip
TOO_MANY = {"errorId": 2001, "domain": "ACCESS", "category": "REQUEST",
            "message": "Too many requests.",
            "longMessage": "The request limit has been reached for the resource."}  # fmt: skip
INSUFFICIENT_SCOPE = {
    "errorId": 1100,
    "domain": "ACCESS",
    "category": "REQUEST",
    "message": "Access denied",
    "longMessage": "Insufficient permissions to fulfill the request.",
}
MSG_NO_QUERY = "The call must have a valid 'q', 'category_ids', 'epid' or 'gtin' query parameter."
MSG_LIMIT_RANGE = "The 'limit' value should be between 1 and 200 (inclusive)."


def _errors(status: int, *errors: dict[str, Any], headers: dict[str, str] | None = None):
    """eBay's error envelope: always a list, even for one error."""
    return web.json_response({"errors": list(errors)}, status=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    """RFC 6749 §5.2 body, which eBay's identity service uses (exact texts unconfirmed)."""
    return web.json_response({"error": error, "error_description": description}, status=status)


def _int_param(raw: str | None, default: int) -> int | None:
    """eBay takes only plain decimal integers here; ``None`` means "not an integer"."""
    if raw is None:
        return default
    text = raw.strip()
    body = text[1:] if text.startswith("-") else text
    return int(text) if body.isdigit() else None


def _money(value: Any) -> dict[str, str]:
    return {"value": f"{value:.2f}", "currency": "USD"}


class EbayEmulator(BackgroundServer):
    """eBay identity + Browse search on 127.0.0.1; attributes are read on every request."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        client_id: str = "ebay-client",
        client_secret: str = "ebay-secret",
        token_ttl: float = 7200,
        daily_quota: int = 5000,
    ) -> None:
        super().__init__(self._build_app)
        self.catalogue = catalogue
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.daily_quota = daily_quota
        self.next_style = "browse"  # "browse" | "typo" | "self": what next/prev/href point at
        self.slow_delay = 0.5  # used by "slow"/"timeout" faults that carry no delay
        self.timeout_delay = 10.0
        self.token_calls = 0
        self.search_calls = 0  # authorised search calls ever; quota_used is today's count
        self.quota_used = 0  # settable, so a test can start a run near the daily limit
        self.issued_tokens: dict[str, float] = {}  # token → monotonic expiry
        self.token_scopes: dict[str, frozenset[str]] = {}

    def __enter__(self) -> EbayEmulator:
        self.start()
        return self

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(TOKEN_PATH, self._token)
        app.router.add_get(SEARCH_PATH, self._search)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # -- faults --------------------------------------------------------------------------------

    def take_fault(self, request: web.Request) -> Fault | None:
        """Like the harness's, but token faults and search faults never use each other up."""
        on_token = request.path == TOKEN_PATH
        entry: Recorded = request[RECORDED]
        text = f"{entry.path}?{request.query_string}\n{entry.body.decode('utf-8', 'replace')}"
        plan = self.faults
        with plan.lock:
            for fault in plan.faults:
                if fault.kind.startswith("token-") != on_token:
                    continue
                if fault.match is not None and fault.match not in text:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        plan.faults.remove(fault)
                entry.fault = fault.kind
                return fault
        return None

    @staticmethod
    def _unknown_fault(fault: Fault) -> web.Response:
        """A misspelt fault kind fails loudly instead of silently not firing."""
        return web.Response(status=500, text=f"emulator: unknown fault kind {fault.kind!r}")

    # -- identity ------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        fault = self.take_fault(request)
        if fault is not None:
            if fault.kind == "token-500":
                return _oauth_error(500, "server_error", "internal server error")
            if fault.kind != "token-invalid-client":
                return self._unknown_fault(fault)
        if fault is not None or not self._client_ok(request.headers.get("Authorization", "")):
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if request.content_type != "application/x-www-form-urlencoded":
            return _oauth_error(
                400, "invalid_request", "request content type must be x-www-form-urlencoded"
            )
        form = parse_qs((await request.read()).decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return _oauth_error(400, "unsupported_grant_type", "grant type is not supported")
        scopes = frozenset(" ".join(form.get("scope", [])).split())
        if not scopes or not scopes <= KNOWN_SCOPES:
            return _oauth_error(
                400, "invalid_scope", "the requested scope is invalid, unknown, or malformed"
            )
        token = "v^1.1#i^1#p^1#r^0#I^3#f^0#t^" + secrets.token_urlsafe(48)
        ttl = self.token_ttl
        self.issued_tokens[token] = time.monotonic() + ttl
        self.token_scopes[token] = scopes
        body = {"access_token": token, "expires_in": int(ttl)}
        return web.json_response({**body, "token_type": "Application Access Token"})

    def _client_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.client_id}:{self.client_secret}"

    def _bearer(self, request: web.Request) -> str | None:
        """The request's token if it is one we issued and it has not expired."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in self.issued_tokens:
            return None
        return token if time.monotonic() < self.issued_tokens[token] else None

    # -- search --------------------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.Response:
        token = self._bearer(request)
        if token is None:
            return _errors(401, INVALID_TOKEN)
        if API_SCOPE not in self.token_scopes.get(token, frozenset()):
            return _errors(403, INSUFFICIENT_SCOPE)
        self.search_calls += 1
        self.quota_used += 1
        if self.quota_used > self.daily_quota:
            return _errors(429, TOO_MANY)
        fault = self.take_fault(request)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind not in ("malformed-json", "empty"):
            early = await self._search_fault(fault, token)
            if early is not None:
                return early
        status, body = self._search_body(request, empty=kind == "empty")
        if kind == "malformed-json" and status == 200:
            text = json.dumps(body)
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return web.json_response(body, status=status)

    async def _search_fault(self, fault: Fault, token: str) -> web.Response | None:
        """The response a fault replaces the answer with; ``None`` to answer normally after."""
        retry = {"Retry-After": fault.retry_after} if fault.retry_after else None
        if fault.kind == "revoke-token":
            self.issued_tokens.pop(token, None)
            return _errors(401, INVALID_TOKEN)
        if fault.kind == "429":
            return _errors(429, TOO_MANY, headers=retry)
        if fault.kind == "403":  # a keyset without Buy Browse access (reference §2.5)
            denied = {"errorId": 1100, "domain": "ACCESS", "category": "REQUEST",
                      "message": "Access denied", "longMessage": "Insufficient permissions to"
                      " fulfill the request."}  # fmt: skip
            return _errors(403, denied)
        if fault.kind == "500":
            error = browse_error(
                12000,
                "There was a problem with an eBay internal system or process. Contact eBay "
                "developer support for assistance.",
                category="APPLICATION",
            )
            return _errors(500, error)
        if fault.kind in ("502", "503"):
            reason = "Bad Gateway" if fault.kind == "502" else "Service Unavailable"
            return web.Response(status=int(fault.kind), text=reason, headers=retry)
        if fault.kind in ("slow", "timeout"):
            default = self.slow_delay if fault.kind == "slow" else self.timeout_delay
            await asyncio.sleep(fault.delay or default)
            return None
        return self._unknown_fault(fault)

    def _search_body(self, request: web.Request, *, empty: bool) -> tuple[int, dict[str, Any]]:
        """Validate the parameters as eBay does, then build one ``SearchPagedCollection``."""
        query = request.query
        q = (query.get("q") or "").strip()[:MAX_Q]
        has_other_key = any(query.get(k) for k in ("category_ids", "epid", "gtin"))
        errors: list[dict[str, Any]] = []
        if not q and not has_other_key:
            errors.append(browse_error(12001, MSG_NO_QUERY))
        limit = _int_param(query.get("limit"), 50)
        offset = _int_param(query.get("offset"), 0)
        raw_limit, raw_offset = query.get("limit", ""), query.get("offset", "")
        if limit is None:
            errors.append(browse_error(12007, "The 'limit' value must be an integer value.",
                                       parameters=[("limit", raw_limit)]))  # fmt: skip
        elif not 1 <= limit <= 200:
            errors.append(browse_error(12006, MSG_LIMIT_RANGE, parameters=[("limit", raw_limit)]))
        if offset is None:
            errors.append(browse_error(12005, "The 'offset' value must be an integer.",
                                       parameters=[("offset", raw_offset)]))  # fmt: skip
        elif offset < 0:
            errors.append(browse_error(12004, "The 'offset' value cannot be negative.",
                                       parameters=[("offset", raw_offset)]))  # fmt: skip
        elif offset >= RESULT_WINDOW:
            errors.append(browse_error(12029, "The 'offset' value must be less than 10,000.",
                                       parameters=[("offset", raw_offset)]))  # fmt: skip
        elif limit is not None and 1 <= limit <= 200 and offset % limit:
            errors.append(browse_error(
                12515, "The 'offset' value must be either zero or a multiple of the 'limit' value.",
                parameters=[("offset", raw_offset), ("limit", str(limit))]))  # fmt: skip
        parsed = parse_filter(query.get("filter"))
        errors.extend(parsed.errors)
        if errors:
            return 400, {"errors": errors}
        assert limit is not None and offset is not None
        warnings = list(parsed.warnings)
        hits: list[Offer] = []
        if not empty and q and not parsed.excludes_fixed_price:
            hits = self.catalogue.search(q, parsed.search_filters())
        sort = query.get("sort")
        if sort in ("price", "-price"):
            hits = sorted(hits, key=lambda o: o.price, reverse=sort == "-price")
        elif sort is not None and sort not in SORTS:
            warnings.append(browse_error(12008, "The 'sort' value is invalid."))
        groups = [g.strip() for g in query.get("fieldgroups", "").split(",") if g.strip()]
        if not set(groups) <= FIELDGROUPS:
            warnings.append(browse_error(12016, "The 'fieldgroups' value is invalid."))
        body = self._page(request, hits, limit, offset)
        if warnings:
            body["warnings"] = warnings
        return 200, body

    def _page(
        self, request: web.Request, hits: list[Offer], limit: int, offset: int
    ) -> dict[str, Any]:
        base = PAGE_BASES.get(self.next_style, self.url + SEARCH_PATH)
        kept = [(k, v) for k, v in request.query.items() if k not in ("limit", "offset")]

        def link(at: int) -> str:
            return f"{base}?{urlencode([*kept, ('limit', str(limit)), ('offset', str(at))])}"

        total = len(hits)
        body: dict[str, Any] = {"href": link(offset), "total": total}
        end = offset + limit
        if end < total and end < RESULT_WINDOW:
            body["next"] = link(end)
        body["limit"] = limit
        body["offset"] = offset
        if offset > 0:
            body["prev"] = link(max(0, offset - limit))
        page = hits[offset : min(end, RESULT_WINDOW)]
        if page:
            body["itemSummaries"] = [self._item(offer) for offer in page]
        return body

    @staticmethod
    def _item(offer: Offer) -> dict[str, Any]:
        """One ``ItemSummary``; the optional parts vary by a hash, never by chance."""
        legacy = offer.item_id
        h = hashlib.blake2b(legacy.encode(), digest_size=8).digest()
        noun = next((n for n in CATEGORIES if n in offer.title), None)
        category_id, category_name = CATEGORIES.get(noun or "", ("99", "Everything Else"))
        item: dict[str, Any] = {
            "itemId": f"v1|{legacy}|0",
            "legacyItemId": legacy,
            "title": offer.title[:80],
            "price": _money(offer.price),
            "condition": offer.condition,
            "conditionId": offer.condition_id,
            "seller": {
                "username": offer.seller,
                "feedbackPercentage": offer.feedback_percent,
                "feedbackScore": offer.feedback_score,
                "sellerAccountType": "BUSINESS" if h[0] % 3 else "INDIVIDUAL",
            },
            "itemLocation": {"postalCode": f"{h[1] % 10}****", "country": offer.country},
            "buyingOptions": ["FIXED_PRICE"],
            "categories": [{"categoryId": category_id, "categoryName": category_name}],
            "itemWebUrl": f"https://www.ebay.com/itm/{legacy}",
            "itemHref": f"https://api.ebay.com/buy/browse/v1/item/v1%7C{legacy}%7C0",
        }
        if offer.free_shipping:
            item["shippingOptions"] = [{"shippingCostType": "FIXED", "shippingCost": _money(0)}]
        elif h[2] % 3:  # the rest carry no container at all: absent does not mean free
            cost = _money(3 + h[3] % 12 + 0.99)
            cost_type = "FIXED" if h[2] % 3 == 1 else "CALCULATED"
            item["shippingOptions"] = [{"shippingCostType": cost_type, "shippingCost": cost}]
        return item

    async def _not_found(self, request: web.Request) -> web.Response:
        error = {"errorId": 2002, "domain": "ACCESS", "category": "REQUEST",
                 "message": "Resource not found",
                 "longMessage": f"No resource at {request.method} {request.path}."}  # fmt: skip
        return _errors(404, error)
