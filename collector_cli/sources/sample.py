"""The embedded offline marketplace: best-seller lists and listing search from a seed.

Everything is a pure function of (seed, epoch, request), so the same run reproduces exactly;
the epoch (the run's number) moves the market a little between runs: some listings change
hands, newcomer sellers appear and feedback scores grow. Randomness comes from blake2b digests
of the request rather than ``random.Random`` objects, which would cost a seeding per listing.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from bisect import bisect_left
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from collector_cli.errors import ConfigError, SourceError
from collector_cli.models import (
    Category,
    Listing,
    ListingPage,
    ListingQuery,
    Product,
    ProductPage,
)
from collector_cli.sources.base import SourceContext
from collector_cli.sources.usage import UsageMeter

UNIVERSE = 6000  # established sellers, id = popularity rank
NEWCOMERS_PER_EPOCH = 60
NEWCOMER_SHARE = 0.03
PRODUCTS_PER_CATEGORY = 100
PRODUCT_PAGE_SIZE = 50
UNKNOWN_PRICE_SHARE = 0.06
# Dropshipper-like sellers planted among the ordinary ones: each lists a large share of the
# best-sellers of every category at its own steady markup, always new, free shipping and
# domestic, and its feedback grows run after run. They are the ground truth a ranking of
# sellers must find (tests/test_insight.py).
PLANTED = 24
SAMPLE_ITEM_URL = "https://sample.invalid/itm/"  # .invalid: made up, never a real page

# Hostile names at fixed popularity ranks, so every demo run meets them.
_FIXED_NAMES = {
    2: '=HYPERLINK("http://x")',
    5: "Smith, Jones & Co",
    9: 'The "Best" Deals',
    13: "+1 Electronics",
    17: "-discount-hub-",
    21: "@home_essentials",
    26: "Müller Handelsgesellschaft",
    31: "東京ストア",
    37: "Café Ñandú, S.A.",
    44: "O'Brien's Emporium",
    52: "⭐ Star Seller ⭐",
    60: "Łódź\tTrading",
}
_PREFIXES = [
    "best",
    "top",
    "mega",
    "smart",
    "happy",
    "blue",
    "urban",
    "prime",
    "eco",
    "fast",
    "golden",
    "north",
    "value",
    "direct",
    "lucky",
    "bright",
    "global",
    "simply",
]
_CORES = [
    "deals",
    "store",
    "outlet",
    "goods",
    "mart",
    "supply",
    "shop",
    "trading",
    "bazaar",
    "depot",
    "warehouse",
    "finds",
    "emporium",
    "traders",
    "market",
    "hub",
]
_UNICODE = [
    "Müller",
    "Café",
    "Ñandú",
    "Łódź",
    "Škoda",
    "Ελλάς",
    "Ōsaka",
    "São Paulo",
    "Zürich",
    "Kraków",
    "Dvořák",
    "Øresund",
    "Ærø",
    "İstanbul",
    "北京",
    "ソウル",
]
_SURNAMES = ["Smith", "Garcia", "Nguyen", "Kowalski", "O'Neil", "Rossi", "Dubois", "Ivanov"]
_BRANDS = [
    "Kestrel",
    "Nimbus",
    "Arcwave",
    "Lumen",
    "Orbit",
    "Vantage",
    "Pinecrest",
    "Solace",
    "Tundra",
    "Helix",
    "Quarry",
    "Marlow",
    "Zephyr",
    "Cobalt",
    "Juniper",
    "Fable",
]
_ADJECTIVES = [
    "Pro",
    "Compact",
    "Deluxe",
    "Essential",
    "Ultra",
    "Classic",
    "Smart",
    "Portable",
    "Premium",
    "Everyday",
    "Heavy-Duty",
    "Mini",
]
_OTHER_COUNTRIES = ["CN", "GB", "DE", "CA", "HK"]


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=64).digest()


def _unit(d: bytes, i: int) -> float:
    """The i-th (0..7) uniform number in [0, 1) carried by a 64-byte digest."""
    return int.from_bytes(d[8 * i : 8 * i + 8], "little") / 18446744073709551616.0


@cache
def _popularity() -> list[float]:
    """Cumulative Zipf weights over the established sellers: a few giants, a long tail."""
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(UNIVERSE)]
    total = sum(weights)
    return [w / total for w in accumulate(weights)]


class SampleMarketplace:
    """Both a product source and a listing source; registered as ``sample`` for each."""

    name = "sample"
    platform = "sample"
    call_cost_micros = 0

    def __init__(self, ctx: SourceContext) -> None:
        opts: dict[str, Any] = ctx.options
        self.epoch = ctx.epoch
        self.meter = ctx.meter if ctx.meter is not None else UsageMeter()
        self.seed = _option(opts, "seed", int, 7)
        self.latency = _option(opts, "latency_ms", float, 0) / 1000
        self.error_rate = _option(opts, "error_rate", float, 0)
        self.fatal_rate = _option(opts, "fatal_rate", float, 0)
        self.page_size = _option(opts, "page_size", int, 50)
        # Blocks the whole process inside a search, like a request stuck in C code that no
        # signal can interrupt: what `collector stop --force` exists for.
        self.stuck = _option(opts, "stuck_ms", float, 0) / 1000
        self.gate = _gate_option(opts)
        self._admitted: set[str] = set()
        if self.page_size < 1 or not 0 <= self.error_rate <= 1 or not 0 <= self.fatal_rate <= 1:
            raise ConfigError("sample source: page_size >= 1 and rates between 0 and 1")
        self._names: dict[int, str] = {}
        self._results: dict[tuple, list[Listing]] = {}

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        cls(SourceContext(0, options))

    @classmethod
    def plan_products(cls, options: dict[str, Any], products: int) -> tuple[int, int]:
        return math.ceil(min(products, PRODUCTS_PER_CATEGORY) / PRODUCT_PAGE_SIZE), 0

    @classmethod
    def plan_search(cls, options: dict[str, Any], pages: int) -> tuple[int, int, int]:
        return pages, 0, 0

    async def aclose(self) -> None:
        self._results.clear()

    async def _request(self, what: str) -> None:
        """Simulate the network: latency with jitter and transient failures."""
        self.meter.record(self.name, requests=1)
        if self.latency:
            await asyncio.sleep(self.latency * (0.5 + random.random()))
        if self.error_rate and random.random() < self.error_rate:
            raise SourceError(f"sample: simulated HTTP 503 for {what}", retryable=True)

    # -- products ------------------------------------------------------------------------------

    async def product_page(self, category: Category, page: int) -> ProductPage:
        await self._request(f"best sellers of {category.id} page {page}")
        first = (page - 1) * PRODUCT_PAGE_SIZE + 1
        last = min(first + PRODUCT_PAGE_SIZE, PRODUCTS_PER_CATEGORY + 1)
        products = [self._product(category, rank) for rank in range(first, last)]
        return ProductPage(products, has_more=last <= PRODUCTS_PER_CATEGORY)

    def _product(self, category: Category, rank: int) -> Product:
        cat = _digest(self.seed, "category", category.id)
        median = 15 + 385 * _unit(cat, 0) ** 2
        d = _digest(self.seed, "product", category.id, rank)
        key = "B0" + d[:6].hex().upper()[:8]
        noun = category.name.split(" & ")[0].rstrip("s")
        title = (
            f"{_BRANDS[d[8] % len(_BRANDS)]} {_ADJECTIVES[d[9] % len(_ADJECTIVES)]} {noun} "
            f"{chr(65 + d[10] % 26)}{100 + d[11] * 3}"
        )
        if _unit(d, 2) < UNKNOWN_PRICE_SHARE:
            return Product(key, title, None, rank)
        spread = (_unit(d, 3) + _unit(d, 4) + _unit(d, 5) - 1.5) * 1.2
        price = max(1.0, median * math.exp(spread))
        return Product(key, title, round(price * 100) * 10_000, rank)

    # -- listings ------------------------------------------------------------------------------

    async def search(self, query: ListingQuery) -> ListingPage:
        product = query.product
        if self.gate is not None:
            await self._pass_gate(product.key)
        if self.stuck:
            time.sleep(self.stuck)
        await self._request(f"search {product.key} page {query.page}")
        if self.fatal_rate and _unit(_digest(self.seed, "fatal", product.key), 0) < self.fatal_rate:
            raise SourceError(f"sample: HTTP 400 for {product.key} (query rejected)")
        cache_key = (product.key, query.filters, query.price_min_micros, query.price_max_micros)
        results = self._results.get(cache_key)
        if results is None:
            results = [lst for lst in self._candidates(product) if _matches(lst, query)]
            if len(self._results) > 512:
                self._results.clear()
            self._results[cache_key] = results
        start = (query.page - 1) * self.page_size
        page = results[start : start + self.page_size]
        return ListingPage(page, has_more=start + self.page_size < len(results), total=len(results))

    async def _pass_gate(self, key: str) -> None:
        """Hold the search of a product until the gate file admits it.

        The file holds a number N: the first N distinct products searched by this run go
        through, any later one waits (cancellably) until the number grows. A missing or
        unreadable file admits nothing. Tests use it to stop a run at a known point ("5
        products done, the rest waiting") instead of hoping a sleep lands mid-run.
        """
        if key in self._admitted:
            return
        while True:
            if len(self._admitted) < _read_allowance(self.gate):  # type: ignore[arg-type]
                self._admitted.add(key)
                return
            await asyncio.sleep(0.01)

    def _candidates(self, product: Product) -> list[Listing]:
        base = product.price_micros or 20_000_000
        count = 30 + int(190 * _unit(_digest(self.seed, "count", product.key), 0))
        cumulative = _popularity()
        newcomers = max(0, (self.epoch - 1) * NEWCOMERS_PER_EPOCH)
        listings = []
        for slot in range(count):
            fixed = _digest(self.seed, "slot", product.key, slot)
            period = 5 + int(_unit(fixed, 0) * 10)  # a slot changes hands every 5-14 runs
            generation = (self.epoch + int(_unit(fixed, 1) * period)) // period
            d = _digest(self.seed, "listing", product.key, slot, generation)
            if newcomers and _unit(d, 1) < NEWCOMER_SHARE:
                seller_id = UNIVERSE + int(_unit(d, 0) * newcomers)
            else:
                seller_id = min(bisect_left(cumulative, _unit(d, 0)), UNIVERSE - 1)
            ratio = 1 + (_unit(d, 2) + _unit(d, 3) + _unit(d, 4) - 1.5) * 0.4
            kind = _unit(d, 5)
            condition = "new" if kind < 0.72 else "used" if kind < 0.86 else "refurbished"
            country = "US" if _unit(d, 7) < 0.8 else _OTHER_COUNTRIES[d[63] % 5]
            score, percent = self._feedback(seller_id)
            listing_id = str(100_000_000_000 + int.from_bytes(d[56:62], "little") % 900_000_000_000)
            listings.append(
                Listing(
                    listing_id=listing_id,
                    title=product.title,
                    price_micros=round(base * ratio / 10_000) * 10_000,
                    condition=condition,
                    free_shipping=_unit(d, 6) < 0.7,
                    country=country,
                    seller_name=self._seller_name(seller_id),
                    feedback_score=score,
                    feedback_score_approx=False,
                    feedback_percent=percent,
                    url=SAMPLE_ITEM_URL + listing_id,
                )
            )
        # Planted listings take deterministic places among the others, as a marketplace's
        # "best match" order would mix them, so paging cuts them like any other listing.
        for listing in self._planted_listings(product, base):
            d = _digest(self.seed, "planted-place", product.key, listing.seller_name)
            listings.insert(int(_unit(d, 0) * (len(listings) + 1)), listing)
        return listings

    def _planted_listings(self, product: Product, base: int) -> list[Listing]:
        found = []
        for index, (name, markup, share) in enumerate(_planted(self.seed)):
            d = _digest(self.seed, "planted-listing", product.key, index)
            if _unit(d, 0) >= share:
                continue
            listing_id = str(200_000_000_000 + int.from_bytes(d[56:62], "little") % 99_000_000_000)
            noise = 1 + (_unit(d, 1) - 0.5) * 0.02  # ±1 %: a steady markup
            f = _digest(self.seed, "planted-feedback", index)
            score = int(800 + 1500 * _unit(f, 0) + self.epoch * (25 + 40 * _unit(f, 1)))
            found.append(
                Listing(
                    listing_id=listing_id,
                    title=product.title,
                    price_micros=round(base * markup * noise / 10_000) * 10_000,
                    condition="new",
                    free_shipping=True,
                    country="US",
                    seller_name=name,
                    feedback_score=score,
                    feedback_score_approx=False,
                    feedback_percent=round(98.5 + 1.5 * _unit(f, 2), 1),
                    url=SAMPLE_ITEM_URL + listing_id,
                )
            )
        return found

    def _feedback(self, seller_id: int) -> tuple[int, float]:
        d = _digest(self.seed, "feedback", seller_id)
        if seller_id >= UNIVERSE:
            born = 2 + (seller_id - UNIVERSE) // NEWCOMERS_PER_EPOCH
            score = int(40 * _unit(d, 0)) + 3 * max(0, self.epoch - born)
        else:
            base = 300_000 / (seller_id + 1) ** 0.8 * (0.5 + _unit(d, 0))
            score = int(base * (1 + 0.01 * self.epoch) + self.epoch * (1 + int(5 * _unit(d, 1))))
        percent = round(100 - 6 * _unit(d, 2) ** 3, 1)
        return score, percent

    def _seller_name(self, seller_id: int) -> str:
        name = self._names.get(seller_id)
        if name is None:
            name = _FIXED_NAMES.get(seller_id) or _make_name(self.seed, seller_id)
            self._names[seller_id] = name
        return name


@cache
def _planted(seed: int) -> tuple[tuple[str, float, float], ...]:
    """(name, markup, share of products listed) of each planted seller."""
    found = []
    for index in range(PLANTED):
        d = _digest(seed, "planted", index)
        pre, core = _PREFIXES[d[0] % len(_PREFIXES)], _CORES[d[1] % len(_CORES)]
        name = f"{pre}{core}-direct{index:02d}"
        found.append((name, 1.04 + 0.12 * _unit(d, 1), 0.30 + 0.25 * _unit(d, 2)))
    return tuple(found)


def planted_sellers(seed: int = 7) -> list[str]:
    """The names of the planted dropshipper-like sellers: a ranking's ground truth."""
    return [name for name, _, _ in _planted(seed)]


def _option(opts: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"sample source: {key} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"sample source: {key} must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"sample source: {key} must not be negative")
    return number


def _gate_option(opts: dict[str, Any]) -> Path | None:
    value = opts.get("gate_file")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"sample source: gate_file must be a file path, not {value!r}")
    return Path(value).expanduser()


