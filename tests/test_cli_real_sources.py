"""`collector run` against the loopback Oxylabs and eBay emulators: every product × listing
route ends with exactly the catalogue's ground truth, unknown prices, credentials (wrong,
missing, from the config file), and that no credential leaks into any output or the store.

Costs, the request ledger under faults, --max-cost and --dry-run are in test_cli_costs.py.
"""

from __future__ import annotations

import base64
import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from collector_cli import taxonomy
from collector_cli.sources.ebay_html import parse_count
from tests.conftest import (
    EBAY_ID,
    EBAY_SECRET,
    EMULATED_CATEGORIES,
    OXY_PASS,
    OXY_USER,
    connect,
    dump,
    start_collector,
    subprocess_env,
)
from tests.emulators.catalogue import SearchFilters, cut_query, price_band
from tests.emulators.ebay_html import abbreviate_count

MAX_PRODUCTS = 20
EBAY_PAGE_SIZE = 5  # small pages: products with 6+ hits take two pages, 11+ are cut at 10
OXY_EBAY_PAGE_SIZE = 60
SECRETS = (OXY_USER, OXY_PASS, EBAY_ID, EBAY_SECRET)
SECRET_KEYS = ("username", "password", "client_id", "client_secret")
REAL_SOURCES = ("oxylabs", "ebay", "oxylabs-ebay")
CREDENTIAL_ENV = (
    "COLLECTOR_OXYLABS_USERNAME",
    "COLLECTOR_OXYLABS_PASSWORD",
    "COLLECTOR_EBAY_CLIENT_ID",
    "COLLECTOR_EBAY_CLIENT_SECRET",
)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


# -- helpers shared with test_cli_costs.py -------------------------------------------------------


def category_args() -> list[str]:
    args: list[str] = []
    for category in EMULATED_CATEGORIES:
        args += ["-c", category]
    return args


