"""`collector sellers …` and `history show RUN --sellers`, through the real CLI and store."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector_cli import config
from collector_cli.cli.app import app
from collector_cli.errors import ExitCode
from tests.conftest import connect, dump
from tests.test_cli_errors import assert_one_error


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def _json(result) -> object:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr


@pytest.fixture
def store(cli, db_path: Path) -> list[str]:
    """An existing, empty-of-sellers store; returns its dump."""
    _ok(cli("sellers", "list"))
    return dump(db_path)


@pytest.fixture(scope="module")
def two_runs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store after two demo runs, made once per module and copied into each test."""
    base = tmp_path_factory.mktemp("two_runs")
    db = base / "collector.db"
    cfg = base / "config.toml"
    cfg.write_text("[sources.sample]\nlatency_ms = 0\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLLECTOR_DB", str(db))
        mp.setenv("COLLECTOR_CONFIG", str(cfg))
        mp.setenv("HOME", str(base / "home"))
        config.load.cache_clear()
        runner = CliRunner()
        for _ in range(2):
            result = runner.invoke(app, ["run", "--preset", "demo"], catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
    config.load.cache_clear()
    return db


@pytest.fixture
def two_runs(two_runs_template: Path, db_path: Path) -> Path:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(two_runs_template), sqlite3.connect(db_path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    db_path.chmod(0o600)
    return db_path


def _seller_rows(db_path: Path, where: str = "1", params: tuple = ()) -> list[sqlite3.Row]:
    return connect(db_path).execute(f"SELECT * FROM sellers WHERE {where}", params).fetchall()


def _audit(db_path: Path) -> list[dict]:
    rows = connect(db_path).execute("SELECT * FROM seller_audit ORDER BY id").fetchall()
    return [dict(r) for r in rows]


# -- list: empty store, filters, order, limit ----------------------------------------------------


def test_list_on_an_empty_store(cli):
    result = cli("sellers", "list")
    assert _ok(result).startswith("No sellers yet. Collect some with")
    assert result.stdout == ""
    assert _json(cli("sellers", "list", "--json")) == []
    assert _json(cli("sellers", "log", "--json")) == []
    assert "audit log is empty" in _ok(cli("sellers", "log"))


def test_list_defaults_after_runs(cli, two_runs):
    total = len(_seller_rows(two_runs))
    listed = _json(cli("sellers", "list", "--json"))
    assert len(listed) == 50
    sightings = [s["sightings"] for s in listed]
    assert sightings == sorted(sightings, reverse=True)
    assert set(listed[0]) == {
        "id",
        "name",
        "name_key",
        "platform",
        "feedback_score",
        "feedback_score_approx",
        "feedback_percent",
        "times_seen",
        "sightings",
        "first_run_id",
        "first_seen_at",
        "last_run_id",
        "last_seen_at",
        "flagged",
        "flag_note",
        "exported_at",
        "origin",
        "created_at",
    }

    text = cli("sellers", "list", "--limit", "3")
    assert f"Showing 3 of {total:,} sellers" in _ok(text)
    lines = text.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "platform"]
    assert len([ln for ln in lines[1:] if ln.strip()]) == 3
    top = _json(cli("sellers", "list", "--json", "--limit", "3"))
    for seller, line in zip(top, lines[1:], strict=True):
        assert line.startswith(seller["name"])
        assert f"{seller['sightings']:,}" in line

    everything = _json(cli("sellers", "list", "--json", "--limit", "0"))
    assert len(everything) == total
    all_text = cli("sellers", "list", "--limit", "0")
    assert "Showing" not in _ok(all_text)


def test_empty_results_say_what_filtered_them_out(cli, two_runs):
    result = cli("sellers", "list", "--min-feedback", "99999999")
    line = _ok(result)
    assert line.startswith("No seller matches these filters. (")
    assert "sellers in the store.)" in line and result.stdout == ""
    result = cli("sellers", "search", "zzz")
    assert "No seller name contains 'zzz'. (" in _ok(result)


def test_list_orders(cli, two_runs):
    def listed(order: str) -> list[dict]:
        return _json(cli("sellers", "list", "--json", "--limit", "0", "--order", order))

    by_feedback = [s["feedback_score"] for s in listed("feedback")]
    assert by_feedback == sorted(by_feedback, reverse=True)
    by_name = [s["name_key"] for s in listed("name")]
    assert by_name == sorted(by_name)
    by_last = [s["last_seen_at"] for s in listed("last-seen")]
    assert by_last == sorted(by_last, reverse=True)
    by_sightings = [s["sightings"] for s in listed("sightings")]
    assert by_sightings == sorted(by_sightings, reverse=True)


def test_list_filters_match_the_rows(cli, two_runs):
    conn = connect(two_runs)

    def ids(*args: str) -> set[int]:
        return {s["id"] for s in _json(cli("sellers", "list", "--json", "--limit", "0", *args))}

    def sql_ids(sql: str, params: tuple = ()) -> set[int]:
        return {r[0] for r in conn.execute(sql, params)}

    new_in_2 = sql_ids("SELECT seller_id FROM run_sellers WHERE run_id = 2 AND is_new = 1")
    assert 0 < len(new_in_2) < 300
    assert ids("--new-in", "2") == new_in_2
    assert ids("--seen-in", "1") == sql_ids("SELECT seller_id FROM run_sellers WHERE run_id = 1")
    assert ids("--min-feedback", "10000") == sql_ids(
        "SELECT id FROM sellers WHERE feedback_score >= 10000"
    )
    assert ids("--min-times-seen", "2") == sql_ids("SELECT id FROM sellers WHERE times_seen >= 2")
    assert ids("--platform", "sample") == sql_ids("SELECT id FROM sellers")
    assert ids("--platform", "ebay") == set()
    assert ids("--origin", "manual") == set()
    assert ids("--unexported") == sql_ids("SELECT id FROM sellers")
    assert ids("--exported") == set()
    combined = ids("--new-in", "2", "--min-feedback", "500")
    assert combined == new_in_2 & sql_ids("SELECT id FROM sellers WHERE feedback_score >= 500")
    assert ids("--new-in", "1", "--seen-in", "2", "--min-times-seen", "2") == sql_ids(
        "SELECT seller_id FROM run_sellers WHERE run_id = 2 AND seller_id IN"
        " (SELECT seller_id FROM run_sellers WHERE run_id = 1 AND is_new = 1)"
    )


@pytest.mark.parametrize(
    ("args", "code", "contains"),
    [
        pytest.param(["--new-in", "99"], ExitCode.NOT_FOUND, "no run with id 99", id="new-in"),
        pytest.param(["--seen-in", "99"], ExitCode.NOT_FOUND, "no run with id 99", id="seen-in"),
        pytest.param(["--new-in", "0"], ExitCode.USAGE, "--new-in", id="new-in-0"),
        pytest.param(["--limit", "-1"], ExitCode.USAGE, "--limit", id="limit"),
        pytest.param(["--order", "price"], ExitCode.USAGE, "--order", id="order"),
        pytest.param(["--min-feedback", "-5"], ExitCode.USAGE, "--min-feedback", id="min-fb"),
        pytest.param(["--min-times-seen", "-1"], ExitCode.USAGE, "--min-times-seen", id="min-ts"),
        pytest.param(["--origin", "robot"], ExitCode.USAGE, "--origin", id="origin"),
        pytest.param(["--platform", "e bay"], ExitCode.USAGE, "invalid platform", id="platform"),
        pytest.param(["--limit", "many"], ExitCode.USAGE, "--limit", id="limit-not-int"),
        pytest.param(["--limit", "9" * 20], ExitCode.USAGE, "too large", id="limit-huge"),
        pytest.param(["--new-in", "9" * 20], ExitCode.USAGE, "too large", id="new-in-huge"),
        pytest.param(["--min-feedback", "9" * 20], ExitCode.USAGE, "too large", id="min-fb-huge"),
    ],
)
@pytest.mark.parametrize("command", ["list", "search"])
def test_list_and_search_bad_options(cli, db_path, store, command, args, code, contains):
    text = ["x"] if command == "search" else []
    assert_one_error(cli("sellers", command, *text, *args), code, contains=contains)
    assert_one_error(cli("sellers", command, *text, *args, "--json"), code, contains=contains)
    assert dump(db_path) == store


# -- add -----------------------------------------------------------------------------------------


def test_add_names_and_show_them(cli, db_path, store):
    result = cli("sellers", "add", "Acme Outlet", "bargain bin", "--note", "from a trade show")
    assert result.stdout == ""
    assert _ok(result).splitlines() == [
        "Added 'Acme Outlet' (ebay).",
        "Added 'bargain bin' (ebay).",
    ]
    shown = _json(cli("sellers", "show", "ACME   outlet", "--json"))
    assert shown["name"] == "Acme Outlet"
    assert shown["name_key"] == "acme outlet"
    assert shown["platform"] == "ebay"  # the documented default
    assert shown["origin"] == "manual"
    assert shown["times_seen"] == shown["sightings"] == 0
    assert shown["feedback_score"] is None
    assert shown["flagged"] is False
    assert shown["first_run_id"] is None
    assert shown["runs"] == []
    assert shown["feedback_history"] == []

    audit = _audit(db_path)
    assert [(a["action"], a["platform"], a["name"]) for a in audit] == [
        ("add", "ebay", "Acme Outlet"),
        ("add", "ebay", "bargain bin"),
    ]
    assert audit[0]["seller_id"] == shown["id"]
    assert json.loads(audit[0]["detail"]) == {"note": "from a trade show"}

    text = cli("sellers", "show", "acme outlet")
    _ok(text)
    lines = text.stdout.splitlines()
    assert lines[0] == "Acme Outlet"
    assert any(ln.split() == ["origin", "manual"] for ln in lines)
    assert any(ln.split() == ["platform", "ebay"] for ln in lines)
    assert "seen in no runs" in text.stdout
    assert "feedback history: none recorded" in text.stdout


def test_add_with_platform_is_normalised(cli, db_path, store):
    _ok(cli("sellers", "add", "--platform", "Amazon", "Shop One"))
    assert _json(cli("sellers", "show", "shop one", "--json"))["platform"] == "amazon"


def test_add_existing_is_a_reported_no_op(cli, db_path, store):
    _ok(cli("sellers", "add", "Acme Outlet"))
    before = dump(db_path)
    for variant in ("Acme Outlet", "ACME OUTLET", "  acme   outlet "):
        result = cli("sellers", "add", variant)
        err = _ok(result)
        assert "Unchanged: " in err
        assert "already known" in err
        assert "Nothing changed." in err
        assert dump(db_path) == before
    as_json = _json(cli("sellers", "add", "ACME OUTLET", "--json"))
    assert as_json["action"] == "add"
    assert as_json["changed"] == []
    assert as_json["unchanged"][0]["name"] == "Acme Outlet"
    assert as_json["unchanged"][0]["reason"] == "already known as 'Acme Outlet'"
    assert dump(db_path) == before
    # the same name on another platform is another seller
    _ok(cli("sellers", "add", "-p", "sample", "Acme Outlet"))
    assert len(_seller_rows(db_path)) == 2


def test_add_repeated_names_in_one_command(cli, db_path, store):
    data = _json(cli("sellers", "add", "Twin", "twin", "TWIN", "Other", "--json"))
    assert [s["name"] for s in data["changed"]] == ["Twin", "Other"]
    assert [s["reason"] for s in data["unchanged"]] == ["repeated in the input"] * 2
    assert [a["name"] for a in _audit(db_path)] == ["Twin", "Other"]


def test_add_from_stdin_with_dash(cli, db_path, store):
    piped = "\ufeffFirst Seller\r\n\r\n   \n  Second Seller  \nthird\n"
    result = cli("sellers", "add", "-p", "sample", "-", input=piped)
    assert _ok(result).splitlines() == [
        "Added 'First Seller' (sample).",
        "Added 'Second Seller' (sample).",
        "Added 'third' (sample).",
    ]
    names = [r["name"] for r in _seller_rows(db_path, "1 ORDER BY id")]
    assert names == ["First Seller", "Second Seller", "third"]
    assert [a["action"] for a in _audit(db_path)] == ["add"] * 3


def test_add_reads_piped_stdin_without_names(cli, db_path, store):
    _ok(cli("sellers", "add", input="alpha\nbeta\n"))
    assert [r["name"] for r in _seller_rows(db_path, "1 ORDER BY id")] == ["alpha", "beta"]


def test_add_mixes_arguments_and_stdin(cli, db_path, store):
    _ok(cli("sellers", "add", "before", "-", "after", input="middle\n"))
    names = [r["name"] for r in _seller_rows(db_path, "1 ORDER BY id")]
    assert names == ["before", "middle", "after"]


@pytest.mark.parametrize(
    ("args", "stdin", "contains"),
    [
        pytest.param([], "", "no seller names given", id="nothing"),
        pytest.param([], "\n  \n\n", "no seller names given", id="blank-stdin"),
        pytest.param(["-"], "", "no seller names given", id="dash-empty"),
        pytest.param(["", "ok"], None, "invalid seller name ''", id="empty-name"),
        pytest.param(["   "], None, "invalid seller name '   '", id="spaces"),
        pytest.param(["ok", "bad\x1b[31m"], None, "control character U+001B", id="escape"),
        pytest.param(["ok", "a\nb"], None, "control character U+000A", id="newline"),
        pytest.param(["x" * 201], None, "longer than 200", id="too-long"),
        pytest.param(["ok", "\u200b"], None, "empty or invisible", id="zero-width-only"),
        pytest.param(["\u200b \u2060\ufeff"], None, "empty or invisible", id="invisibles"),
        pytest.param(["ok", "shop\u202eevil"], None, "direction control U+202E", id="rlo"),
        pytest.param(["\u2066isolated"], None, "direction control U+2066", id="isolate"),
        pytest.param(["-", "-"], "a\n", "only once", id="two-dashes"),
        pytest.param(["-"], "fine\nalso\x00bad\n", "control character U+0000", id="stdin-nul"),
        pytest.param(["ok", "--platform", "e bay"], None, "invalid platform", id="platform"),
        pytest.param(["ok", "--platform", ""], None, "invalid platform", id="platform-empty"),
    ],
)
def test_add_bad_input_changes_nothing(cli, db_path, store, args, stdin, contains):
    result = cli("sellers", "add", *args, input=stdin)
    assert_one_error(result, ExitCode.USAGE, contains=contains)
    assert dump(db_path) == store


def test_add_stdin_not_utf8(cli, db_path, store):
    result = CliRunner().invoke(app, ["sellers", "add", "-"], input=b"caf\xe9\n")
    assert_one_error(result, ExitCode.USAGE, contains="stdin is not UTF-8")
    assert dump(db_path) == store


# -- hostile names round-trip ---------------------------------------------------------------------

HOSTILE = [
    pytest.param('=HYPERLINK("http://x")', "hyperlink", id="formula"),
    pytest.param("Smith, Jones & Co", "JONES &", id="comma"),
    pytest.param('The "Best" Deals', '"best"', id="double-quotes"),
    pytest.param("O'Brien's Emporium", "o'brien", id="single-quotes"),
    pytest.param("+1 Electronics", "+1", id="plus"),
    pytest.param("@home_essentials", "_ESS", id="at-underscore"),
    pytest.param("100% Genuine", "0% g", id="percent"),
    pytest.param("[bold red]Markup[/]", "[bold", id="rich-markup"),
    pytest.param("⭐ Star Seller ⭐", "star seller ⭐", id="emoji"),
    pytest.param("東京ストア", "京ス", id="cjk"),
    pytest.param("Café Ñandú, S.A.", "ÑANDÚ", id="nfc"),
    pytest.param(unicodedata.normalize("NFD", "Müller Café"), "müller", id="nfd"),
    pytest.param("Straße Shop", "STRASSE", id="casefold-sharp-s"),
    pytest.param("-discount-hub-", "discount-hub", id="leading-dash"),
    pytest.param("Łódź\tTrading", "łódź trading", id="tab"),
]


@pytest.mark.parametrize(("name", "fragment"), HOSTILE)
def test_hostile_names_round_trip(cli, db_path, store, name, fragment):
    added = _json(cli("sellers", "add", "--json", "--", name))
    assert [s["name"] for s in added["changed"]] == [name]
    row = _seller_rows(db_path)[0]
    assert row["name"] == name  # stored as typed
    assert _audit(db_path)[0]["name"] == name

    # found by the same name in another case / Unicode form
    for query in (name, name.upper(), unicodedata.normalize("NFC", name), f"  {name}  "):
        shown = _json(cli("sellers", "show", "--json", "--", query))
        assert shown["name"] == name
        assert shown["id"] == row["id"]
    nfd_query = unicodedata.normalize("NFD", name.swapcase())
    assert _json(cli("sellers", "show", "--json", "--", nfd_query))["id"] == row["id"]

    text = cli("sellers", "show", "--", name)
    _ok(text)
    shown_first = text.stdout.splitlines()[0]
    assert shown_first == name.replace("\t", " ")  # markup is not interpreted

    found = _json(cli("sellers", "search", "--json", "--", fragment))
    assert [s["name"] for s in found] == [name]
    listed = cli("sellers", "list")
    assert name.replace("\t", " ") in listed.stdout

    # adding it again in another form is a no-op
    again = _json(cli("sellers", "add", "--json", "--", name.upper()))
    assert again["changed"] == []

    _ok(cli("sellers", "flag", "--", name.lower()))
    assert _json(cli("sellers", "show", "--json", "--", name))["flagged"] is True
    log = _json(cli("sellers", "log", "--json"))
    assert [(e["action"], e["name"]) for e in log] == [("flag", name), ("add", name)]
    assert name.replace("\t", " ") in cli("sellers", "log").stdout

    _ok(cli("sellers", "remove", "--", name))
    assert _seller_rows(db_path) == []


# -- show ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_show_unknown_is_not_found(cli, db_path, store, as_json):
    assert_one_error(
        cli("sellers", "show", "Nobody Here", *as_json),
        ExitCode.NOT_FOUND,
        contains="no seller named 'Nobody Here'",
    )
    assert dump(db_path) == store


def test_show_ambiguous_across_platforms(cli, db_path, store):
    _ok(cli("sellers", "add", "Same Name"))
    _ok(cli("sellers", "add", "-p", "sample", "same name"))
    before = dump(db_path)
    line = assert_one_error(
        cli("sellers", "show", "SAME NAME"), ExitCode.USAGE, contains="several platforms"
    )
    assert "ebay, sample" in line
    assert "--platform" in line
    for command in ("flag", "unflag", "remove"):
        assert_one_error(
            cli("sellers", command, "same name"), ExitCode.USAGE, contains="several platforms"
        )
    assert dump(db_path) == before
    assert _json(cli("sellers", "show", "same name", "-p", "sample", "--json"))["name"] == (
        "same name"
    )
    assert _json(cli("sellers", "show", "same name", "-p", "EBAY", "--json"))["name"] == (
        "Same Name"
    )
    assert_one_error(
        cli("sellers", "show", "same name", "-p", "amazon"),
        ExitCode.NOT_FOUND,
        contains="on platform 'amazon'",
    )
    _ok(cli("sellers", "flag", "same name", "-p", "sample"))
    assert [r["flagged"] for r in _seller_rows(db_path, "1 ORDER BY platform")] == [0, 1]


@pytest.mark.parametrize(
    ("args", "code", "contains"),
    [
        pytest.param(["show", ""], ExitCode.USAGE, "invalid seller name ''", id="show-empty"),
        pytest.param(["show", " \t "], ExitCode.USAGE, "invalid seller name", id="show-blank"),
        pytest.param(["show", "x", "-p", "!"], ExitCode.USAGE, "invalid platform", id="show-pf"),
        pytest.param(["search", "  "], ExitCode.USAGE, "invalid search text", id="search-blank"),
        pytest.param(["flag"], ExitCode.USAGE, "Missing argument", id="flag-no-names"),
        pytest.param(["remove"], ExitCode.USAGE, "Missing argument", id="remove-no-names"),
        pytest.param(["log", "--limit", "-1"], ExitCode.USAGE, "--limit", id="log-limit"),
        pytest.param(["log", "--action", "edit"], ExitCode.USAGE, "--action", id="log-action"),
        pytest.param(["log", "--limit", "9" * 20], ExitCode.USAGE, "too large", id="log-huge"),
        pytest.param(["bogus"], ExitCode.USAGE, "No such command", id="unknown-command"),
    ],
)
def test_bad_usage(cli, db_path, store, args, code, contains):
    assert_one_error(cli("sellers", *args), code, contains=contains)
    assert dump(db_path) == store


def test_show_a_collected_seller_text(cli, two_runs):
    conn = connect(two_runs)
    row = conn.execute(
        "SELECT * FROM sellers WHERE times_seen = 2 ORDER BY sightings DESC LIMIT 1"
    ).fetchone()
    result = cli("sellers", "show", row["name"])
    _ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == row["name"]
    text = result.stdout
    assert f"{row['sightings']:,}" in text
    assert "seen in 2 runs" in text
    assert "(run #1)" in next(ln for ln in lines if ln.strip().startswith("first seen"))
    assert "(run #2)" in next(ln for ln in lines if ln.strip().startswith("last seen"))
    run_lines = [ln for ln in lines if ln.strip().startswith(("#1", "#2")) and "demo" in ln]
    assert [ln.split()[0] for ln in run_lines] == ["#2", "#1"]
    assert run_lines[1].rstrip().endswith("new")
    assert not run_lines[0].rstrip().endswith("new")
    assert "feedback history" in text


# -- feedback history ----------------------------------------------------------------------------


def test_feedback_history_after_two_runs(cli, two_runs):
    conn = connect(two_runs)
    both = conn.execute(
        "SELECT s.id, s.name, s.platform FROM sellers s"
        " WHERE s.id IN (SELECT seller_id FROM run_sellers WHERE run_id = 1)"
        " AND s.id IN (SELECT seller_id FROM run_sellers WHERE run_id = 2)"
    ).fetchall()
    assert len(both) > 100
    changed, unchanged = [], []
    for s in both:
        seen = conn.execute(
            "SELECT DISTINCT feedback_score, feedback_percent FROM seller_feedback"
            " WHERE seller_id = ?",
            (s["id"],),
        ).fetchall()
        (changed if len(seen) > 1 else unchanged).append(s)
    assert len(changed) > 50  # the sample marketplace grows scores between runs

    for s in changed[:15]:
        data = _json(cli("sellers", "show", s["name"], "--json"))
        series = data["feedback_history"]
        assert [h["run_id"] for h in series] == [1, 2]
        assert series[0]["feedback_score"] != series[1]["feedback_score"] or (
            series[0]["feedback_percent"] != series[1]["feedback_percent"]
        )
        assert series[1]["feedback_score"] == data["feedback_score"]
        assert series[1]["feedback_percent"] == data["feedback_percent"]
        assert series[0]["recorded_at"] <= series[1]["recorded_at"]
        assert [r["run_id"] for r in data["runs"]] == [2, 1]

        text = cli("sellers", "show", s["name"]).stdout
        assert "feedback history (2)" in text
        hist = text[text.index("feedback history (2)") :].splitlines()[2:4]
        assert [ln.split()[2] for ln in hist] == ["#1", "#2"]
        assert f"{series[1]['feedback_score']:,}" in hist[1]

    for s in unchanged[:5]:
        series = _json(cli("sellers", "show", s["name"], "--json"))["feedback_history"]
        assert [h["run_id"] for h in series] == [1]

    # no row for sellers whose numbers did not change: one row per distinct reading
    rows = conn.execute("SELECT count(*) FROM seller_feedback").fetchone()[0]
    sellers_with_feedback = conn.execute(
        "SELECT count(*) FROM sellers WHERE feedback_score IS NOT NULL"
    ).fetchone()[0]
    assert rows == sellers_with_feedback + len(changed)


# -- flag / unflag -------------------------------------------------------------------------------


def test_flag_and_unflag_are_idempotent_and_audited(cli, db_path, store):
    _ok(cli("sellers", "add", "One", "Two", "Three"))
    result = cli("sellers", "flag", "one", "TWO", "--note", "check prices")
    assert _ok(result).splitlines() == ["Flagged 'One' (ebay).", "Flagged 'Two' (ebay)."]
    before = dump(db_path)
    again = cli("sellers", "flag", "One")
    assert "already flagged" in _ok(again)
    assert "Nothing changed." in again.stderr
    assert dump(db_path) == before

    flagged = _json(cli("sellers", "list", "--flagged", "--json"))
    assert sorted(s["name"] for s in flagged) == ["One", "Two"]
    unflagged = _json(cli("sellers", "list", "--unflagged", "--json"))
    assert [s["name"] for s in unflagged] == ["Three"]
    assert "flagged" in next(ln for ln in cli("sellers", "list").stdout.splitlines() if "One" in ln)

    data = _json(cli("sellers", "unflag", "two", "three", "--json"))
    assert [s["name"] for s in data["changed"]] == ["Two"]
    assert data["unchanged"] == [
        {
            "id": data["unchanged"][0]["id"],
            "name": "Three",
            "platform": "ebay",
            "reason": "already unflagged",
        }
    ]
    actions = [(a["action"], a["name"]) for a in _audit(db_path)]
    assert actions == [
        ("add", "One"),
        ("add", "Two"),
        ("add", "Three"),
        ("flag", "One"),
        ("flag", "Two"),
        ("unflag", "Two"),
    ]
    flag_rows = [a for a in _audit(db_path) if a["action"] == "flag"]
    assert json.loads(flag_rows[0]["detail"]) == {"note": "check prices"}


@pytest.mark.parametrize("command", ["flag", "unflag", "remove"])
def test_unknown_name_changes_nothing(cli, db_path, store, command):
    _ok(cli("sellers", "add", "Known A", "Known B"))
    if command == "unflag":
        _ok(cli("sellers", "flag", "Known A", "Known B"))
    before = dump(db_path)
    assert_one_error(
        cli("sellers", command, "Known A", "Ghost", "Known B"),
        ExitCode.NOT_FOUND,
        contains="no seller named 'Ghost'",
    )
    assert dump(db_path) == before


# -- remove --------------------------------------------------------------------------------------


def test_remove_manual_seller(cli, db_path, store):
    _ok(cli("sellers", "add", "Gone Soon", "Stays"))
    result = cli("sellers", "remove", "GONE SOON", "--note", "typo")
    assert _ok(result).splitlines() == ["Removed 'Gone Soon' (ebay)."]
    assert [r["name"] for r in _seller_rows(db_path)] == ["Stays"]
    last = _audit(db_path)[-1]
    assert (last["action"], last["name"], last["platform"]) == ("remove", "Gone Soon", "ebay")
    assert json.loads(last["detail"]) == {"note": "typo", "origin": "manual"}
    assert_one_error(cli("sellers", "show", "Gone Soon"), ExitCode.NOT_FOUND)


def test_remove_a_seen_seller_needs_force(cli, two_runs):
    conn = connect(two_runs)
    victim = conn.execute(
        "SELECT * FROM sellers WHERE times_seen = 2 ORDER BY sightings DESC LIMIT 1"
    ).fetchone()
    manual_before = dump(two_runs)
    line = assert_one_error(
        cli("sellers", "remove", victim["name"]), ExitCode.USAGE, contains="--force"
    )
    assert "seen by 2 runs" in line
    assert dump(two_runs) == manual_before

    runs_before = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM runs")}
    is_new = dict(
        conn.execute(
            "SELECT run_id, is_new FROM run_sellers WHERE seller_id = ?", (victim["id"],)
        ).fetchall()
    )
    result = cli("sellers", "remove", victim["name"], "--force")
    _ok(result)
    assert (
        conn.execute("SELECT count(*) FROM sellers WHERE id = ?", (victim["id"],)).fetchone()[0]
        == 0
    )
    for table in ("run_sellers", "seller_feedback"):
        count = conn.execute(
            f"SELECT count(*) FROM {table} WHERE seller_id = ?", (victim["id"],)
        ).fetchone()[0]
        assert count == 0, table
    for run in conn.execute("SELECT * FROM runs"):
        rows = conn.execute(
            "SELECT count(*), coalesce(sum(is_new), 0) FROM run_sellers WHERE run_id = ?",
            (run["id"],),
        ).fetchone()
        assert (run["sellers_found"], run["sellers_new"]) == tuple(rows)
        before = runs_before[run["id"]]
        assert run["sellers_found"] == before["sellers_found"] - 1
        assert run["sellers_new"] == before["sellers_new"] - is_new[run["id"]]
        assert run["listings_seen"] == before["listings_seen"]
    last = _audit(two_runs)[-1]
    assert last["action"] == "remove"
    assert last["seller_id"] == victim["id"]
    assert json.loads(last["detail"]) == {
        "origin": "run",
        "forced": True,
        "runs": [1, 2],
        "sightings": victim["sightings"],
    }
    log = cli("sellers", "log")
    assert "forced: seen in runs #1, #2" in log.stdout


def test_remove_mixed_batch_refused_as_a_whole(cli, two_runs):
    seen = connect(two_runs).execute("SELECT name FROM sellers LIMIT 1").fetchone()[0]
    _ok(cli("sellers", "add", "-p", "sample", "Manual Only"))
    before = dump(two_runs)
    assert_one_error(cli("sellers", "remove", "-p", "sample", "Manual Only", seen), ExitCode.USAGE)
    assert dump(two_runs) == before


# -- the audit log -------------------------------------------------------------------------------


def test_log_newest_first_with_export_marks(cli, db_path, store):
    _ok(cli("sellers", "add", "Alpha", "Beta"))
    _ok(cli("sellers", "flag", "Alpha"))
    # what the export command writes when it marks sellers exported
    filters = {"run_id": 3, "new": True, "platform": "sample"}
    conn = connect(db_path)
    with conn:
        for detail in ({"count": 120, "filters": filters}, {"count": 1, "filters": {}}):
            conn.execute(
                "INSERT INTO seller_audit (at, action, name, detail)"
                " VALUES ('2030-01-01T00:00:00.000+00:00', 'export_mark', '', ?)",
                (json.dumps(detail),),
            )
    _ok(cli("sellers", "unflag", "Alpha"))

    log = _json(cli("sellers", "log", "--json"))
    actions = ["unflag", "export_mark", "export_mark", "flag", "add", "add"]
    assert [e["action"] for e in log] == actions
    assert log[2]["detail"] == {"count": 120, "filters": filters}
    assert log[1]["detail"] == {"count": 1, "filters": {}}
    assert log[1]["name"] == ""
    assert [e["name"] for e in log if e["action"] == "add"] == ["Beta", "Alpha"]
    assert set(log[0]) == {"id", "at", "action", "seller_id", "platform", "name", "detail"}

    text = cli("sellers", "log")
    _ok(text)
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["when", "action", "platform", "seller", "detail"]
    one, many = [ln for ln in lines if "export_mark" in ln]
    assert "120 sellers marked exported · filters: run_id=3, new, platform=sample" in many
    assert "1 seller marked exported · filters: none (all sellers)" in one
    assert [ln.split()[2] for ln in lines[1:]] == actions

    assert [e["action"] for e in _json(cli("sellers", "log", "--json", "--limit", "2"))] == [
        "unflag",
        "export_mark",
    ]
    only = _json(cli("sellers", "log", "--json", "--action", "export_mark"))
    assert [e["detail"]["count"] for e in only] == [1, 120]


# -- search --------------------------------------------------------------------------------------


def test_search_normalises_and_ranks(cli, db_path, store):
    _ok(cli("sellers", "add", "Shop", "Big Shop", "Shopper", "Tiny 100%_shop", "Unrelated"))
    found = _json(cli("sellers", "search", "SHOP", "--json"))
    names = [s["name"] for s in found]
    assert names[0] == "Shop"  # exact first
    assert names[1] == "Shopper"  # then prefix
    assert sorted(names[2:]) == ["Big Shop", "Tiny 100%_shop"]
    assert [s["name"] for s in _json(cli("sellers", "search", "%_", "--json"))] == [
        "Tiny 100%_shop"
    ]  # LIKE wildcards are plain characters
    assert _json(cli("sellers", "search", "%", "--json", "--limit", "5"))[0]["name"] == (
        "Tiny 100%_shop"
    )
    none = cli("sellers", "search", "zzz")
    assert "No seller name contains 'zzz'." in _ok(none)
    assert none.stdout == ""
    assert _json(cli("sellers", "search", "shop", "--json", "--limit", "1"))[0]["name"] == "Shop"


def test_search_with_filters_after_runs(cli, two_runs):
    found = _json(cli("sellers", "search", "store", "--json", "--limit", "0", "--new-in", "2"))
    conn = connect(two_runs)
    expected = {
        r[0]
        for r in conn.execute(
            "SELECT s.id FROM sellers s JOIN run_sellers rs ON rs.seller_id = s.id"
            " WHERE rs.run_id = 2 AND rs.is_new = 1 AND s.name_key LIKE '%store%'"
        )
    }
    assert {s["id"] for s in found} == expected


# -- history show RUN --sellers ------------------------------------------------------------------


def test_history_show_sellers_lists_exactly_the_new_ones(cli, two_runs):
    conn = connect(two_runs)
    for run_id in (1, 2):
        expected = {
            r[0]: r[1]
            for r in conn.execute(
                "SELECT seller_id, sightings FROM run_sellers WHERE run_id = ? AND is_new = 1",
                (run_id,),
            )
        }
        data = _json(cli("history", "show", str(run_id), "--sellers", "--json"))
        got = {s["id"]: s["sightings_in_run"] for s in data["sellers"]}
        assert got == expected
        assert all(s["is_new"] for s in data["sellers"])
        assert len(data["sellers"]) == data["sellers_new"]
        in_run = [s["sightings_in_run"] for s in data["sellers"]]
        assert in_run == sorted(in_run, reverse=True)
        assert set(data["sellers"][0]) == {
            "id",
            "name",
            "platform",
            "feedback_score",
            "feedback_score_approx",
            "feedback_percent",
            "sightings_in_run",
            "is_new",
            "flagged",
        }

    assert "sellers" not in _json(cli("history", "show", "2", "--json"))

    text = cli("history", "show", "2", "--sellers")
    _ok(text)
    new_count = len(expected)
    assert f"{new_count} new sellers in this run" in text.stdout
    tail = text.stdout[text.stdout.index("new sellers in this run") :].splitlines()
    assert tail[1].split()[:2] == ["name", "platform"]
    rows = [ln for ln in tail[2:] if ln.strip()]
    assert len(rows) == new_count
    names = {
        r[0]
        for r in conn.execute(
            "SELECT s.name FROM sellers s JOIN run_sellers rs ON rs.seller_id = s.id"
            " WHERE rs.run_id = 2 AND rs.is_new = 1"
        )
    }
    assert {next(n for n in names if ln.startswith(n)) for ln in rows} == names
    assert "new sellers in this run" not in cli("history", "show", "2").stdout


def test_history_show_sellers_unknown_run(cli, db_path, store):
    assert_one_error(
        cli("history", "show", "7", "--sellers"), ExitCode.NOT_FOUND, contains="no run with id 7"
    )
    assert_one_error(
        cli("history", "show", "7", "--sellers", "--json"),
        ExitCode.NOT_FOUND,
        contains="no run with id 7",
    )
    # beyond SQLite's integers: a usage error, not an internal one
    assert_one_error(cli("history", "show", "9" * 20, "--sellers"), ExitCode.USAGE, contains="RUN")
    assert dump(db_path) == store


def test_manual_seller_later_seen_by_a_run(cli, db_path):
    """A seller added by hand keeps its name and origin when a run later finds it."""
    _ok(cli("sellers", "add", "-p", "sample", "KRAKÓW STORE 0"))
    assert cli("run", "--preset", "demo").exit_code == 0
    data = _json(cli("sellers", "show", "kraków store 0", "--json"))
    assert data["name"] == "KRAKÓW STORE 0"
    assert data["origin"] == "manual"
    assert data["times_seen"] == 1
    assert data["first_run_id"] == 1
    assert [h["run_id"] for h in data["feedback_history"]] == [1]
    assert len(_seller_rows(db_path, "name_key = ?", ("kraków store 0",))) == 1


def test_a_flag_note_is_read_back_wherever_the_seller_is_shown(cli, db_path, store):
    _ok(cli("sellers", "add", "Acme Goods", "Other"))
    _ok(cli("sellers", "flag", "acme goods", "--note", "competitor, watch prices"))
    _ok(cli("sellers", "flag", "Other"))  # a flag without a note
    listed = cli("sellers", "list", "--flagged")
    assert "flagged: competitor, watch prices" in _ok(listed) + listed.stdout
    assert "flagged yes" not in listed.stdout
    shown = cli("sellers", "show", "Acme Goods").stdout
    assert "flagged     yes — competitor, watch prices" in shown
    assert "flagged     yes\n" in cli("sellers", "show", "Other").stdout
    rows = {r["name"]: r for r in _json(cli("sellers", "list", "--json"))}
    assert rows["Acme Goods"]["flag_note"] == "competitor, watch prices"
    assert rows["Other"]["flag_note"] is None
    _ok(cli("sellers", "unflag", "Acme Goods"))
    assert _json(cli("sellers", "show", "Acme Goods", "--json"))["flag_note"] is None
