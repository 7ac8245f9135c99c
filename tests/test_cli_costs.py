"""What the real sources cost, and how they are set up: the request ledger of fault-injected
runs against the emulators' own counts, ``--max-cost``, ``--dry-run`` estimates against real
runs, then ``config``, ``sources`` and the source options of ``preset add``.

The fault-injected runs print their figures and write them to ``ledger-<route>.json`` in the
test's tmp directory (``pytest -s`` shows them).
"""

from __future__ import annotations

import base64
import json

import pytest

from collector_cli import config
from collector_cli.models import format_money
from tests.conftest import (
    EBAY_ID,
    EBAY_SECRET,
    EMULATED_CATEGORIES,
    OXY_PASS,
    OXY_USER,
    dump,
)
from tests.test_cli_real_sources import (
    EBAY_PAGE_SIZE,
    MAX_PRODUCTS,
    SECRETS,
    add_preset,
    category_args,
    exported_names,
    node_ids,
    oxylabs_source,
    run_count,
    run_row,
    run_sellers,
    unique_tokens,
    usage_rows,
    write_products_file,
)

OXYLABS_MICROS = 400  # $0.40 per 1,000 best-seller results
OXYLABS_EBAY_MICROS = 1_100  # $1.10 per 1,000 eBay pages
LEDGER_FIELDS = ("requests", "retries", "failures", "billed_results", "cost_micros", "quota_calls")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


def _emulator_ledger(oxylabs, ebay, listing: str) -> dict[str, dict[str, int]]:
    """Per source, what the emulators saw: every request, the ones a fault spoiled (each
    retried once), what Oxylabs billed, and the eBay quota calls."""

    def entry(requests: list, billed: int, micros: int, quota: int = 0) -> dict[str, int]:
        faulted = sum(r.fault is not None for r in requests)
        return {"requests": len(requests), "retries": faulted, "failures": faulted,
                "billed_results": billed, "cost_micros": billed * micros,
                "quota_calls": quota}  # fmt: skip

    amazon = [r for r in oxylabs.requests if oxylabs_source(r) == "amazon_bestsellers"]
    ledger = {"oxylabs": entry(amazon, oxylabs.billed_results.get("amazon_bestsellers", 0), 400)}
    if listing == "ebay":
        searches = sum(r.method == "GET" for r in ebay.requests)
        assert searches == ebay.search_calls and len(ebay.requests) == searches + ebay.token_calls
        ledger["ebay"] = entry(ebay.requests, 0, 0, searches)
    else:
        pages = [r for r in oxylabs.requests if oxylabs_source(r) == "ebay"]
        ledger["oxylabs-ebay"] = entry(pages, oxylabs.billed_results.get("ebay", 0), 1_100)
    return ledger


def _billed_micros(oxylabs) -> int:
    billed = oxylabs.billed_results
    return (
        billed.get("amazon_bestsellers", 0) * OXYLABS_MICROS
        + billed.get("ebay", 0) * OXYLABS_EBAY_MICROS
    )


# -- 3. fault-injected runs: the ledger equals what the emulators counted ---------------------

# (emulator, kind, Retry-After, delay, target): a target is a category's best-seller call
# (node0/1) or one product's searches (product0-5); no call meets more than two faults.
FAULTS = {
    "ebay": [
        ("oxylabs", "429", "1", 0, "node0"),
        ("oxylabs", "612", None, 0, "node0"),
        ("oxylabs", "500", None, 0, "node1"),
        ("oxylabs", "result-613", None, 0, "node1"),
        ("ebay", "429", "1", 0, "product0"),
        ("ebay", "500", None, 0, "product1"),
        ("ebay", "502", None, 0, "product2"),
        ("ebay", "malformed-json", None, 0, "product3"),
        # The server would answer after 60 s, the preset's eBay timeout is 5 s: only this
        # request times out, however slow a busy machine makes the others.
        ("ebay", "timeout", None, 60, "product4"),
        ("ebay", "503", None, 0, "product5"),
    ],
    "oxylabs-ebay": [
        ("oxylabs", "429", "1", 0, "node0"),
        ("oxylabs", "malformed-json", None, 0, "node1"),
        ("oxylabs", "captcha", None, 0, "product0"),
        ("oxylabs", "result-613", None, 0, "product1"),
        ("oxylabs", "malformed-json", None, 0, "product2"),
        ("oxylabs", "truncated-html", None, 0, "product3"),
        ("oxylabs", "524", None, 0, "product4"),
        ("oxylabs", "612", None, 0, "product5"),
    ],
}


