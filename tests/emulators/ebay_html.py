"""eBay search-results pages as HTML, in the layouts real scrapers meet.

The Oxylabs emulator serves these as the ``content`` of ``ebay``/``universal`` results. They
are shaped after the public notes on eBay's markup (reference section 3) so that a parser
written against them has to cope with what the live site does: two listing layouts, a filler
"Shop on eBay" card first in the list, abbreviated feedback counts in the current layout,
a captcha interstitial served at HTTP 200, and pages cut off mid-way.

Abbreviation rule (card layout): below 1,000 the count is exact (``812``); from 1,000 it is
divided by 1,000 (``K``) or, from 1,000,000, by 1,000,000 (``M``) and cut down (floored, not
rounded) to one decimal, with a trailing ``.0`` dropped: 154,843 → ``154.8K``, 12,000 →
``12K``, 999,999 → ``999.9K``, 1,234,567 → ``1.2M``. Flooring never produces ``1000.0K``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from .catalogue import Offer

LAYOUTS = ("card", "legacy", "legacy-split", "alternate")

COUNTRY_NAMES = {"US": "United States", "CN": "China", "GB": "United Kingdom", "DE": "Germany"}
CONDITION_LABELS = {
    "1000": "Brand New",
    "1500": "New (Other)",
    "2500": "Refurbished",
    "3000": "Pre-Owned",
    "4000": "Pre-Owned",
}


def layout_for_page(layout: str, page: int) -> str:
    """The concrete layout of one page: ``alternate`` flips between card (odd) and legacy."""
    if layout == "alternate":
        return "card" if page % 2 else "legacy"
    if layout not in LAYOUTS:
        raise ValueError(f"unknown eBay layout {layout!r}; expected one of {LAYOUTS}")
    return layout


def abbreviate_count(score: int) -> str:
    """A feedback count as the card layout shows it (see the module docstring for the rule)."""
    if score < 1000:
        return str(score)
    unit, divisor = ("K", 1000) if score < 1_000_000 else ("M", 1_000_000)
    whole, tenth = divmod(score * 10 // divisor, 10)
    return f"{whole}{unit}" if tenth == 0 else f"{whole}.{tenth}{unit}"


def card_seller_text(offer: Offer) -> str:
    """``username 99.3% positive (154.8K)``: the current layout's seller line."""
    pct = offer.feedback_percent
    return f"{offer.seller} {pct}% positive ({abbreviate_count(offer.feedback_score)})"


def legacy_seller_text(offer: Offer) -> str:
    """``username (12,345) 99.5%``: the legacy layout's seller line, exact score."""
    return f"{offer.seller} ({offer.feedback_score:,}) {offer.feedback_percent}%"


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


def _shipping_cost(offer: Offer) -> str:
    """A stable, made-up delivery cost for offers without free shipping."""
    cents = 399 + int(offer.item_id[-3:]) % 900
    return f"${cents // 100}.{cents % 100:02d}"


def _item_url(offer: Offer) -> str:
    return f"https://www.ebay.com/itm/{offer.item_id}?hash=item{offer.item_id[-6:]}"


