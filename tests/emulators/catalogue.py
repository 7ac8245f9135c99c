"""The emulators' shared world: best-seller lists per browse node and the marketplace offers.

Both eBay routes (Browse API and search pages through Oxylabs) serve offers from the same
catalogue, so a correct client finds the same sellers either way, and the ground truth (which
sellers a correct client must find) is computed here from the same data the servers serve.

Everything is a pure function of (seed, node ids): no randomness at serve time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cached_property

NEW = "1000"
CONDITION_IDS = ["1000", "1000", "1000", "1500", "2500", "3000", "4000"]
COUNTRIES = ["US", "US", "US", "US", "CN", "GB", "DE"]

# Seller usernames use what eBay allows (letters, digits, '.', '_', '-', '*'), with the
# awkward cases included: dots and dashes at the edges, digits only, mixed case.
_SELLER_STEMS = [
    "best.deals",
    "tech-outlet_us",
    "Gadget.World",
    "homegoods4less",
    "-discount-hub-",
    "a.b.c.store",
    "toyland_direct",
    "FitnessFirst-Shop",
    "megamart.usa",
    "123456789",
    "blue_river.trading",
    "K.O.-supply",
]
_BRANDS = ["Kestrel", "Nimbus", "Arcwave", "Lumen", "Orbit", "Vantage", "Helix", "Zephyr"]
_NOUNS = ["Headphones", "Blender", "Building Set", "Yoga Mat", "Phone Case", "Desk Lamp"]
# Titles carry characters that must be URL-encoded and words that must survive truncation.
_EXTRAS = [
    "with Noise Cancelling & 40h Battery, Bluetooth 5.3",
    '100% BPA-Free, 1.5L "Pro" Edition',
    "for Kids 6+ (500 Pieces) - Gift Set",
    "Non-Slip, Extra Thick 1/2 inch, Eco Friendly TPE Material for Home Gym Workouts and Pilates",
    "Slim Fit #Shockproof Cover",
    "Dimmable LED, USB-C Charging Port, Touch Control, Eye-Caring Reading Light for Office",
]


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=32).digest()


def _unit(d: bytes, i: int) -> float:
    return int.from_bytes(d[4 * i : 4 * i + 4], "little") / 4294967296.0


def words(text: str) -> list[str]:
    """Search words: lower-cased runs of letters and digits (punctuation separates)."""
    return re.findall(r"[a-z0-9]+", text.lower())


@dataclass(frozen=True)
class BestSeller:
    node_id: str
    pos: int
    asin: str
    title: str
    price: Decimal  # 0 when Amazon does not show one (the reference's sample: all zeros)

    @property
    def url(self) -> str:
        slug = self.title[:30].replace(" ", "-")
        return f"/{slug}/dp/{self.asin}/ref=zg_bs_{self.node_id}_{self.pos}"


@dataclass(frozen=True)
class Offer:
    item_id: str  # the legacy numeric id, as in /itm/<id>
    title: str
    price: Decimal  # USD, two decimals
    condition_id: str
    free_shipping: bool
    country: str
    seller: str
    feedback_score: int
    feedback_percent: str  # as the Browse API sends it: a string such as "98.6"
    product_asin: str

    @property
    def condition(self) -> str:
        return {"1000": "New", "1500": "New other (see details)", "2500": "Seller refurbished",
                "3000": "Used", "4000": "Used"}[self.condition_id]  # fmt: skip


@dataclass(frozen=True)
class SearchFilters:
    """What a correct client asks for, in marketplace terms."""

    condition_ids: frozenset[str] | None = frozenset({NEW})
    free_shipping: bool = True
    country: str | None = "US"
    price_low: Decimal | None = None
    price_high: Decimal | None = None

    def accepts(self, offer: Offer) -> bool:
        if self.condition_ids is not None and offer.condition_id not in self.condition_ids:
            return False
        if self.free_shipping and not offer.free_shipping:
            return False
        if self.country is not None and offer.country != self.country:
            return False
        if self.price_low is not None and offer.price < self.price_low:
            return False
        return self.price_high is None or offer.price <= self.price_high


def price_band(price: Decimal, low_ratio: float, high_ratio: float) -> tuple[Decimal, Decimal]:
    """The band a correct client sends: the low end rounded down, the high end up, to cents."""
    cent = Decimal("0.01")
    low = (price * Decimal(str(low_ratio))).quantize(cent, rounding=ROUND_FLOOR)
    high = (price * Decimal(str(high_ratio))).quantize(cent, rounding=ROUND_CEILING)
    return low, high


class Catalogue:
    """Best sellers for the given browse nodes, and every offer for each of them."""

    def __init__(
        self,
        nodes: list[str],
        *,
        seed: int = 1,
        per_node: int = 100,
        unknown_price_every: int = 9,
        max_offers: int = 160,
    ) -> None:
        self.nodes = [str(n) for n in nodes]
        self.seed = seed
        self.per_node = per_node
        self.unknown_price_every = unknown_price_every
        self.max_offers = max_offers

    # -- Amazon side ---------------------------------------------------------------------------

    def bestsellers(self, node_id: str) -> list[BestSeller]:
        """The node's top list; an unknown node has an empty list (Amazon shows a 404 page)."""
        return self._bestsellers.get(str(node_id), [])

    @cached_property
    def _bestsellers(self) -> dict[str, list[BestSeller]]:
        return {node: [self._item(node, pos) for pos in range(1, self.per_node + 1)]
                for node in self.nodes}  # fmt: skip

    def _item(self, node: str, pos: int) -> BestSeller:
        d = _digest(self.seed, "item", node, pos)
        asin = "B0" + d[:4].hex().upper()
        title = (
            f"{_BRANDS[d[4] % len(_BRANDS)]} {_NOUNS[d[5] % len(_NOUNS)]} "
            f"{chr(65 + d[6] % 26)}{100 + d[7]} {_EXTRAS[d[8] % len(_EXTRAS)]}"
        )
        if self.unknown_price_every and pos % self.unknown_price_every == 0:
            price = Decimal("0")
        else:
            price = Decimal(10 + int(490 * _unit(d, 3) ** 2)) + Decimal(d[9] % 100) / 100
        return BestSeller(node, pos, asin, title, price)

    # -- marketplace side ----------------------------------------------------------------------

    @cached_property
    def offers(self) -> list[Offer]:
        """Every offer, in the marketplace's own (best-match) order: by item id."""
        result = [
            offer
            for node in self.nodes
            for item in self.bestsellers(node)
            for offer in self._offers_for(item)
        ]
        result.sort(key=lambda o: o.item_id)
        return result

    def _offers_for(self, item: BestSeller) -> list[Offer]:
        d = _digest(self.seed, "count", item.asin)
        count = 3 + int(self.max_offers * _unit(d, 0) ** 2)
        reference = item.price or Decimal(40)
        offers = []
        for slot in range(count):
            o = _digest(self.seed, "offer", item.asin, slot)
            # Ratios stay clear of the 0.8 and 1.2 band edges, so rounding never decides.
            ratio = Decimal(str(round(0.5 + 1.0 * _unit(o, 0), 3)))
            if abs(ratio - Decimal("0.8")) < Decimal("0.01") or abs(
                ratio - Decimal("1.2")
            ) < Decimal("0.01"):
                ratio += Decimal("0.03")
            price = (reference * ratio).quantize(Decimal("0.01"))
            seller_rank = int(len(_SELLER_STEMS) * 40 * _unit(o, 1) ** 3)
            seller = self.seller_name(seller_rank)
            score, percent = self.feedback(seller_rank)
            offers.append(
                Offer(
                    item_id=str(110_000_000_000 + int.from_bytes(o[8:13], "little") % 10**11),
                    title=f"{item.title} {'NEW' if slot % 3 else 'Genuine'}",
                    price=price,
                    condition_id=CONDITION_IDS[o[13] % len(CONDITION_IDS)],
                    free_shipping=o[14] % 10 < 7,
                    country=COUNTRIES[o[15] % len(COUNTRIES)],
                    seller=seller,
                    feedback_score=score,
                    feedback_percent=percent,
                    product_asin=item.asin,
                )
            )
        return offers

    def seller_name(self, rank: int) -> str:
        stem = _SELLER_STEMS[rank % len(_SELLER_STEMS)]
        return stem if rank < len(_SELLER_STEMS) else f"{stem}{rank}"

    def feedback(self, rank: int) -> tuple[int, str]:
        """Big sellers get scores that search pages abbreviate (154.8K, 1.2M)."""
        d = _digest(self.seed, "feedback", rank)
        if rank < 3:
            score = 1_000_000 + int(2_000_000 * _unit(d, 0))
        else:
            score = int(400_000 / (rank + 1) * (0.5 + _unit(d, 0)))
        percent = 100 - round(5 * _unit(d, 1) ** 3, 1)
        text = "100" if percent >= 100 else f"{percent:.1f}"
        return score, text

    def search(self, q: str, filters: SearchFilters) -> list[Offer]:
        """Offers whose title holds every word of ``q``, passing the filters, in order."""
        wanted = set(words(q))
        if not wanted:
            return []
        postings = [self._index.get(w, set()) for w in wanted]
        hits = set.intersection(*postings) if postings else set()
        return [self.offers[i] for i in sorted(hits) if filters.accepts(self.offers[i])]

    @cached_property
    def _index(self) -> dict[str, set[int]]:
        """word → positions in ``offers``: a real search engine's inverted index, in small."""
        index: dict[str, set[int]] = {}
        for position, offer in enumerate(self.offers):
            for word in words(offer.title):
                index.setdefault(word, set()).add(position)
        return index

    # -- ground truth --------------------------------------------------------------------------

    def expected_sellers(
        self,
        *,
        max_products: int | None = None,
        pages: int = 2,
        page_size: int = 50,
        low_ratio: float = 0.8,
        high_ratio: float = 1.2,
        condition_ids: frozenset[str] | None = frozenset({NEW}),
        free_shipping: bool = True,
        country: str | None = "US",
        unknown_price: str = "skip",
        query_chars: int = 100,
    ) -> set[str]:
        """The sellers a correct client finds when it searches every best seller of every node.

        ``unknown_price`` is ``skip`` (products with price 0 are not searched) or ``search``
        (they are searched without a price band). ``query_chars`` is the keyword cut.
        """
        found: set[str] = set()
        for node in self.nodes:
            items = self.bestsellers(node)[: max_products or None]
            for item in items:
                if not item.price:
                    if unknown_price == "skip":
                        continue
                    low = high = None
                else:
                    low, high = price_band(item.price, low_ratio, high_ratio)
                filters = SearchFilters(condition_ids, free_shipping, country, low, high)
                hits = self.search(cut_query(item.title, query_chars), filters)
                found.update(o.seller for o in hits[: pages * page_size])
        return found


def cut_query(title: str, limit: int = 100) -> str:
    """A title cut to ``limit`` characters on a word boundary, as the eBay adapters must."""
    if len(title) <= limit:
        return title
    cut = title[: limit + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else title[:limit]).rstrip()