@pytest.mark.parametrize("listing", ["ebay", "oxylabs-ebay"])
def test_fault_injected_run_completes_and_its_ledger_matches_the_emulators(
    cli, real_env, oxylabs, ebay, catalogue, db_path, tmp_path, listing
):
    extra = ["-o", "ebay.timeout=5"] if listing == "ebay" else []
    add_preset(cli, "faulty", "oxylabs", listing, *extra)
    targets = {f"node{i}": f'"{node}"' for i, node in enumerate(node_ids())}
    targets.update({f"product{i}": code for i, code in enumerate(unique_tokens(catalogue, 6))})
    emulators = {"oxylabs": oxylabs, "ebay": ebay}
    for emulator, kind, retry_after, delay, target in FAULTS[listing]:
        emulators[emulator].faults.add(
            kind, retry_after=retry_after, delay=delay, match=targets[target]
        )

    result = cli("run", "-p", "faulty", "--max-products", str(MAX_PRODUCTS))

    assert result.exit_code == 0, result.stdout + result.stderr
    assert oxylabs.faults.faults == [] and ebay.faults.faults == [], "a fault never fired"
    fired = sorted(r.fault for r in [*oxylabs.requests, *ebay.requests] if r.fault)
    assert fired == sorted(kind for _, kind, *_ in FAULTS[listing])
    run = run_row(db_path)
    assert (run["status"], run["finish_reason"]) == ("completed", "all products searched")
    assert run["products_failed"] == run["categories_failed"] == 0
    page_size = EBAY_PAGE_SIZE if listing == "ebay" else 60
    truth = catalogue.expected_sellers(max_products=MAX_PRODUCTS, pages=2, page_size=page_size)
    assert set(run_sellers(db_path)) == truth
    assert sorted(exported_names(cli)) == sorted(truth)

    expected = _emulator_ledger(oxylabs, ebay, listing)
    recorded = {
        source: {field: row[field] for field in LEDGER_FIELDS}
        for source, row in usage_rows(db_path).items()
    }
    totals = {field: sum(row[field] for row in recorded.values()) for field in LEDGER_FIELDS}
    figures = {"route": f"oxylabs x {listing}", "faults": [f"{e}:{k}" for e, k, *_ in
               FAULTS[listing]], "emulators": expected, "run_usage": recorded,
               "runs_row": {k: run[k] for k in ("requests", "retries", "request_failures",
                                                "billed_results", "cost_micros",
                                                "quota_calls")},
               "cost": format_money(run["cost_micros"])}  # fmt: skip
    ledger_file = tmp_path / f"ledger-{listing}.json"
    ledger_file.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(f"\nfault-injected run ledger ({ledger_file}):\n{ledger_file.read_text()}")

    assert recorded == expected
    assert totals["retries"] == totals["failures"] == len(FAULTS[listing])
    requests_seen = len(oxylabs.requests) + len(ebay.requests)  # the token call included
    assert (run["requests"], run["retries"], run["request_failures"]) == (
        requests_seen, totals["retries"], totals["failures"],
    )  # fmt: skip
    assert (run["billed_results"], run["cost_micros"], run["quota_calls"]) == (
        totals["billed_results"], totals["cost_micros"], totals["quota_calls"],
    )  # fmt: skip
    assert run["cost_micros"] == _billed_micros(oxylabs) > 0
    assert f"{run['requests']} ({run['retries']} retries" in result.stdout
    assert format_money(run["cost_micros"]) in result.stdout

    history = json.loads(cli("history", "--json").stdout)
    assert [(h["id"], h["cost_micros"], h["cost_usd"]) for h in history] == [
        (1, run["cost_micros"], round(run["cost_micros"] / 1e6, 6))
    ]
    shown = json.loads(cli("history", "show", "1", "--json").stdout)
    assert (shown["cost_micros"], shown["requests"], shown["retries"]) == (
        run["cost_micros"], run["requests"], run["retries"],
    )  # fmt: skip
    assert {u["source"]: {f: u[f] for f in LEDGER_FIELDS} for u in shown["usage"]} == recorded


