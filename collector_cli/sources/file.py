"""Product source ``file``: the user's own product list, CSV or JSON, instead of Best Sellers.

Columns (CSV header or JSON keys): ``title`` and ``price`` required (price may be empty:
unknown), ``id`` and ``category`` optional. A row's ``category`` is a category id, name or
browse-node id from the preset; rows without one belong to the preset's first category.
The file is read and checked before the run starts, so a typo in it costs nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from pathlib import Path
from typing import Any

from collector_cli import taxonomy
from collector_cli.errors import UsageError
from collector_cli.models import Category, Product, ProductPage, to_micros
from collector_cli.sources.base import SourceContext

MAX_PRODUCTS = 100_000
_MONEY = re.compile(r"^\$?\s*(\d[\d,]*(?:\.\d+)?)\s*$")


class FileProducts:
    name = "file"
    call_cost_micros = 0

    def __init__(self, ctx: SourceContext) -> None:
        self.rows = load(ctx.options)
        self.categories = ctx.categories

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        load(options)

    @classmethod
    def plan_products(cls, options: dict[str, Any], products: int) -> tuple[int, int]:
        return 0, 0

    @classmethod
    def expected_products(
        cls, options: dict[str, Any], categories: list[str], per_category: int | None
    ) -> int:
        """How many products the run will list: the file's rows, per category, capped."""
        source = cls(SourceContext(0, options, categories=tuple(categories)))
        total = 0
        for category_id in categories:
            keys = source._keys(taxonomy.category(category_id))
            total += min(len(keys), per_category or len(keys))
        return total

    async def product_page(self, category: Category, page: int) -> ProductPage:
        return ProductPage(list(self._keys(category).values()), has_more=False)

    def _keys(self, category: Category) -> dict[str, Product]:
        first = not self.categories or self.categories[0] == category.id
        wanted = {category.id.casefold(), category.name.casefold(), category.node_id}
        products: dict[str, Product] = {}
        for label, product in self.rows:
            if label.casefold() in wanted if label else first:
                products.setdefault(product.key, product)  # a repeated row is one product
        return products

    async def aclose(self) -> None:
        return None


def load(options: dict[str, Any]) -> list[tuple[str, Product]]:
    """(category label, product) per row; every problem is one usage error naming the row."""
    raw_path = options.get("path")
    if not raw_path:
        raise UsageError("the file source needs a path: preset add … --products-file FILE")
    path = Path(str(raw_path)).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"products file {path} does not exist") from None
    except UnicodeDecodeError:
        raise UsageError(f"products file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read products file {path}: {exc.strerror}") from None
    records = _json_records(text, path) if _is_json(path, text) else _csv_records(text, path)
    if not records:
        raise UsageError(f"products file {path} holds no products")
    if len(records) > MAX_PRODUCTS:
        raise UsageError(f"products file {path} holds {len(records)} products; at most 100000")
    return [_row(record, path, number) for number, record in enumerate(records, 1)]


def _is_json(path: Path, text: str) -> bool:
    return path.suffix.lower() in (".json", ".jsonl") or text.lstrip()[:1] in ("[", "{")


def _json_records(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix.lower() == ".jsonl":  # JSON Lines: one product object per line
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"products file {path} is not valid JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("products")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UsageError(f'products file {path}: use a list of objects or {{"products": [...]}}')
    return data


def _csv_records(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "title" not in fields or "price" not in fields:
            raise UsageError(f"products file {path}: the CSV header needs title and price columns")
        return [{k.strip().lower(): v for k, v in row.items() if k} for row in reader]
    except csv.Error as exc:
        raise UsageError(f"products file {path} is not valid CSV: {exc}") from None


def _amount(price: Any) -> float | None:
    """A finite, non-negative number of dollars, or None for anything else."""
    if isinstance(price, int | float) and not isinstance(price, bool):
        amount = float(price)
    elif isinstance(price, str) and (match := _MONEY.match(price)):
        amount = float(match.group(1).replace(",", ""))
    else:
        return None
    return amount if math.isfinite(amount) and 0 <= amount <= 10_000_000 else None


def _row(record: dict[str, Any], path: Path, number: int) -> tuple[str, Product]:
    title = " ".join(str(record.get("title") or "").split())
    if not title:
        raise UsageError(f"products file {path}, product {number}: the title is empty")
    price = record.get("price")
    if price is None or (isinstance(price, str) and not price.strip()):
        micros = None
    else:
        amount = _amount(price)
        if amount is None:
            raise UsageError(
                f"products file {path}, product {number}: price {price!r} is not an amount"
            )
        micros = to_micros(amount) or None
    key = str(record.get("id") or "").strip()
    if not key:
        key = "F" + hashlib.blake2b(title.encode(), digest_size=6).hexdigest().upper()
    return str(record.get("category") or "").strip(), Product(key, title, micros, number)