def _card_item(offer: Offer) -> str:
    title = escape(offer.title)
    shipping = "Free delivery" if offer.free_shipping else f"+{_shipping_cost(offer)} delivery"
    country = COUNTRY_NAMES.get(offer.country, offer.country)
    return (
        f'<li class="s-card s-card--horizontal" id="item{offer.item_id[-8:]}"'
        f' data-listingid="{offer.item_id}">'
        '<div class="su-card-container su-card-container--horizontal">'
        '<div class="su-card-container__media">'
        f'<a class="su-link" href="{_item_url(offer)}" tabindex="-1">'
        f'<img class="s-card__image" src="https://i.ebayimg.com/images/g/x/s-l500.webp"'
        f' alt="{title}"/></a></div>'
        '<div class="su-card-container__content"><div class="su-card-container__header">'
        f'<a class="su-link" href="{_item_url(offer)}">'
        '<div role="heading" aria-level="3" class="s-card__title">'
        f'<span class="su-styled-text primary default">{title}</span></div></a>'
        '<div class="s-card__subtitle-row"><div class="s-card__subtitle">'
        '<span class="su-styled-text secondary default">'
        f"{escape(CONDITION_LABELS[offer.condition_id])}</span></div></div></div>"
        '<div class="su-card-container__attributes">'
        '<div class="su-card-container__attributes__primary">'
        '<div class="s-card__attribute-row">'
        '<span class="su-styled-text primary bold large-1 s-card__price">'
        f"{_money(offer.price)}</span></div>"
        '<div class="s-card__attribute-row">'
        '<span class="su-styled-text secondary large">Buy It Now</span></div>'
        '<div class="s-card__attribute-row">'
        f'<span class="su-styled-text secondary large">{shipping}</span></div>'
        '<div class="s-card__attribute-row"><span class="su-styled-text secondary large">'
        f"Located in {escape(country)}</span></div></div>"
        '<div class="su-card-container__attributes__secondary">'
        '<div class="s-card__attribute-row"><span class="su-styled-text primary large">'
        f"{escape(card_seller_text(offer))}</span></div></div></div></div></div></li>"
    )


def _legacy_seller(offer: Offer, split: bool) -> str:
    if not split:
        return f'<span class="s-item__seller-info-text">{escape(legacy_seller_text(offer))}</span>'
    # Split form: field-0 holds the username, field-1 the rest; the parent's text is unchanged.
    rest = f"({offer.feedback_score:,}) {offer.feedback_percent}%"
    return (
        '<span class="s-item__seller-info-text">'
        f'<span class="s-item__seller-info-text__field-0">{escape(offer.seller)}</span> '
        f'<span class="s-item__seller-info-text__field-1">{escape(rest)}</span></span>'
    )


def _legacy_item(offer: Offer, split: bool) -> str:
    title = escape(offer.title)
    shipping = "Free shipping" if offer.free_shipping else f"+{_shipping_cost(offer)} shipping"
    country = COUNTRY_NAMES.get(offer.country, offer.country)
    return (
        f'<li class="s-item s-item__pl-on-bottom" data-view="iid:{offer.item_id}">'
        '<div class="s-item__wrapper clearfix"><div class="s-item__image-section">'
        f'<div class="s-item__image"><a href="{_item_url(offer)}" tabindex="-1">'
        f'<img src="https://i.ebayimg.com/thumbs/images/g/x/s-l225.jpg" alt="{title}"/>'
        '</a></div></div><div class="s-item__info clearfix">'
        f'<a class="s-item__link" href="{_item_url(offer)}"><div class="s-item__title">'
        f'<span role="heading" aria-level="3">{title}</span></div></a>'
        '<div class="s-item__subtitle"><span class="SECONDARY_INFO">'
        f"{escape(CONDITION_LABELS[offer.condition_id])}</span></div>"
        '<div class="s-item__details clearfix">'
        '<div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__price">{_money(offer.price)}</span></div>'
        '<div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__shipping s-item__logisticsCost">{shipping}</span></div>'
        '<div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__location s-item__itemLocation">from {escape(country)}</span>'
        '</div><div class="s-item__detail s-item__detail--secondary">'
        f'<span class="s-item__seller-info">{_legacy_seller(offer, split)}</span>'
        "</div></div></div></div></li>"
    )


def _filler_item(layout: str) -> str:
    """The "Shop on eBay" ad that eBay puts first: it has a price and link but no seller."""
    if layout == "card":
        return (
            '<li class="s-card s-card--horizontal" data-listingid="123456">'
            '<div class="su-card-container"><div class="su-card-container__header">'
            '<a class="su-link" href="https://ebay.com/itm/123456?hash=item28caef0a3a">'
            '<div role="heading" aria-level="3" class="s-card__title">'
            '<span class="su-styled-text primary default">Shop on eBay</span></div></a></div>'
            '<div class="su-card-container__attributes"><div class="s-card__attribute-row">'
            '<span class="su-styled-text primary bold large-1 s-card__price">$20.00</span>'
            "</div></div></div></li>"
        )
    return (
        '<li class="s-item s-item__pl-on-bottom"><div class="s-item__wrapper clearfix">'
        '<div class="s-item__info clearfix">'
        '<a class="s-item__link" href="https://ebay.com/itm/123456?hash=item28caef0a3a">'
        '<div class="s-item__title"><span role="heading" aria-level="3">Shop on eBay</span>'
        '</div></a><div class="s-item__details clearfix">'
        '<div class="s-item__detail s-item__detail--primary">'
        '<span class="s-item__price">$20.00</span></div></div></div></div></li>'
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{escape(title)}</title></head><body>"
        '<div id="srp-river-main" class="srp-main srp-main--isLarge">'
        f"{body}</div></body></html>"
    )


