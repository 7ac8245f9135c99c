"""The ``file`` product source: the user's own CSV or JSON list, routed to the run's categories."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from collector_cli import taxonomy
from collector_cli.errors import UsageError
from collector_cli.models import Category, Product
from collector_cli.sources.base import SourceContext, check_options
from collector_cli.sources.file import FileProducts

HEADPHONES = taxonomy.category("electronics-headphones")
TOYS = taxonomy.category("toys-building-toys")
CATEGORIES = (HEADPHONES.id, TOYS.id)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def products(
    path: Path, category: Category = HEADPHONES, categories: tuple[str, ...] = CATEGORIES
) -> list[Product]:
    """The products the source lists for ``category`` (one page, nothing more)."""

    async def main() -> list[Product]:
        source = FileProducts(SourceContext(1, {"path": str(path)}, categories=categories))
        try:
            page = await source.product_page(category, 1)
        finally:
            await source.aclose()
        assert page.has_more is False
        return page.products

    return asyncio.run(main())


def usage_error(options: dict[str, Any]) -> str:
    """The message of the UsageError the file's problem raises, both at check and at start."""
    with pytest.raises(UsageError) as checked:
        check_options("file", "product", options)
    with pytest.raises(UsageError) as built:
        FileProducts(SourceContext(1, options, categories=CATEGORIES))
    assert str(checked.value) == str(built.value)
    return str(built.value)


# -- reading -------------------------------------------------------------------------------------


def test_csv_with_id_and_without(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.csv",
        "id,title,price\nA1, Wireless  Headphones ,19.99\n,Kids Building Set,5\n",
    )
    first, second = products(path)
    assert first == Product("A1", "Wireless Headphones", 19_990_000, 1)
    assert second.title == "Kids Building Set" and second.price_micros == 5_000_000
    assert second.rank == 2
    assert second.key.startswith("F") and len(second.key) == 13
    assert products(path)[1].key == second.key  # stable between runs


def test_generated_keys_differ_per_title(tmp_path: Path) -> None:
    path = write(tmp_path, "list.csv", "title,price\nOne,1\nTwo,2\n")
    one, two = products(path)
    assert one.key != two.key


def test_csv_header_is_case_and_space_insensitive_and_bom_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "list.csv", "\ufeff Title , PRICE ,Category\nLamp,3.50,\n".encode())
    assert products(path) == [Product(products(path)[0].key, "Lamp", 3_500_000, 1)]


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("$1,234.50", 1_234_500_000),
        ("1234.5", 1_234_500_000),
        ("$ 7", 7_000_000),
        ("", None),
        ("   ", None),
        ("0", None),
    ],
)
def test_csv_prices(tmp_path: Path, text: str, micros: int | None) -> None:
    path = write(tmp_path, "list.csv", f'title,price\nThing,"{text}"\n')
    (product,) = products(path)
    assert product.price_micros == micros


def test_json_list_and_products_object(tmp_path: Path) -> None:
    rows = [
        {"id": "J1", "title": "Blender", "price": 49.5},
        {"title": "Desk Lamp", "price": None},
        {"title": "Yoga Mat", "price": "$1,234.50"},
        {"title": "Phone Case", "price": 0},
    ]
    listed = products(write(tmp_path, "a.json", json.dumps(rows)))
    wrapped = products(write(tmp_path, "b.json", json.dumps({"products": rows})))
    assert listed == wrapped
    assert [(p.key, p.price_micros) for p in listed][:1] == [("J1", 49_500_000)]
    assert [p.price_micros for p in listed][1:] == [None, 1_234_500_000, None]
    assert [p.rank for p in listed] == [1, 2, 3, 4]


def test_json_with_bom_and_other_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "list.txt", '\ufeff[{"title": "Kettle", "price": 12}]'.encode())
    (product,) = products(path)
    assert (product.title, product.price_micros) == ("Kettle", 12_000_000)


def test_duplicate_rows_collapse_to_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.csv",
        "id,title,price\nD1,Lamp,10\nD1,Lamp again,11\n,Mat,5\n,Mat,5\n,Mat,6\n",
    )
    listed = products(path)
    assert [(p.key, p.title, p.price_micros, p.rank) for p in listed] == [
        ("D1", "Lamp", 10_000_000, 1),
        (listed[1].key, "Mat", 5_000_000, 3),
    ]