def _read_allowance(path: Path) -> float:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return 0
    if text == "open":
        return math.inf
    try:
        return int(text)
    except ValueError:
        return 0


def _matches(listing: Listing, query: ListingQuery) -> bool:
    f = query.filters
    if f.condition != "any" and listing.condition != f.condition:
        return False
    if f.free_shipping and not listing.free_shipping:
        return False
    if f.domestic_only and listing.country != f.country:
        return False
    if query.price_min_micros is not None and listing.price_micros < query.price_min_micros:
        return False
    return query.price_max_micros is None or listing.price_micros <= query.price_max_micros


def _make_name(seed: int, seller_id: int) -> str:
    """A plausible, unique seller name; the id suffix keeps different sellers apart."""
    d = _digest(seed, "seller", seller_id)
    pre, core = _PREFIXES[d[0] % len(_PREFIXES)], _CORES[d[1] % len(_CORES)]
    style = _unit(d, 1)
    if style < 0.40:
        return f"{pre}{core}{seller_id}"
    if style < 0.58:
        return f"{pre.title()} {core.title()} {seller_id}"
    if style < 0.70:
        return f"{_UNICODE[d[2] % len(_UNICODE)]} {core.title()} {seller_id}"
    if style < 0.78:
        first, second = _SURNAMES[d[3] % 8], _SURNAMES[d[4] % 8]
        return f"{first}, {second} & Co {seller_id}"
    if style < 0.82:
        return f'"{pre.title()}" {core.title()} {seller_id}'
    if style < 0.86:
        return f"{'=+-@'[d[5] % 4]}{pre}{core}{seller_id}"
    return f"{pre}_{core}_{seller_id}"
