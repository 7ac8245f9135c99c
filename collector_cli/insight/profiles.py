"""Where a seller's public profile lives, by platform (None where there is no such page)."""

from __future__ import annotations

from urllib.parse import quote

# eBay usernames are global: one profile page whichever eBay site listed the seller.
_PROFILE_PAGES = {"ebay": "https://www.ebay.com/usr/{name}"}


def profile_url(platform: str, name: str) -> str | None:
    page = _PROFILE_PAGES.get(platform)
    return page.format(name=quote(name, safe="")) if page else None
