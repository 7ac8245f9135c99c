"""Seller evidence and the ranking: what the store keeps, what `sellers rank/show/open`, `db
prune`, `export --sort score` and `history` make of it, against the sample's planted sellers."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector_cli import config
from collector_cli.cli.app import app
from collector_cli.errors import ExitCode
from collector_cli.insight.figures import Growth, growth_by_seller, score
from collector_cli.sources.sample import SAMPLE_ITEM_URL, planted_sellers
from tests.conftest import connect, dump
from tests.test_cli_errors import assert_one_error

PLANTED = set(planted_sellers())


def _json(result) -> object:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def demo_twice_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's demo run twice, made once per module and copied into each test."""
    base = tmp_path_factory.mktemp("demo_twice")
    db, cfg = base / "collector.db", base / "config.toml"
    cfg.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLLECTOR_DB", str(db))
        mp.setenv("COLLECTOR_CONFIG", str(cfg))
        mp.setenv("HOME", str(base / "home"))
        config.load.cache_clear()
        for _ in range(2):
            result = CliRunner().invoke(app, ["run", "--preset", "demo"], catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
    config.load.cache_clear()
    return db


@pytest.fixture
def demo_twice(demo_twice_template: Path, db_path: Path) -> Path:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(demo_twice_template), sqlite3.connect(db_path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    db_path.chmod(0o600)
    return db_path


# -- the evidence itself ---------------------------------------------------------------------------


def test_evidence_adds_up_to_the_runs_own_counters(cli, demo_twice: Path) -> None:
    conn = connect(demo_twice)
    try:
        for run in conn.execute("SELECT * FROM runs"):
            rid = run["id"]
            listings = conn.execute(
                "SELECT sum(e.listings) FROM seller_evidence e JOIN run_products p"
                " ON p.id = e.run_product_id WHERE p.run_id = ?",
                (rid,),
            ).fetchone()[0]
            assert listings == run["listings_seen"]  # every listing seen is in the evidence
            mismatched = conn.execute(
                "SELECT p.id FROM run_products p LEFT JOIN seller_evidence e"
                " ON e.run_product_id = p.id WHERE p.run_id = ? GROUP BY p.id"
                " HAVING coalesce(sum(e.listings), 0) != p.listings_seen"
                " OR count(e.seller_id) != p.sellers_seen",
                (rid,),
            ).fetchall()
            assert mismatched == []
            pairs = conn.execute(
                "SELECT count(DISTINCT e.seller_id) FROM seller_evidence e JOIN run_products p"
                " ON p.id = e.run_product_id WHERE p.run_id = ?",
                (rid,),
            ).fetchone()[0]
            assert pairs == run["sellers_found"]
        bad = conn.execute(
            "SELECT count(*) FROM seller_evidence WHERE price_min_micros > price_max_micros"
            " OR price_min_micros <= 0 OR example_url NOT LIKE ? || example_listing_id",
            (SAMPLE_ITEM_URL,),
        ).fetchone()[0]
        assert bad == 0
        # only products that were searched have evidence
        assert (
            conn.execute(
                "SELECT count(*) FROM seller_evidence e JOIN run_products p"
                " ON p.id = e.run_product_id WHERE p.status != 'done'"
            ).fetchone()[0]
            == 0
        )
    finally:
        conn.close()


# -- the ranking's ground truth --------------------------------------------------------------------


def test_planted_sellers_fill_the_top_of_the_ranking(cli, demo_twice: Path) -> None:
    ranked = _json(cli("sellers", "rank", "--json"))
    assert len(ranked) == 20
    top = [row["name"] for row in ranked]
    assert sum(name in PLANTED for name in top) >= 18, top
    assert [row["rank"] for row in ranked] == list(range(1, 21))
    assert [row["score"] for row in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    for row in ranked:
        assert row["why"].startswith(f"{row['products']} products in {row['categories']} categ")
        assert f"seen in {row['runs_seen']} of {row['runs_possible']} runs" in row["why"]
        assert row["markup"] is not None and 1.0 < row["markup"] < 1.2

    # The giants (the largest feedback scores) list many products at scattered prices: they
    # rank below every planted seller instead of crowding them out.
    everyone = _json(cli("sellers", "rank", "--json", "--limit", "100000"))
    giants = sorted(everyone, key=lambda r: -(r["feedback_score"] or 0))[:5]
    assert not PLANTED & {g["name"] for g in giants}
    worst_planted = max(r["rank"] for r in everyone if r["name"] in PLANTED)
    for giant in giants:
        assert giant["rank"] > 20, giant
        assert giant["markup_spread"] > max(
            r["markup_spread"] for r in everyone if r["name"] in PLANTED
        )
    assert worst_planted <= 30


def test_rank_text_fits_80_columns_and_shows_the_why(cli, demo_twice: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("sellers", "rank", "--limit", "5")
    text = _ok(result)
    lines = text.splitlines()
    assert lines[0] == "Top 5 sellers by score (all runs)"
    assert len(lines) == 11  # a title, then two lines per seller
    assert all(len(line) <= 80 for line in lines), lines
    assert "seen in 2 of 2 runs" in lines[2]
    assert "Showing 5 of" in result.stderr


def test_rank_scopes(cli, demo_twice: Path) -> None:
    one = _json(cli("sellers", "rank", "--run", "latest", "--json"))
    assert one and all(r["runs_possible"] == 1 == r["runs_seen"] for r in one)
    same = _json(cli("sellers", "rank", "--run", "2", "--json"))
    assert same == one
    since = _json(cli("sellers", "rank", "--since-run", "2", "--json"))
    assert [r["name"] for r in since] == [r["name"] for r in one]
    cat = _json(
        cli("sellers", "rank", "-c", "electronics-headphones", "--json", "--limit", "100000")
    )
    assert cat and all(r["categories"] == 1 for r in cat)
    dep = _json(cli("sellers", "rank", "-d", "toys-games", "--json", "--limit", "100000"))
    assert dep and all(r["departments"] == 1 for r in dep)
    many = _json(cli("sellers", "rank", "--min-products", "30", "--json", "--limit", "100000"))
    assert many and all(r["products"] >= 30 for r in many)
    assert len(_json(cli("sellers", "rank", "--limit", "3", "--json"))) == 3


# -- sellers show / open ---------------------------------------------------------------------------


def test_show_has_figures_evidence_and_a_feedback_chart(cli, demo_twice: Path) -> None:
    best = _json(cli("sellers", "rank", "--json", "--limit", "1"))[0]
    text = _ok(cli("sellers", "show", best["name"]))
    assert f"why         {best['why']}" in text
    assert f"score       {best['score']:.1f}" in text
    assert "products matched" in text and "amazon" in text and "markup" in text
    assert "profile     — (no profile pages on this platform)" in text
    assert "feedback    " in text and "→" in text  # the small chart
    page = _json(cli("sellers", "show", best["name"], "--json"))
    assert page["figures"]["score"] == best["score"]
    assert len({p["product_key"] for p in page["products"]}) == best["products"]
    assert {p["run_id"] for p in page["products"]} == {1, 2}
    for product in page["products"]:
        assert product["price_min_micros"] <= product["price_max_micros"]
        assert product["example_url"] == SAMPLE_ITEM_URL + product["example_listing_id"]
    everything = _ok(cli("sellers", "show", best["name"], "--all"))
    assert "more (--all" not in everything


def test_open_uses_the_browser_or_prints_the_address(
    cli, demo_twice: Path, tmp_path: Path, monkeypatch
) -> None:
    _ok(cli("sellers", "add", "Some Seller/1", "--platform", "ebay"))
    record = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{record}"\n', encoding="utf-8")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BROWSER", str(browser))
    result = cli("sellers", "open", "some seller/1")
    assert _ok(result) == "https://www.ebay.com/usr/Some%20Seller%2F1\n"
    assert record.read_text(encoding="utf-8") == "https://www.ebay.com/usr/Some%20Seller%2F1\n"

    before = dump(demo_twice)
    sample_seller = next(iter(PLANTED))
    result = cli("sellers", "open", sample_seller)
    assert_one_error(result, ExitCode.NOT_FOUND, contains="no profile pages")
    assert dump(demo_twice) == before


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "contains"),
    [
        (["sellers", "rank", "--run", "999"], ExitCode.NOT_FOUND, "999"),
        (["sellers", "rank", "--run", "abc"], ExitCode.USAGE, "latest"),
        (["sellers", "rank", "--since-run", "999"], ExitCode.NOT_FOUND, "999"),
        (["sellers", "rank", "--run", "1", "--since-run", "1"], ExitCode.USAGE, "--since-run"),
        (["sellers", "rank", "--category", "nosuch"], ExitCode.NOT_FOUND, "nosuch"),
        (["sellers", "rank", "--department", "nosuch"], ExitCode.NOT_FOUND, "nosuch"),
        (["sellers", "rank", "--limit", "0"], ExitCode.USAGE, "--limit"),
        (["sellers", "rank", "--min-products", "0"], ExitCode.USAGE, "--min-products"),
        (["sellers", "show", "no such seller"], ExitCode.NOT_FOUND, "no such seller"),
        (["sellers", "open", "no such seller"], ExitCode.NOT_FOUND, "no such seller"),
        (["db", "prune", "--keep-runs", "-1"], ExitCode.USAGE, "--keep-runs"),
        (["export", "--sort", "best"], ExitCode.USAGE, "--sort"),
        (["export", "--fields", "name,nosuch"], ExitCode.USAGE, "score"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli, demo_twice: Path, args: list[str], code: int, contains: str
) -> None:
    before = dump(demo_twice)
    assert_one_error(cli(*args), code, contains=contains)
    assert dump(demo_twice) == before


# -- runs without evidence -------------------------------------------------------------------------


def test_runs_from_before_evidence_are_coped_with(cli, demo_twice: Path) -> None:
    """A store whose runs predate the evidence table (emptied here) still answers."""
    conn = sqlite3.connect(demo_twice)
    conn.execute("DELETE FROM seller_evidence")
    conn.commit()
    conn.close()
    result = cli("sellers", "rank")
    assert _ok(result) == ""
    assert "No seller evidence yet" in result.stderr
    assert _json(cli("sellers", "rank", "--json")) == []
    name = next(iter(PLANTED))
    assert "evidence: none recorded" in _ok(cli("sellers", "show", name))
    assert _json(cli("sellers", "show", name, "--json"))["figures"] is None
    rows = _ok(cli("export", "--fields", "name,score,why", "--sort", "score")).splitlines()
    assert rows[0] == "name,score,why"
    assert all(row.endswith(",,") for row in rows[1:])


# -- export ----------------------------------------------------------------------------------------


def test_export_sorts_by_score_with_the_figures_as_fields(cli, demo_twice: Path) -> None:
    ranked = _json(cli("sellers", "rank", "--json", "--limit", "100000"))
    lines = _ok(
        cli("export", "-f", "jsonl", "--sort", "score", "--fields", "name,score,products,why")
    ).splitlines()
    exported = [json.loads(line) for line in lines]
    assert [r["name"] for r in exported[: len(ranked)]] == [r["name"] for r in ranked]
    assert exported[0] == {k: ranked[0][k] for k in ("name", "score", "products", "why")}
    # the default export is unchanged by the new fields
    header = _ok(cli("export")).splitlines()[0]
    assert ",score," not in f",{header},"


# -- prune and vacuum ------------------------------------------------------------------------------


def test_prune_keeps_totals_exact_and_vacuum_gives_space_back(cli, demo_twice: Path) -> None:
    _ok(cli("run", "--preset", "demo"))
    conn = connect(demo_twice)
    totals = "SELECT id, sightings, times_seen, first_run_id, last_run_id FROM sellers ORDER BY id"
    before = [tuple(r) for r in conn.execute(totals)]
    run_sellers = [tuple(r) for r in conn.execute("SELECT * FROM run_sellers ORDER BY 1, 2")]
    conn.close()

    result = cli("db", "prune", "--keep-runs", "1", "--json")
    pruned = _json(result)
    assert pruned["runs_pruned"] == 2 and pruned["runs_kept"] == 1
    assert pruned["rows_deleted"] > 0 and pruned["free_bytes"] > 0
    conn = connect(demo_twice)
    try:
        runs_left = {r[0] for r in conn.execute(
            "SELECT DISTINCT p.run_id FROM seller_evidence e JOIN run_products p"
            " ON p.id = e.run_product_id"
        )}  # fmt: skip
        assert runs_left == {3}
        assert [tuple(r) for r in conn.execute(totals)] == before
        assert [tuple(r) for r in conn.execute("SELECT * FROM run_sellers ORDER BY 1, 2")] == (
            run_sellers
        )
    finally:
        conn.close()
    ranked = _json(cli("sellers", "rank", "--json"))
    assert all(r["runs_possible"] == 1 for r in ranked)

    again = _json(cli("db", "prune", "--keep-runs", "1", "--json"))
    assert again["runs_pruned"] == 0 and again["rows_deleted"] == 0
    size = demo_twice.stat().st_size
    vacuumed = _json(cli("db", "vacuum", "--json"))
    assert vacuumed["bytes_after"] < size and vacuumed["bytes_freed"] > 0
    assert connect(demo_twice).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- history trend, growth and score ---------------------------------------------------------------


def test_history_draws_a_trend_of_sellers_per_run(cli, demo_twice: Path) -> None:
    text = _ok(cli("history"))
    assert "sellers #1–#2  found " in text
    trend = text.splitlines()[-1]
    assert trend.endswith(("▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"))


def test_growth_needs_a_day_and_says_when_it_is_approximate() -> None:
    def point(seller: int, at: str, value: int, approx: bool = False) -> dict:
        return {"seller_id": seller, "recorded_at": at, "feedback_score": value, "approx": approx}

    found = growth_by_seller(
        [
            point(1, "2026-01-01T00:00:00+00:00", 100),
            point(1, "2026-01-11T00:00:00+00:00", 200),  # +100 in 10 days
            point(2, "2026-01-01T00:00:00+00:00", 100),
            point(2, "2026-01-01T00:05:00+00:00", 400),  # minutes apart: no figure
            point(3, "2026-01-01T00:00:00+00:00", 1000),
            point(3, "2026-01-31T00:00:00+00:00", 1600, approx=True),  # only one exact
        ]
    )
    assert found[1] == Growth(300.0, False, 10.0)
    assert 2 not in found
    assert found[3].approx and found[3].per_30_days == pytest.approx(600)
    # the score rewards breadth, consistency and persistence, and never goes negative
    steady = score(40, 4, 1.1, 0.005, 1.0, None)
    assert steady > score(40, 4, 1.1, 0.08, 1.0, None)  # scattered prices
    assert steady > score(10, 4, 1.1, 0.005, 1.0, None)  # fewer products
    assert steady > score(40, 4, 1.1, 0.005, 0.5, None)  # seen in half the runs
    assert score(40, 4, 1.1, 0.005, 1.0, found[1]) > steady  # growing feedback
    assert score(1, 1, None, None, 0.0, None) > 0