# -- 4. --max-cost -----------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 8])
def test_max_cost_stops_before_spending_more(cli, real_env, oxylabs, db_path, concurrency):
    add_preset(cli, "paid", "oxylabs", "oxylabs-ebay")
    budget = 10_000
    affordable_pages = (budget - 2 * OXYLABS_MICROS) // OXYLABS_EBAY_MICROS  # 8

    result = cli(
        "run", "-p", "paid", "--max-products", str(MAX_PRODUCTS), "--max-cost", "0.01",
        "--concurrency", str(concurrency),
    )  # fmt: skip

    assert result.exit_code == 6, result.stdout + result.stderr
    run = run_row(db_path)
    assert run["status"] == "cancelled"
    assert run["finish_reason"].startswith("limit reached: $0.01 cost"), run["finish_reason"]
    assert "limit reached: $0.01 cost" in result.stdout + result.stderr
    assert 0 < run["cost_micros"] <= budget
    assert sum(u["cost_micros"] for u in usage_rows(db_path).values()) == run["cost_micros"]
    # What the vendor billed never passes the budget, however many calls were in flight.
    assert _billed_micros(oxylabs) <= budget
    assert 0 < oxylabs.billed_results.get("ebay", 0) <= affordable_pages
    assert oxylabs.billed_results.get("amazon_bestsellers") == 2
    assert len(oxylabs.requests) == run["requests"]  # every request sent is counted
    assert run["products_done"] < run["products_total"] - run["products_skipped"]
    # Calls cut off by the stop are counted as billed (the vendor may bill them): the ledger
    # may over-count, never under-count, what the vendor bills.
    assert _billed_micros(oxylabs) <= run["cost_micros"]
    if concurrency == 1:  # nothing in flight when the limit stops the run: exact figures
        assert oxylabs.billed_results["ebay"] == affordable_pages
        assert run["cost_micros"] == _billed_micros(oxylabs) == 9_600
        assert run["finish_reason"] == "limit reached: $0.01 cost ($0.0096 spent)"
        assert run["products_done"] == affordable_pages  # one result page each


@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "$0", "1e9"])
def test_bad_max_cost_is_a_usage_error_and_changes_nothing(cli, real_env, oxylabs, db_path, value):
    add_preset(cli, "paid", "oxylabs", "oxylabs-ebay")
    before = dump(db_path)

    result = cli("run", "-p", "paid", f"--max-cost={value}")

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--max-cost" in lines[0], result.stderr
    assert dump(db_path) == before and run_count(db_path) == 0
    assert oxylabs.requests == []