def add_preset(cli, name: str, product: str, listing: str, *extra: str) -> None:
    """A preset over the emulated categories; real sources get no rate limit (rate 0)."""
    options = [f"-o{source}.rate=0" for source in (product, listing) if source in REAL_SOURCES]
    if listing == "ebay":
        options.append(f"-oebay.page_size={EBAY_PAGE_SIZE}")
    result = cli(
        "preset", "add", name, *category_args(), "--product-source", product,
        "--listing-source", listing, *options, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def page_size(listing: str) -> int:
    return EBAY_PAGE_SIZE if listing == "ebay" else OXY_EBAY_PAGE_SIZE


def run_row(db_path: Path, run_id: int = 1) -> dict:
    conn = connect(db_path)
    try:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row is not None else {}
    finally:
        conn.close()


def run_count(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    conn = connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()


def usage_rows(db_path: Path, run_id: int = 1) -> dict[str, dict]:
    conn = connect(db_path)
    try:
        rows = conn.execute("SELECT * FROM run_usage WHERE run_id = ?", (run_id,)).fetchall()
        return {row["source"]: dict(row) for row in rows}
    finally:
        conn.close()


def run_sellers(db_path: Path, run_id: int = 1) -> dict[str, dict]:
    """The sellers one run saw (platform ebay), by name."""
    conn = connect(db_path)
    try:
        rows = conn.execute(
            "SELECT s.* FROM sellers s JOIN run_sellers r ON r.seller_id = s.id"
            " WHERE r.run_id = ? AND s.platform = 'ebay'",
            (run_id,),
        ).fetchall()
        return {row["name"]: dict(row) for row in rows}
    finally:
        conn.close()


def exported_names(cli, run_id: int = 1) -> list[str]:
    result = cli("export", "--format", "json", "--run", str(run_id))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["count"] == len(data["sellers"])
    assert {s["platform"] for s in data["sellers"]} <= {"ebay"}
    return [s["name"] for s in data["sellers"]]


def oxylabs_source(request) -> str:  # type: ignore[no-untyped-def]
    """The Oxylabs ``source`` a recorded request asked for (amazon_bestsellers or ebay)."""
    return json.loads(request.body)["source"]


def node_ids() -> list[str]:
    return [taxonomy.category(c).node_id for c in EMULATED_CATEGORIES]


def searched_items(catalogue, max_products: int = MAX_PRODUCTS) -> list:
    """The best sellers a run with ``unknown_price skip`` searches, in node order."""
    return [
        item
        for node in node_ids()
        for item in catalogue.bestsellers(node)[:max_products]
        if item.price
    ]


def unique_tokens(catalogue, count: int, max_products: int = MAX_PRODUCTS) -> list[str]:
    """Model codes (``Q217``) that name one searched product each: a fault ``match`` that
    hits exactly that product's searches. Letters A-F are left out: ``%5B123`` in an
    encoded filter could contain ``B123``."""
    titles = [item.title for item in searched_items(catalogue, max_products)]
    every = [t for node in node_ids() for t in (i.title for i in catalogue.bestsellers(node))]
    tokens = []
    for title in titles:
        token = re.search(r" ([G-Z]\d{3}) ", title)
        if token and sum(token.group(1) in t for t in every) == 1:
            tokens.append(token.group(1))
    assert len(tokens) >= count, "the catalogue has too few distinct model codes"
    return tokens[:count]


def file_truth(catalogue, rows: list[dict], *, listing_page_size: int, pages: int = 2) -> set[str]:
    """What a correct client finds for a products file (unknown prices skipped)."""
    found: set[str] = set()
    for row in rows:
        if not row["price"]:
            continue
        low, high = price_band(Decimal(row["price"]), 0.8, 1.2)
        hits = catalogue.search(
            cut_query(row["title"]), SearchFilters(price_low=low, price_high=high)
        )
        found.update(offer.seller for offer in hits[: pages * listing_page_size])
    return found


def write_products_file(catalogue, path: Path, per_node: int = 12) -> list[dict]:
    """Best sellers as the user's own CSV: the first node by category id, the second by
    browse-node id; unknown prices as an empty cell."""
    rows = []
    for index, node in enumerate(node_ids()):
        label = EMULATED_CATEGORIES[index] if index == 0 else node
        for item in catalogue.bestsellers(node)[:per_node]:
            price = f"{item.price:.2f}" if item.price else ""
            rows.append({"title": item.title, "price": price, "id": item.asin, "category": label})
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["title", "price", "id", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def catalogue_feedback(catalogue) -> dict[str, tuple[int, str]]:
    return {o.seller: (o.feedback_score, o.feedback_percent) for o in catalogue.offers}


# -- 1. every route ends with exactly the ground truth ----------------------------------------

ROUTES = [
    ("oxylabs", "ebay"),
    ("oxylabs", "oxylabs-ebay"),
    ("file", "ebay"),
    ("file", "oxylabs-ebay"),
]


@pytest.mark.parametrize(("product", "listing"), ROUTES, ids=["-".join(r) for r in ROUTES])
def test_route_finds_exactly_the_ground_truth(
    cli, real_env, oxylabs, ebay, catalogue, db_path, tmp_path, product, listing
):
    extra: list[str] = []
    if product == "file":
        rows = write_products_file(catalogue, tmp_path / "products.csv")
        extra = ["--products-file", str(tmp_path / "products.csv")]
        truth = file_truth(catalogue, rows, listing_page_size=page_size(listing))
        searched = sum(1 for row in rows if row["price"])
        skipped = len(rows) - searched
        run_args: list[str] = []
    else:
        truth = catalogue.expected_sellers(
            max_products=MAX_PRODUCTS, pages=2, page_size=page_size(listing)
        )
        searched = len(searched_items(catalogue))
        skipped = MAX_PRODUCTS * len(EMULATED_CATEGORIES) - searched
        run_args = ["--max-products", str(MAX_PRODUCTS)]
    if listing == "oxylabs-ebay" and product == "file":
        oxylabs.layout = "legacy"  # exact counts in the legacy layout, abbreviated in cards
    add_preset(cli, "route", product, listing, *extra)

    result = cli("run", "-p", "route", *run_args)

    assert result.exit_code == 0, result.stderr
    run = run_row(db_path)
    assert (run["status"], run["finish_reason"]) == ("completed", "all products searched")
    assert (run["products_done"], run["products_skipped"]) == (searched, skipped)
    assert run["products_failed"] == 0
    assert len(truth) > 30, "a ground truth this small proves little"
    sellers = run_sellers(db_path)
    assert set(sellers) == truth
    exported = exported_names(cli)
    assert sorted(exported) == sorted(truth)
    conn = connect(db_path)
    try:
        platforms = {r[0] for r in conn.execute("SELECT DISTINCT platform FROM sellers")}
    finally:
        conn.close()
    assert platforms == {"ebay"}

    # What went over the wire: only the sources the route names.
    amazon = [r for r in oxylabs.requests if oxylabs_source(r) == "amazon_bestsellers"]
    pages = [r for r in oxylabs.requests if oxylabs_source(r) == "ebay"]
    assert bool(amazon) == (product == "oxylabs")
    assert bool(pages) == (listing == "oxylabs-ebay")
    assert bool(ebay.requests) == (listing == "ebay")
    if listing == "ebay":
        assert ebay.token_calls == 1
        size = str(EBAY_PAGE_SIZE)
        assert {r.param("limit") for r in ebay.requests if r.method == "GET"} == {size}
        assert any(r.param("offset") == size for r in ebay.requests), "page 2 never asked"

    feedback = catalogue_feedback(catalogue)
    for name, row in sellers.items():
        score, percent = feedback[name]
        assert row["feedback_percent"] == pytest.approx(float(percent)), name
        if listing == "ebay" or oxylabs.layout == "legacy":  # Browse API / legacy: exact
            assert (row["feedback_score"], row["feedback_score_approx"]) == (score, 0), name
        else:  # card layout: "154.8K" is stored as 154,800, flagged approximate
            shown, approx = parse_count(abbreviate_count(score))
            assert (row["feedback_score"], row["feedback_score_approx"]) == (shown, int(approx))
    if listing == "oxylabs-ebay" and oxylabs.layout == "card":
        assert any(row["feedback_score_approx"] for row in sellers.values())
        assert any(not row["feedback_score_approx"] for row in sellers.values())


# -- 2. products without a price ----------------------------------------------------------------


def test_unknown_price_skip_records_reason_and_search_finds_more(
    cli, real_env, ebay, catalogue, db_path
):
    add_preset(cli, "skip", "oxylabs", "ebay")
    add_preset(cli, "search", "oxylabs", "ebay", "--unknown-price", "search")
    unpriced = [
        item
        for node in node_ids()
        for item in catalogue.bestsellers(node)[:MAX_PRODUCTS]
        if not item.price
    ]
    assert unpriced, "the catalogue has no product without a price in range"

    assert cli("run", "-p", "skip", "--max-products", str(MAX_PRODUCTS)).exit_code == 0
    searches_before = len(ebay.requests)
    assert cli("run", "-p", "search", "--max-products", str(MAX_PRODUCTS)).exit_code == 0

    skip_run, search_run = run_row(db_path, 1), run_row(db_path, 2)
    assert skip_run["products_skipped"] == len(unpriced)
    assert search_run["products_skipped"] == 0
    assert search_run["products_done"] == MAX_PRODUCTS * len(EMULATED_CATEGORIES)
    conn = connect(db_path)
    try:
        skipped = conn.execute(
            "SELECT product_key, error, pages FROM run_products WHERE run_id = 1"
            " AND status = 'skipped'"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(r["product_key"] for r in skipped) == sorted(i.asin for i in unpriced)
    assert {(r["error"], r["pages"]) for r in skipped} == {("price unknown", 0)}

    kwargs = {"max_products": MAX_PRODUCTS, "pages": 2, "page_size": EBAY_PAGE_SIZE}
    skip_truth = catalogue.expected_sellers(**kwargs, unknown_price="skip")
    search_truth = catalogue.expected_sellers(**kwargs, unknown_price="search")
    assert set(run_sellers(db_path, 1)) == skip_truth
    assert set(run_sellers(db_path, 2)) == search_truth
    assert len(search_truth) > len(skip_truth) and skip_truth < search_truth
    assert sorted(exported_names(cli, 2)) == sorted(search_truth)
    # An unpriced product is searched without a price band (and with every other filter).
    second = ebay.requests[searches_before:]
    for item in unpriced:
        query = cut_query(item.title)
        asked = [r for r in second if r.param("q") == query]
        assert asked, item.title
        for request in asked:
            assert "price:" not in request.param("filter")
            assert "conditionIds:{1000}" in request.param("filter")


# -- 6. credentials: wrong, missing -----------------------------------------------------------


def test_wrong_oxylabs_password_fails_the_run_without_retry_storm(
    cli, real_env, oxylabs, ebay, db_path, monkeypatch
):
    add_preset(cli, "p", "oxylabs", "ebay")
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", "not-the-password-3x")

    result = cli("run", "-p", "p", "--max-products", str(MAX_PRODUCTS))

    assert result.exit_code == 1, result.stderr
    run = run_row(db_path)
    assert run["status"] == "failed"
    assert "COLLECTOR_OXYLABS_USERNAME" in run["finish_reason"]
    assert "not-the-password-3x" not in result.stdout + result.stderr + run["finish_reason"]
    per_node = [sum(node in r.body.decode() for r in oxylabs.requests) for node in node_ids()]
    assert 1 <= len(oxylabs.requests) <= len(EMULATED_CATEGORIES)
    assert max(per_node) == 1, per_node  # one attempt per category at most: no retries
    assert {r.status for r in oxylabs.requests} == {401}
    assert ebay.requests == []
    # A request whose 401 arrives after the stop is cancelled in flight: sent, not failed.
    assert (run["requests"], run["retries"]) == (len(oxylabs.requests), 0)
    assert 1 <= run["request_failures"] <= run["requests"]


def test_wrong_ebay_secret_fails_the_run_with_the_token_error(
    cli, real_env, ebay, db_path, monkeypatch
):
    add_preset(cli, "p", "oxylabs", "ebay")
    monkeypatch.setenv("COLLECTOR_EBAY_CLIENT_SECRET", "not-the-secret-9q")

    result = cli("run", "-p", "p", "--max-products", str(MAX_PRODUCTS))

    assert result.exit_code == 1, result.stderr
    run = run_row(db_path)
    assert run["status"] == "failed"
    reason = run["finish_reason"]
    assert "eBay rejected the client credentials" in reason and "invalid_client" in reason
    assert "COLLECTOR_EBAY_CLIENT_SECRET" in reason
    assert "not-the-secret-9q" not in result.stdout + result.stderr + reason
    assert (ebay.token_calls, ebay.search_calls) == (1, 0)  # one mint, no search, no storm
    assert run["products_done"] == 0


@pytest.mark.parametrize(
    ("have", "needs"),
    [
        ((), ["COLLECTOR_OXYLABS_USERNAME", "COLLECTOR_OXYLABS_PASSWORD"]),
        (("COLLECTOR_OXYLABS_USERNAME",), ["COLLECTOR_OXYLABS_PASSWORD"]),
        (
            ("COLLECTOR_OXYLABS_USERNAME", "COLLECTOR_OXYLABS_PASSWORD"),
            ["COLLECTOR_EBAY_CLIENT_ID", "COLLECTOR_EBAY_CLIENT_SECRET"],
        ),
    ],
    ids=["none", "oxylabs-user-only", "oxylabs-only"],
)
def test_missing_credentials_are_a_usage_error_before_any_run_row(
    cli, oxylabs, ebay, db_path, monkeypatch, have, needs
):
    monkeypatch.setenv("COLLECTOR_OXYLABS_URL", oxylabs.url)
    monkeypatch.setenv("COLLECTOR_EBAY_URL", ebay.url)
    values = dict(zip(CREDENTIAL_ENV, SECRETS, strict=True))
    for name in have:
        monkeypatch.setenv(name, values[name])
    add_preset(cli, "p", "oxylabs", "ebay")
    before = dump(db_path)

    result = cli("run", "-p", "p", "--max-products", str(MAX_PRODUCTS))

    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("collector: error: ")
    for name in needs:
        assert name in result.stderr
    for name in set(CREDENTIAL_ENV) - set(needs):
        assert name not in result.stderr
    assert result.stdout == ""
    assert dump(db_path) == before and run_count(db_path) == 0
    assert oxylabs.requests == [] and ebay.requests == []


# -- 7. no credential anywhere but the config file --------------------------------------------


def test_credentials_never_leak_into_outputs_or_the_store(
    cli, real_env, oxylabs, ebay, catalogue, db_path, config_path, tmp_path, monkeypatch
):
    outputs: list[str] = []

    def call(*args: str, input: str | None = None, code: int = 0):  # type: ignore[no-untyped-def]
        result = cli(*args, input=input)
        outputs.extend((result.stdout, result.stderr))
        assert result.exit_code == code, (args, result.stderr)
        return result

    # The secrets go into the config file too (the environment still wins).
    call("config", "set", "oxylabs.username", OXY_USER)
    call("config", "set", "oxylabs.password", "-", input=OXY_PASS + "\n")
    call("config", "set", "ebay.client_id", EBAY_ID)
    call("config", "set", "ebay.client_secret", "-", input=EBAY_SECRET + "\n")
    config_text = config_path.read_text(encoding="utf-8")
    assert all(secret in config_text for secret in SECRETS)  # the check below can see them

    add_preset(cli, "api", "oxylabs", "ebay")
    add_preset(cli, "pages", "oxylabs", "oxylabs-ebay")
    tokens = unique_tokens(catalogue, 3)
    ebay.faults.add("500", match=tokens[0])
    ebay.faults.add("malformed-json", match=tokens[1])
    call("run", "-p", "api", "--max-products", str(MAX_PRODUCTS))
    call("run", "-p", "api", "--max-products", "3", "--dry-run")
    call("run", "-p", "pages", "--max-products", "3", "--dry-run", "--json")

    # The second route as a real process: its own stdout and stderr.
    oxylabs.faults.add("captcha", match=tokens[2])
    oxylabs.faults.add("612", match=node_ids()[0])
    env = subprocess_env(db_path, config_path, **real_env)
    assert env["COLLECTOR_OXYLABS_PASSWORD"] == OXY_PASS
    proc = start_collector(
        ["run", "-p", "pages", "--max-products", str(MAX_PRODUCTS)], db_path, config_path,
        **real_env,
    )  # fmt: skip
    stdout, stderr = proc.communicate(timeout=60)
    outputs.extend((stdout, stderr))
    assert proc.returncode == 0, stderr
    assert "Run #2 (pages) completed" in stdout
    assert oxylabs.faults.faults == [] and ebay.faults.faults == []
    # The emulators did get the credentials: the runs really used them.
    basic = base64.b64encode(f"{OXY_USER}:{OXY_PASS}".encode()).decode()
    assert all(r.headers["Authorization"] == f"Basic {basic}" for r in oxylabs.requests)
    ebay_basic = base64.b64encode(f"{EBAY_ID}:{EBAY_SECRET}".encode()).decode()
    assert ebay.requests[0].headers["Authorization"] == f"Basic {ebay_basic}"

    # An error path too: the right username with a wrong password ends run 3 failed.
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", "wrong-password-0")
    call("run", "-p", "api", "--max-products", "3", code=1)
    monkeypatch.setenv("COLLECTOR_OXYLABS_PASSWORD", OXY_PASS)

    for args in (
        ("config", "show"),
        ("config", "show", "--json"),
        ("config", "path"),
        ("history",),
        ("history", "--json"),
        ("history", "show", "1"),
        ("history", "show", "2", "--json"),
        ("history", "show", "3"),
        ("status", "--json"),
        ("status",),
        ("export",),
        ("export", "--format", "json", "--run", "2"),
        ("preset", "show", "api"),
        ("preset", "show", "pages", "--json"),
        ("preset", "list", "--json"),
        ("sources",),
        ("sources", "--json"),
        ("sellers", "list", "--limit", "5"),
    ):
        call(*args)
    shown = json.loads(cli("config", "show", "--json").stdout)["settings"]
    masked = {r["key"]: r["value"] for r in shown if r["key"].split(".")[-1] in SECRET_KEYS}
    assert masked == dict.fromkeys(
        ("oxylabs.username", "oxylabs.password", "ebay.client_id", "ebay.client_secret"),
        "********",
    )

    conn = connect(db_path)
    try:
        events = [json.dumps(dict(row)) for row in conn.execute("SELECT * FROM events")]
        runs = [json.dumps(dict(row)) for row in conn.execute("SELECT * FROM runs")]
        presets = [json.dumps(dict(row)) for row in conn.execute("SELECT * FROM presets")]
    finally:
        conn.close()
    assert len(runs) == 3 and any("Oxylabs rejected the credentials" in e for e in events)
    store_bytes = b"".join(
        path.read_bytes()
        for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"))
        if path.exists()
    )
    texts = [*outputs, *events, *runs, *presets, "\n".join(dump(db_path))]
    assert any("completed" in text for text in outputs)
    for secret in (*SECRETS, basic, ebay_basic):
        for text in texts:
            assert secret not in text, f"{secret!r} leaked into {text[:200]!r}"
        assert secret.encode() not in store_bytes, f"{secret!r} is in the store file"
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p != config_path]
    for path in leftovers:  # the store, exports, anything else the commands wrote
        data = path.read_bytes()
        assert not any(secret.encode() in data for secret in SECRETS), path
