"""`collector preset add/list/show/remove` and `collector categories`, through the real CLI."""

from __future__ import annotations

import json
import re

import pytest

from collector_cli.errors import ExitCode
from tests.conftest import connect

DEMO_CATEGORIES = [
    "electronics-headphones",
    "home-kitchen-dining",
    "toys-building-toys",
    "sports-exercise-fitness",
]
DEMO_FILTERS = {
    "condition": "new",
    "free_shipping": True,
    "domestic_only": True,
    "country": "US",
    "price_min_ratio": 0.8,
    "price_max_ratio": 1.2,
    "pages": 2,
    "max_products": 25,
    "unknown_price": "skip",
}
ELECTRONICS = [
    "electronics-accessories",
    "electronics-camera-photo",
    "electronics-computers",
    "electronics-headphones",
    "electronics-tv-video",
]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich tables wrap at 80 columns; a wide terminal keeps names on one line."""
    monkeypatch.setenv("COLUMNS", "250")


def _json(result) -> object:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _presets_by_name(cli) -> dict[str, dict]:
    return {p["name"]: p for p in _json(cli("preset", "list", "--json"))}


# -- the built-in demo ---------------------------------------------------------------------------


def test_demo_preset_exists_on_first_use(cli, db_path):
    assert not db_path.exists()
    presets = _json(cli("preset", "list", "--json"))
    assert [p["name"] for p in presets] == ["demo"]
    demo = presets[0]
    assert demo == {
        "name": "demo",
        "description": "Built-in sample marketplace: 4 categories, 25 products each",
        "departments": [],
        "categories": DEMO_CATEGORIES,
        "filters": DEMO_FILTERS,
        "product_source": "sample",
        "listing_source": "sample",
        "source_options": {"sample": {"latency_ms": 700}},
        "limits": {},
        "builtin": True,
    }
    row = connect(db_path).execute("SELECT name, builtin FROM presets").fetchall()
    assert [tuple(r) for r in row] == [("demo", 1)]


def test_preset_list_text_shows_demo_as_builtin(cli):
    result = cli("preset", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "name"
    rows = [line for line in lines[1:] if line.strip()]
    assert len(rows) == 1
    assert rows[0].startswith("demo (built-in)")
    assert "sample" in rows[0]
    assert "Built-in sample marketplace" in rows[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_preset_show_demo_text(cli):
    result = cli("preset", "show", "demo")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "demo (built-in)"
    assert "Built-in sample marketplace" in result.stdout
    assert re.search(r"sources\s+sample → sample", result.stdout)
    assert re.search(r"categories\s+4\b", result.stdout)
    assert "0.8-1.2" in result.stdout
    assert "Electronics › Headphones (electronics-headphones, node 12097479011)" in result.stdout
    for cat in DEMO_CATEGORIES:
        assert f"({cat}, node " in result.stdout


def test_preset_show_demo_json(cli):
    data = _json(cli("preset", "show", "demo", "--json"))
    assert data["name"] == "demo"
    assert data["builtin"] is True
    assert data["categories"] == DEMO_CATEGORIES
    assert data["expanded_categories"] == DEMO_CATEGORIES
    assert data["filters"] == DEMO_FILTERS


def test_remove_demo_restores_it(cli, db_path):
    cli("preset", "list")
    result = cli("preset", "remove", "demo")
    assert result.exit_code == 0, result.stderr
    assert "built in: restored to its defaults" in result.stderr
    assert result.stdout == ""
    presets = _presets_by_name(cli)
    assert presets["demo"]["builtin"] is True
    assert presets["demo"]["categories"] == DEMO_CATEGORIES
    assert connect(db_path).execute("SELECT count(*) FROM presets").fetchone()[0] == 1


def test_replaced_demo_comes_back_with_defaults_after_remove(cli):
    added = cli("preset", "add", "demo", "--category", "pet-cats", "--pages", "5", "--replace")
    assert added.exit_code == 0, added.stderr
    assert "Replaced preset demo" in added.stderr
    changed = _json(cli("preset", "show", "demo", "--json"))
    assert changed["categories"] == ["pet-cats"]
    assert changed["filters"]["pages"] == 5
    assert changed["builtin"] is False

    assert cli("preset", "remove", "demo").exit_code == 0
    restored = _json(cli("preset", "show", "demo", "--json"))
    assert restored["builtin"] is True
    assert restored["categories"] == DEMO_CATEGORIES
    assert restored["filters"] == DEMO_FILTERS
    assert restored["source_options"] == {"sample": {"latency_ms": 700}}


# -- adding presets ------------------------------------------------------------------------------


def test_add_with_department_and_repeated_categories_defaults(cli, db_path):
    result = cli(
        "preset",
        "add",
        "mix",
        "--department",
        "electronics",
        "--category",
        "pet-cats",
        "-c",
        "pet-dogs",
        "-c",
        "pet-cats",  # duplicates are dropped
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "Added preset mix: department electronics, pet-cats, pet-dogs" in result.stderr

    data = _json(cli("preset", "show", "mix", "--json"))
    assert data["departments"] == ["electronics"]
    assert data["categories"] == ["pet-cats", "pet-dogs"]
    assert data["expanded_categories"] == [*ELECTRONICS, "pet-cats", "pet-dogs"]
    assert data["filters"] == {
        "condition": "new",
        "free_shipping": True,
        "domestic_only": True,
        "country": "US",
        "price_min_ratio": 0.8,
        "price_max_ratio": 1.2,
        "pages": 2,
        "max_products": None,
        "unknown_price": "skip",
    }
    assert data["product_source"] == "sample"
    assert data["listing_source"] == "sample"
    assert data["builtin"] is False
    assert data["description"] == ""

    row = connect(db_path).execute("SELECT * FROM presets WHERE name = 'mix'").fetchone()
    assert json.loads(row["departments"]) == ["electronics"]
    assert json.loads(row["categories"]) == ["pet-cats", "pet-dogs"]
    assert row["builtin"] == 0


def test_add_with_every_filter_option(cli):
    result = cli(
        "preset",
        "add",
        "full_set-1",
        "-d",
        "toys-games",
        "-c",
        "office-writing",
        "--condition",
        "refurbished",
        "--any-shipping",
        "--any-country",
        "--country",
        "gb",
        "--price-min",
        "0.5",
        "--price-max",
        "2.5",
        "--pages",
        "7",
        "--max-products",
        "40",
        "--unknown-price",
        "search",
        "--source",
        "sample",
        "--description",
        "Toys plus pens, anywhere",
    )
    assert result.exit_code == 0, result.stderr

    data = _json(cli("preset", "show", "full_set-1", "--json"))
    assert data["filters"] == {
        "condition": "refurbished",
        "free_shipping": False,
        "domestic_only": False,
        "country": "GB",  # normalised to upper case
        "price_min_ratio": 0.5,
        "price_max_ratio": 2.5,
        "pages": 7,
        "max_products": 40,
        "unknown_price": "search",
    }
    assert data["description"] == "Toys plus pens, anywhere"
    assert data["departments"] == ["toys-games"]
    assert data["categories"] == ["office-writing"]
    assert len(data["expanded_categories"]) == 6
    assert data["product_source"] == data["listing_source"] == "sample"

    text = cli("preset", "show", "full_set-1")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == "full_set-1"
    assert "Toys plus pens, anywhere" in text.stdout
    filters_line = next(line for line in text.stdout.splitlines() if "filters" in line)
    for bit in ("refurbished", "any shipping", "any country", "0.5-2.5", "7", "40"):
        assert bit in filters_line, (bit, filters_line)
    assert re.search(r"categories\s+6\b", text.stdout)
    assert "(office-writing, node " in text.stdout
    assert "(toys-building-toys, node " in text.stdout


def test_add_explicit_free_shipping_and_domestic(cli):
    result = cli(
        "preset",
        "add",
        "strict",
        "-c",
        "pet-fish",
        "--free-shipping",
        "--domestic",
        "--country",
        "DE",
        "--condition",
        "used",
    )
    assert result.exit_code == 0, result.stderr
    f = _json(cli("preset", "show", "strict", "--json"))["filters"]
    assert (f["free_shipping"], f["domestic_only"], f["country"], f["condition"]) == (
        True,
        True,
        "DE",
        "used",
    )
    text = cli("preset", "show", "strict").stdout
    filters_line = next(line for line in text.splitlines() if "filters" in line)
    for bit in ("used", "free shipping", "DE"):
        assert bit in filters_line, (bit, filters_line)


def test_add_without_replace_fails_then_replace_overwrites(cli):
    assert cli("preset", "add", "mine", "-c", "pet-cats").exit_code == 0
    dup = cli("preset", "add", "mine", "-c", "pet-dogs")
    assert dup.exit_code == ExitCode.USAGE
    assert "already exists" in dup.stderr
    assert _json(cli("preset", "show", "mine", "--json"))["categories"] == ["pet-cats"]

    rep = cli("preset", "add", "mine", "-c", "pet-dogs", "--condition", "any", "--replace")
    assert rep.exit_code == 0, rep.stderr
    assert "Replaced preset mine: pet-dogs" in rep.stderr
    data = _json(cli("preset", "show", "mine", "--json"))
    assert data["categories"] == ["pet-dogs"]
    assert data["filters"]["condition"] == "any"
    assert list(_presets_by_name(cli)) == ["demo", "mine"]


def test_replace_of_a_new_name_just_adds(cli):
    result = cli("preset", "add", "fresh", "-c", "pet-birds", "--replace")
    assert result.exit_code == 0, result.stderr
    assert "Added preset fresh" in result.stderr
    assert "fresh" in _presets_by_name(cli)


def test_list_text_and_json_with_user_presets(cli):
    assert (
        cli(
            "preset",
            "add",
            "zeta",
            "-d",
            "baby",
            "--description",
            "baby things",
            "--any-country",
        ).exit_code
        == 0
    )
    assert cli("preset", "add", "alpha", "-c", "tools-paint", "--pages", "3").exit_code == 0

    listed = _json(cli("preset", "list", "--json"))
    assert [p["name"] for p in listed] == ["alpha", "demo", "zeta"]  # sorted by name
    for p in listed:
        assert set(p) == {
            "name",
            "description",
            "departments",
            "categories",
            "filters",
            "product_source",
            "listing_source",
            "source_options",
            "limits",
            "builtin",
        }
    by_name = {p["name"]: p for p in listed}
    assert by_name["zeta"]["departments"] == ["baby"]
    assert by_name["zeta"]["description"] == "baby things"
    assert by_name["zeta"]["filters"]["domestic_only"] is False
    assert by_name["alpha"]["filters"]["pages"] == 3
    assert by_name["alpha"]["builtin"] is False

    text = cli("preset", "list")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["name", "categories", "sources", "filters", "description"]
    rows = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert list(rows) == ["alpha", "demo", "zeta"]
    assert "baby things" in rows["zeta"]
    assert "any country" in rows["zeta"]
    assert "(built-in)" in rows["demo"]
    assert "(built-in)" not in rows["alpha"] + rows["zeta"]


def test_remove_user_preset(cli, db_path):
    assert cli("preset", "add", "gone", "-c", "pet-cats").exit_code == 0
    assert "gone" in _presets_by_name(cli)
    result = cli("preset", "remove", "gone")
    assert result.exit_code == 0, result.stderr
    assert "Removed preset gone." in result.stderr
    assert list(_presets_by_name(cli)) == ["demo"]
    assert (
        connect(db_path).execute("SELECT count(*) FROM presets WHERE name = 'gone'").fetchone()[0]
        == 0
    )
    again = cli("preset", "remove", "gone")
    assert again.exit_code == ExitCode.NOT_FOUND
    show = cli("preset", "show", "gone")
    assert show.exit_code == ExitCode.NOT_FOUND


def test_removing_a_preset_keeps_past_runs_snapshot(cli, db_path):
    assert cli("preset", "add", "tiny", "-c", "pet-fish", "--max-products", "2").exit_code == 0
    assert cli("run", "--preset", "tiny").exit_code == 0
    assert cli("preset", "remove", "tiny").exit_code == 0
    shown = _json(cli("history", "show", "1", "--json"))
    assert shown["preset"] == "tiny"
    assert shown["preset_snapshot"]["categories"] == ["pet-fish"]
    assert shown["preset_snapshot"]["filters"]["max_products"] == 2


def test_name_of_64_characters_is_accepted(cli):
    name = "a" * 64
    assert cli("preset", "add", name, "-c", "pet-cats").exit_code == 0
    assert _json(cli("preset", "show", name, "--json"))["name"] == name


# -- categories ----------------------------------------------------------------------------------


def test_categories_json_lists_15_departments_75_categories(cli, db_path):
    data = _json(cli("categories", "--json"))
    assert len(data) == 15
    assert sum(len(d["categories"]) for d in data) == 75
    assert all(len(d["categories"]) == 5 for d in data)
    ids = [c["id"] for d in data for c in d["categories"]]
    assert len(set(ids)) == 75
    for dep in data:
        assert set(dep) == {"id", "name", "node_id", "categories"}
        assert dep["node_id"].isdigit()
        for cat in dep["categories"]:
            assert set(cat) == {"id", "name", "node_id"}
            assert cat["node_id"].isdigit()
    electronics = next(d for d in data if d["id"] == "electronics")
    assert electronics["name"] == "Electronics"
    assert electronics["node_id"] == "493964"
    # the taxonomy is bundled data: listing it does not need (or create) a store
    assert not db_path.exists()


def test_categories_text_lists_everything(cli):
    json_data = _json(cli("categories", "--json"))
    result = cli("categories")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["department", "category", "id", "name", "node", "id"]
    for dep in json_data:
        assert any(line.startswith(dep["id"] + " ") for line in lines), dep["id"]
        for cat in dep["categories"]:
            assert cat["id"] in result.stdout
    # one header, 15 department rows, 75 category rows
    assert len([line for line in lines if line.strip()]) == 1 + 15 + 75


def test_categories_one_department(cli):
    result = cli("categories", "--department", "electronics")
    assert result.exit_code == 0, result.stderr
    for cat in ELECTRONICS:
        assert cat in result.stdout
    assert "pet-cats" not in result.stdout
    assert "appliances" not in result.stdout

    data = _json(cli("categories", "-d", "electronics", "--json"))
    assert [d["id"] for d in data] == ["electronics"]
    assert [c["id"] for c in data[0]["categories"]] == ELECTRONICS
    headphones = data[0]["categories"][3]
    assert headphones == {
        "id": "electronics-headphones",
        "name": "Headphones",
        "node_id": "12097479011",
    }


def test_categories_unknown_department_is_usage_error(cli):
    result = cli("categories", "--department", "nope")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "collector: error: unknown department 'nope' (see `collector categories` for the valid ids)"
    ]
