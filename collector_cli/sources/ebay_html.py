"""Reading sellers off an eBay search-results page, in both layouts eBay serves.

- current ``li.s-card``: a seller row such as ``shopname 99.3% positive (154.8K)``, where
  counts from a thousand up are abbreviated, so the score is stored as approximate;
- legacy ``li.s-item``: ``shopname (12,345) 99.5%`` in ``.s-item__seller-info-text`` (or
  split over ``__field-0``/``__field-1``), exact.

A captcha interstitial arrives with HTTP 200 and a page that is cut off mid-way still parses;
both raise a retryable error rather than pass for "no sellers" or "these few sellers".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from collector_cli.errors import SourceError
from collector_cli.models import Listing

_CARD_SELLER = re.compile(
    r"^\s*(?P<name>\S+)\s+(?P<pct>\d+(?:\.\d+)?)%\s*positive\s*\((?P<count>[\d,.]+\s*[KM]?)\)",
    re.IGNORECASE,
)
_LEGACY_SELLER = re.compile(r"^\s*(?P<name>\S+)\s+\((?P<count>[\d,]+)\)\s+(?P<pct>[\d.]+)%")
_ITEM_ID = re.compile(r"/itm/(?:[^/?#]+/)?(\d{6,})")
_PRICE = re.compile(r"[\d,]+(?:\.\d+)?")
_CAPTCHA_MARKS = ("splashui/captcha", "security measure | ebay", "g-recaptcha", "px-captcha")


@dataclass(frozen=True, slots=True)
class SearchPage:
    listings: list[Listing]
    has_more: bool
    layout: str


def parse_count(text: str) -> tuple[int, bool]:
    """``12,345`` → (12345, exact); ``154.8K`` → (154800, approximate); ``1.2M`` likewise."""
    text = text.replace(",", "").replace(" ", "").upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    number = float(text[:-1] if scale > 1 else text)
    return round(number * scale), scale > 1


@dataclass(frozen=True, slots=True)
class Known:
    """What the search URL asked for, which the page does not repeat per listing."""

    condition: str
    country: str
    free_shipping: bool


def parse_search_page(
    html: str, what: str, *, condition: str, country: str, free_shipping: bool
) -> SearchPage:
    """Listings with their sellers; raises SourceError for captcha and truncated pages."""
    lowered = html[:20_000].lower()
    if any(mark in lowered for mark in _CAPTCHA_MARKS):
        raise SourceError(f"{what}: eBay served a captcha page", retryable=True)
    if "</html>" not in html[-2_000:].lower():
        raise SourceError(f"{what}: the eBay page was cut off ({len(html)} bytes)", retryable=True)
    tree = LexborHTMLParser(html)
    cards = tree.css("li.s-card")
    layout = "card"
    if not cards:
        cards = tree.css("li.s-item")
        layout = "legacy"
    known = Known(condition, country, free_shipping)
    listings = []
    for node in cards:
        try:
            listing = _card(node, known) if layout == "card" else _legacy(node, known)
        except (ValueError, ArithmeticError):
            listing = None  # an unreadable count or price: skip the card, keep the page
        if listing is not None:  # ads and "Shop on eBay" fillers have no seller
            listings.append(listing)
    next_link = tree.css_first("a.pagination__next[href]")
    has_more = next_link is not None and next_link.attributes.get("aria-disabled") != "true"
    return SearchPage(listings, has_more, layout)


def _card(node: LexborNode, known: Known) -> Listing | None:
    for row in node.css(".s-card__attribute-row"):
        match = _CARD_SELLER.match(row.text(separator=" "))
        if match:
            score, approx = parse_count(match["count"])
            title = _text(node, ".s-card__title .su-styled-text.primary", ".s-card__title")
            return _listing(node, title, match["name"], score, approx, float(match["pct"]),
                            _text(node, ".s-card__price"), known)  # fmt: skip
    return None


def _legacy(node: LexborNode, known: Known) -> Listing | None:
    info = node.css_first(".s-item__seller-info-text")
    if info is None:
        return None
    fields = info.css("[class*='s-item__seller-info-text__field']")
    text = " ".join(f.text() for f in fields) if fields else info.text()
    match = _LEGACY_SELLER.match(" ".join(text.split()))
    if not match:
        return None
    score, _ = parse_count(match["count"])
    title = _text(node, ".s-item__title")
    return _listing(node, title, match["name"], score, False, float(match["pct"]),
                    _text(node, ".s-item__price"), known)  # fmt: skip


def _listing(
    node: LexborNode,
    title: str,
    seller: str,
    score: int,
    approx: bool,
    percent: float,
    price_text: str,
    known: Known,
) -> Listing | None:
    link = node.css_first("a[href*='/itm/']")
    href = (link.attributes.get("href") or "") if link is not None else ""
    match = _ITEM_ID.search(href)
    if match is None:
        return None
    price = _PRICE.search(price_text)
    return Listing(
        listing_id=match.group(1),
        title=title,
        price_micros=round(float(price.group().replace(",", "")) * 1_000_000) if price else 0,
        condition=known.condition,
        free_shipping=known.free_shipping,
        country=known.country,
        seller_name=seller,
        feedback_score=score,
        feedback_score_approx=approx,
        feedback_percent=percent,
        url=href.split("?", 1)[0] if href.startswith(("https://", "http://")) else None,
    )


def _text(node: LexborNode, *selectors: str) -> str:
    for selector in selectors:
        found = node.css_first(selector)
        if found is not None:
            return " ".join(found.text(separator=" ").split())
    return ""