def _heading(total: int, query: str) -> str:
    return (
        '<div class="srp-controls__control srp-controls__count">'
        '<h1 class="srp-controls__count-heading">'
        f'<span class="BOLD">{total:,}</span> results for '
        f'<span class="BOLD">{escape(query)}</span></h1></div>'
    )


def search_page(
    *,
    query: str,
    offers: Sequence[Offer],
    total: int,
    page: int,
    layout: str,
    next_url: str | None,
) -> str:
    """One results page: heading, filler card, one item per offer, then pagination.

    ``layout`` is the emulator setting; ``alternate`` is resolved here from ``page``.
    """
    if not offers:
        return no_matches_page(query)
    concrete = layout_for_page(layout, page)
    if concrete == "card":
        items = [_card_item(o) for o in offers]
    else:
        items = [_legacy_item(o, split=concrete == "legacy-split") for o in offers]
    listing = "".join([_filler_item(concrete), *items])
    nav = f'<span class="pagination__item" aria-current="page">{page}</span>'
    if next_url is not None:
        nav += (
            f'<a class="pagination__next icon-link" href="{escape(next_url)}"'
            ' aria-label="Go to next search page">Next</a>'
        )
    body = (
        f"{_heading(total, query)}"
        '<div id="srp-river-results" class="srp-river-results clearfix">'
        f'<ul class="srp-results srp-list clearfix">{listing}</ul></div>'
        f'<nav class="pagination" role="navigation" aria-labelledby="pagination-heading">'
        f"{nav}</nav>"
    )
    return _page(f"{query} for sale | eBay", body)


def no_matches_page(query: str) -> str:
    """The page for a search without hits: a message, a zero count, no listing items."""
    body = (
        f"{_heading(0, query)}"
        '<div id="srp-river-results" class="srp-river-results clearfix">'
        '<div class="srp-save-null-search"><h3 class="srp-save-null-search__heading">'
        "No exact matches found</h3>"
        "<p>Try checking your spelling or use more general terms</p></div>"
        '<ul class="srp-results srp-list clearfix"></ul></div>'
    )
    return _page(f"{query} for sale | eBay", body)


def captcha_page() -> str:
    """eBay's bot check, served at HTTP 200: no listings, only a form to prove humanity."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
        "<title>Security Measure | eBay</title></head><body>"
        '<div id="areaCaptcha" class="target-icaptcha-slot">'
        "<h1>Please verify yourself to continue</h1>"
        '<form id="captcha_form" method="post" action="/splashui/captcha">'
        '<input type="hidden" name="ru" value="https%3A%2F%2Fwww.ebay.com%2Fsch%2Fi.html"/>'
        '<div class="g-recaptcha" data-sitekey="6LdKf0wUAAAAAC9OPJ_0000000000000000000"></div>'
        '<button type="submit">Continue</button></form></div></body></html>'
    )


def not_found_page() -> str:
    """What a non-search URL gets: eBay's "page is missing" error (served with 404)."""
    return _page("Error Page | eBay", "<h1>Looks like this page is missing.</h1>")


def truncate_listing(page_html: str) -> str:
    """The page cut off inside the listing list: no closing ``</ul>``, ``</body>``, ``</html>``."""
    start = page_html.find('<ul class="srp-results')
    end = page_html.find("</ul>", start)
    if start < 0 or end < 0:
        return page_html[: len(page_html) // 2]
    opening = page_html.index(">", start) + 1
    return page_html[: opening + (end - opening) // 2]