# -- 5. --dry-run ------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_bounds_the_real_run(cli, real_env, oxylabs, ebay, db_path):
    add_preset(cli, "api", "oxylabs", "ebay")
    args = ("run", "-p", "api", "--max-products", str(MAX_PRODUCTS))
    products = MAX_PRODUCTS * len(EMULATED_CATEGORIES)
    requests_max = 2 + products * 2 + 1  # best-seller pages, 2 pages a product, 1 token

    text = cli(*args, "--dry-run")
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith("Plan for preset api (dry run: nothing was sent)")
    lines = [line.split() for line in text.stdout.splitlines()]
    assert ["products", "at", "most", str(products)] in lines
    assert ["requests", "at", "most", str(requests_max)] in lines
    assert ["oxylabs", "2", "best-seller", "pages"] in lines
    assert ["ebay", str(products * 2), "searches", "(2", "pages", "per", "product)", "+", "1",
            "token", "request"] in lines  # fmt: skip
    assert ["cost", "at", "most", "$0.0008"] in lines
    as_json = cli(*args, "--dry-run", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert oxylabs.requests == [] and ebay.requests == [] and ebay.token_calls == 0
    assert run_count(db_path) == 0

    assert (plan["products_max"], plan["pages_per_product"]) == (products, 2)
    assert plan["requests_max"] == requests_max
    assert plan["cost_usd_max"] == 2 * OXYLABS_MICROS / 1e6
    assert plan["ebay_quota_calls_max"] == products * 2
    stages = {s["stage"]: s for s in plan["sources"]}
    assert stages["products"] == {"source": "oxylabs", "stage": "products", "requests": 2,
                                  "cost_micros": 800, "quota_calls": 0, "token_requests": 0,
                                  "credentials": "ok"}  # fmt: skip
    listings = stages["listings"]
    assert (listings["source"], listings["requests"], listings["token_requests"]) == (
        "ebay", products * 2 + 1, 1,
    )  # fmt: skip

    assert cli(*args).exit_code == 0
    run = run_row(db_path)
    usage = usage_rows(db_path)
    assert run["status"] == "completed"
    assert 0 < run["requests"] <= plan["requests_max"]
    assert run["cost_micros"] / 1e6 <= plan["cost_usd_max"]
    assert run["quota_calls"] <= plan["ebay_quota_calls_max"]
    assert usage["oxylabs"]["requests"] == stages["products"]["requests"]  # exact
    assert usage["oxylabs"]["cost_micros"] == stages["products"]["cost_micros"]


def test_dry_run_of_a_products_file_counts_its_rows(
    cli, real_env, oxylabs, catalogue, db_path, tmp_path
):
    path = tmp_path / "products.csv"
    rows = write_products_file(catalogue, path)
    add_preset(cli, "mine", "file", "oxylabs-ebay", "--products-file", str(path))

    plan = json.loads(cli("run", "-p", "mine", "--dry-run", "--json").stdout)
    assert oxylabs.requests == [] and run_count(db_path) == 0
    assert plan["products_max"] == len(rows)
    stages = {s["stage"]: s for s in plan["sources"]}
    assert (stages["products"]["requests"], stages["products"]["cost_micros"]) == (0, 0)
    assert plan["requests_max"] == len(rows) * 2
    assert plan["cost_usd_max"] == round(len(rows) * 2 * OXYLABS_EBAY_MICROS / 1e6, 6)

    assert cli("run", "-p", "mine").exit_code == 0
    run = run_row(db_path)
    assert run["products_total"] == plan["products_max"]
    assert 0 < run["requests"] <= plan["requests_max"]
    assert 0 < run["cost_micros"] <= round(plan["cost_usd_max"] * 1e6)
    assert usage_rows(db_path).get("file", {}).get("requests", 0) == 0  # exact: none
    assert run["cost_micros"] == _billed_micros(oxylabs)


def test_dry_run_without_credentials_names_them_and_sends_nothing(
    cli, oxylabs, ebay, db_path, monkeypatch
):
    monkeypatch.setenv("COLLECTOR_OXYLABS_URL", oxylabs.url)
    monkeypatch.setenv("COLLECTOR_EBAY_URL", ebay.url)
    add_preset(cli, "api", "oxylabs", "ebay")
    before = dump(db_path)

    result = cli("run", "-p", "api", "--max-products", "5", "--dry-run")

    assert result.exit_code == 0, result.stderr
    credential_lines = [x for x in result.stdout.splitlines() if "credentials" in x]
    assert len(credential_lines) == 2
    assert "COLLECTOR_OXYLABS_USERNAME and COLLECTOR_OXYLABS_PASSWORD" in credential_lines[0]
    assert "COLLECTOR_EBAY_CLIENT_ID and COLLECTOR_EBAY_CLIENT_SECRET" in credential_lines[1]
    assert oxylabs.requests == [] and ebay.requests == []
    assert dump(db_path) == before


# -- 8. config -----------------------------------------------------------------------------------


def _show(cli) -> dict[str, dict]:
    result = cli("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["key"]: row for row in json.loads(result.stdout)["settings"]}


def test_config_set_unset_show_path(cli, config_path, monkeypatch):
    config_path.unlink()
    config.load.cache_clear()
    path = cli("config", "path")
    assert (path.exit_code, path.stdout.strip()) == (0, str(config_path))
    assert _show(cli)["oxylabs.password"] == {
        "key": "oxylabs.password", "value": None, "from": "",
    }  # fmt: skip
    assert _show(cli)["ebay.url"]["value"] == "https://api.ebay.com"

    result = cli("config", "set", "oxylabs.password", OXY_PASS)
    assert result.exit_code == 0, result.stderr
    assert config_path.stat().st_mode & 0o777 == 0o600
    assert OXY_PASS not in result.stdout + result.stderr and "********" in result.stderr
    assert cli("config", "set", "ebay.client_secret", "-", input=EBAY_SECRET + "\n").exit_code == 0
    assert cli("config", "set", "ebay.url", "http://127.0.0.1:9/").exit_code == 0
    assert cli("config", "set", "sources.ebay.page_size", "100").exit_code == 0
    assert config_path.stat().st_mode & 0o777 == 0o600
    config.load.cache_clear()
    stored = config.load()
    assert stored["oxylabs"]["password"] == OXY_PASS
    assert stored["ebay"] == {"client_secret": EBAY_SECRET, "url": "http://127.0.0.1:9/"}
    assert stored["sources"]["ebay"] == {"page_size": 100}

    rows = _show(cli)
    assert rows["oxylabs.password"] == {
        "key": "oxylabs.password", "value": "********", "from": "config",
    }  # fmt: skip
    assert rows["ebay.client_secret"]["value"] == "********"
    assert rows["ebay.url"] == {"key": "ebay.url", "value": "http://127.0.0.1:9/",
                                "from": "config"}  # fmt: skip
    assert rows["sources.ebay.page_size"]["value"] == 100
    text = cli("config", "show")
    assert text.exit_code == 0
    assert OXY_PASS not in text.stdout and EBAY_SECRET not in text.stdout
    line = next(x for x in text.stdout.splitlines() if x.startswith("oxylabs.password"))
    assert line.split()[1:] == ["********", "config"]

    # The environment wins over the file, and show says so.
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", "from-the-env-1")
    rows = _show(cli)
    assert rows["oxylabs.password"]["from"] == "env COLLECTOR_OXYLABS_PASSWORD"
    assert rows["oxylabs.password"]["value"] == "********"
    text = cli("config", "show").stdout
    assert "env COLLECTOR_OXYLABS_PASSWORD" in text and "from-the-env-1" not in text
    monkeypatch.delenv("COLLECTOR_OXYLABS_PASSWORD")

    result = cli("config", "unset", "oxylabs.password")
    assert result.exit_code == 0, result.stderr
    config.load.cache_clear()
    assert "password" not in config.load().get("oxylabs", {})
    assert _show(cli)["oxylabs.password"]["value"] is None
    before = config_path.read_bytes()
    again = cli("config", "unset", "oxylabs.password")
    assert again.exit_code == 3 and len(again.stderr.strip().splitlines()) == 1
    assert config_path.read_bytes() == before
    assert cli("config", "unset", "sources.ebay.page_size").exit_code == 0
    config.load.cache_clear()
    assert config.load()["sources"].get("ebay", {}) == {}


@pytest.mark.parametrize(
    "args",
    [
        ("oxylabs.token", "x"),
        ("ebay.password", "x"),
        ("nosuch", "x"),
        ("sources.ebay", "1"),
        ("sources..rate", "1"),
        ("oxylabs.username", ""),
        ("ebay.client_secret", "   "),
        ("oxylabs.url", "ftp://example.com"),
        ("ebay.url", "api.ebay.com"),
        ("sources.nosuch.rate", "1"),
        ("sources.ebay.rate", "-1"),
        ("sources.ebay.rate", "fast"),
        ("sources.ebay.page_size", "500"),
        ("sources.oxylabs-ebay.page_size", "50"),
        ("sources.oxylabs.render", "js"),
        ("sources.ebay.timeout", "0"),
        ("ebay.client_secret",),  # no value and stdin is not a terminal
    ],
)
def test_config_set_refuses_bad_input_and_leaves_the_file(cli, config_path, args):
    before = config_path.read_bytes()

    result = cli("config", "set", *args)

    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collector: error: "), result.stderr
    assert config_path.read_bytes() == before


def test_config_set_empty_value_from_stdin_is_refused(cli, config_path):
    before = config_path.read_bytes()
    result = cli("config", "set", "ebay.client_secret", "-", input="\n")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert config_path.read_bytes() == before


def test_credentials_from_the_config_file_alone_drive_a_run(
    cli, oxylabs, ebay, catalogue, db_path, config_path
):
    for key, value in (
        ("oxylabs.username", OXY_USER),
        ("oxylabs.password", OXY_PASS),
        ("oxylabs.url", oxylabs.url),
        ("ebay.client_id", EBAY_ID),
        ("ebay.client_secret", EBAY_SECRET),
        ("ebay.url", ebay.url),
    ):
        result = cli("config", "set", key, value)
        assert result.exit_code == 0, result.stderr
    rows = _show(cli)
    assert {rows[k]["from"] for k in rows if not k.startswith("sources.")} == {"config"}
    sources = {(s["kind"], s["name"]): s["credentials"]
               for s in json.loads(cli("sources", "--json").stdout)}  # fmt: skip
    assert sources[("listing", "ebay")] == sources[("product", "oxylabs")] == "set"
    add_preset(cli, "p", "oxylabs", "ebay")

    result = cli("run", "-p", "p", "--max-products", "6")

    assert result.exit_code == 0, result.stderr
    assert run_row(db_path)["status"] == "completed"
    truth = catalogue.expected_sellers(max_products=6, pages=2, page_size=EBAY_PAGE_SIZE)
    assert set(run_sellers(db_path)) == truth and truth
    basic = base64.b64encode(f"{OXY_USER}:{OXY_PASS}".encode()).decode()
    assert oxylabs.requests and all(
        r.headers["Authorization"] == f"Basic {basic}" for r in oxylabs.requests
    )
    assert ebay.token_calls == 1 and ebay.search_calls > 0


# -- 9. sources ----------------------------------------------------------------------------------


def _sources(cli) -> dict[tuple[str, str], str]:
    result = cli("sources", "--json")
    assert result.exit_code == 0, result.stderr
    return {(row["kind"], row["name"]): row["credentials"] for row in json.loads(result.stdout)}


def _text_status(cli) -> dict[tuple[str, str], str]:
    result = cli("sources")
    assert result.exit_code == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in ("product", "listing"):
            status = "not needed" if line.rstrip().endswith("not needed") else parts[-1]
            found[(parts[0], parts[1])] = status
    return found


def test_sources_lists_six_and_credential_status_follows_the_env(cli, monkeypatch):
    rows = json.loads(cli("sources", "--json").stdout)
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("product", "sample"), ("product", "oxylabs"), ("product", "file"),
        ("listing", "sample"), ("listing", "ebay"), ("listing", "oxylabs-ebay"),
    ]  # fmt: skip
    assert all(r["description"] and r["needs"] and r["cost"] for r in rows)
    free = {("product", "sample"): "not needed", ("product", "file"): "not needed",
            ("listing", "sample"): "not needed"}  # fmt: skip

    def expect(oxy: str, bay: str) -> None:
        wanted = {**free, ("product", "oxylabs"): oxy, ("listing", "oxylabs-ebay"): oxy,
                  ("listing", "ebay"): bay}  # fmt: skip
        assert _sources(cli) == wanted
        assert _text_status(cli) == wanted

    expect("missing", "missing")
    monkeypatch.setenv("COLLECTOR_OXYLABS_USERNAME", OXY_USER)
    expect("missing", "missing")
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", OXY_PASS)
    expect("set", "missing")
    monkeypatch.setenv("COLLECTOR_EBAY_CLIENT_ID", EBAY_ID)
    monkeypatch.setenv("COLLECTOR_EBAY_CLIENT_SECRET", EBAY_SECRET)
    expect("set", "set")
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", "")  # empty is as good as unset
    expect("missing", "set")
    for result in (cli("sources"), cli("sources", "--json")):
        assert not any(s in result.stdout + result.stderr for s in SECRETS)


# -- 10. preset errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "oxylabs.password=hunter2-x"], "credentials are not stored in presets"),
        (["-o", "ebay.client_secret=hunter2-x"], "credentials are not stored in presets"),
        (["-o", "oxylabs.username=hunter2-x"], "credentials are not stored in presets"),
        (["-o", "nosuch.rate=1"], "does not use source nosuch"),
        (["-o", "sample.latency_ms=1"], "does not use source sample"),
        (["-o", "ebay.rate=fast"], "rate must be a number"),
        (
            ["--listing-source", "oxylabs-ebay", "-o", "oxylabs-ebay.page_size=50"],
            "page_size must be one of",
        ),
        (["-o", "ebay.page_size"], "use SOURCE.KEY=VALUE"),
        (["-o", "oxylabs.domain"], "use SOURCE.KEY=VALUE"),
        (["--products-file", "/nonexistent/products.csv"], "does not exist"),
        (["--listing-source", "nosuch"], "unknown listing source 'nosuch'"),
        (["--unknown-price", "guess"], "unknown"),
    ],
)
def test_preset_add_refuses_bad_sources_and_options(cli, db_path, extra, message):
    add_preset(cli, "existing", "oxylabs", "ebay")
    before = dump(db_path)
    has_listing = "--listing-source" in extra

    result = cli(
        "preset", "add", "bad", *category_args(), "--product-source", "oxylabs",
        *([] if has_listing else ["--listing-source", "ebay"]), *extra,
    )  # fmt: skip

    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "hunter2-x" not in result.stdout + result.stderr
    assert dump(db_path) == before
    assert cli("preset", "show", "bad").exit_code == 3