# -- routing to categories -----------------------------------------------------------------------


def test_rows_are_routed_by_category_id_name_or_node(tmp_path: Path) -> None:
    rows = [
        {"title": "By id", "price": 1, "category": HEADPHONES.id},
        {"title": "By name", "price": 2, "category": TOYS.name.upper()},
        {"title": "By node", "price": 3, "category": TOYS.node_id},
        {"title": "No category", "price": 4},
        {"title": "Blank category", "price": 5, "category": "  "},
        {"title": "Elsewhere", "price": 6, "category": "garden-tools"},
    ]
    path = write(tmp_path, "list.json", json.dumps(rows))
    assert [p.title for p in products(path, HEADPHONES)] == [
        "By id",
        "No category",
        "Blank category",
    ]
    assert [p.title for p in products(path, TOYS)] == ["By name", "By node"]


def test_rows_without_category_go_to_the_first_category(tmp_path: Path) -> None:
    path = write(tmp_path, "list.csv", "title,price\nLamp,1\n")
    assert [p.title for p in products(path, TOYS, categories=(TOYS.id, HEADPHONES.id))] == ["Lamp"]
    assert products(path, HEADPHONES, categories=(TOYS.id, HEADPHONES.id)) == []
    assert [p.title for p in products(path, HEADPHONES, categories=())] == ["Lamp"]


def test_expected_products_counts_per_category(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.csv",
        f"title,price,category\nA,1,\nB,2,\nC,3,{TOYS.id}\nA,1,\n",
    )
    options = {"path": str(path)}
    assert FileProducts.expected_products(options, list(CATEGORIES), None) == 3
    assert FileProducts.expected_products(options, list(CATEGORIES), 1) == 2
    assert FileProducts.plan_products(options, 100) == (0, 0)


# -- bad input -----------------------------------------------------------------------------------


def test_no_path(tmp_path: Path) -> None:
    assert "needs a path" in usage_error({})


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    message = usage_error({"path": str(missing)})
    assert str(missing) in message and "does not exist" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.csv", "title,price\nCaf\xe9,1\n".encode("latin-1"))
    assert "not UTF-8" in usage_error({"path": str(path)})


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", '[{"title": "x", "price": 1},', "not valid JSON"),
        ("shape.json", '{"items": []}', "list of objects"),
        ("scalars.json", "[1, 2]", "list of objects"),
        ("empty.json", "[]", "holds no products"),
        ("empty.csv", "", "needs title and price"),
        ("noprice.csv", "title,cost\nLamp,1\n", "needs title and price"),
        ("notitle.csv", "name,price\nLamp,1\n", "needs title and price"),
        ("header.csv", "title,price\n", "holds no products"),
        ("blank.csv", "title,price\n  ,1\n", "product 1: the title is empty"),
        ("price.csv", "title,price\nA,1\nB,cheap\n", "product 2: price 'cheap' is not an amount"),
        ("neg.csv", "title,price\nA,-5\n", "price '-5' is not an amount"),
        ("neg.json", '[{"title": "A", "price": -5}]', "price -5 is not an amount"),
        ("bool.json", '[{"title": "A", "price": true}]', "price True is not an amount"),
        ("notitle.json", '[{"price": 1}]', "product 1: the title is empty"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = write(tmp_path, name, content)
    message = usage_error({"path": str(path)})
    assert expected in message
    assert str(path) in message


def test_unreadable_csv_row(tmp_path: Path) -> None:
    path = write(tmp_path, "huge.csv", 'title,price\n"' + "x" * 140_000 + '",1\n')
    assert "not valid CSV" in usage_error({"path": str(path)})


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("inf.json", '[{"title": "A", "price": Infinity}]'),
        ("inf.csv", "title,price\nA,1" + "0" * 400),
    ],
    ids=["json-infinity", "csv-overflow"],
)
def test_infinite_price_is_a_usage_error(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path, name, content)
    assert "is not an amount" in usage_error({"path": str(path)})


def test_json_lines_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.jsonl", '{"title": "A", "price": 2}\n\n{"title": "B", "price": ""}\n')
    source = FileProducts(SourceContext(0, {"path": str(path)}))
    assert [(label, p.title, p.price_micros) for label, p in source.rows] == [
        ("", "A", 2_000_000),
        ("", "B", None),
    ]
