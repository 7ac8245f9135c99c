"""`collector report`: the page draws every chart in a real Chromium, needs no network, shows
the shortlist with hostile names escaped, and bad input changes nothing and leaves no file.

The browser is Debian's chromium driven by Playwright (never a downloaded browser): a missing
chromium fails the test with the command that installs it, it is never skipped.
"""

from __future__ import annotations

import contextlib
import html
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector_cli.insight.figures import SellerFigures
from collector_cli.insight.ranking import rank
from collector_cli.insight.report import SHORTLIST, Report, SellerEvidence, render
from collector_cli.sources.sample import planted_sellers
from collector_cli.store.db import open_store
from collector_cli.store.evidence import Scope
from tests.conftest import dump, subprocess_env

CHROMIUM = "/usr/bin/chromium"
ALL_CHARTS = ["chart-runs", "chart-known", "chart-yield", "chart-cost", "chart-feedback"]
RUN_CHARTS = ["chart-runs", "chart-known", "chart-yield", "chart-cost"]
HOSTILE = [
    '=HYPERLINK("http://x")',
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(2)</script>",
    'Smith, "Jones" & O\'Brien <b>',
    "&amp; already escaped &lt;",
    "⭐ Star Seller ⭐ a=b",
]
SAFETY_NET_MS = 60_000  # only for a page that never draws: the test fails with a message


def _demo_runs(cli: Callable[..., Any], count: int = 2) -> None:
    for _ in range(count):
        result = cli("run", "--preset", "demo")
        assert result.exit_code == 0, result.stderr


def _report(cli: Callable[..., Any], path: Path, *extra: str) -> Any:
    result = cli("report", "-o", str(path), *extra)
    assert result.exit_code == 0, result.stderr
    return result


# -- a real browser -------------------------------------------------------------------------------


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """Debian's chromium, headless, with a new empty profile and nothing running in the
    background that could make a request of its own.

    Entered only once the store and the page are ready: Playwright's sync API keeps an event
    loop running in this thread, so a `collector run` inside it could not start its own.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


def _load(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """Open the file, wait for its load event, and return (page, script errors, requests)."""
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else 0)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load", timeout=SAFETY_NET_MS)
    return page, errors, requests


def _drawn_charts(page: Any) -> dict[str, dict[str, int]]:
    """Per chart div: the SVGs plotly drew in it and the traces inside them. Waits until every
    chart div holds a drawn trace (plotly may finish after the load event)."""
    try:
        page.wait_for_function(
            "() => [...document.querySelectorAll('.plotly-graph-div')]"
            ".every(div => div.querySelector('svg.main-svg g.trace'))",
            timeout=SAFETY_NET_MS,
        )
    except Exception as exc:  # playwright's TimeoutError: say which chart never drew
        raise AssertionError(f"a chart was never drawn: {_count(page)}") from exc
    return _count(page)


def _count(page: Any) -> dict[str, dict[str, int]]:
    return page.eval_on_selector_all(
        ".plotly-graph-div",
        "divs => Object.fromEntries(divs.map(d => [d.id, {"
        "svg: d.querySelectorAll('svg.main-svg').length,"
        "traces: d.querySelectorAll('svg.main-svg g.trace').length}]))",
    )


@pytest.mark.parametrize(
    ("store_state", "charts"),
    [("evidence", ALL_CHARTS), ("old runs", RUN_CHARTS), ("empty", [])],
)
def test_every_chart_is_drawn_offline_without_script_errors(
    cli, tmp_path: Path, db_path: Path, store_state: str, charts: list[str]
) -> None:
    if store_state != "empty":
        _demo_runs(cli)
    if store_state == "old runs":  # runs from before evidence was kept
        with sqlite3.connect(db_path) as conn:
            conn.execute("DELETE FROM seller_evidence")
    target = tmp_path / "report.html"
    said = _report(cli, target).stderr
    expected = {"evidence": "Wrote ", "old runs": "Wrote ", "empty": "No runs yet: wrote "}
    assert said.startswith(expected[store_state] + str(target)) and said.count("\n") == 1
    assert ("no seller evidence yet" in said) == (store_state == "old runs")
    with chromium(tmp_path / "profile") as browser:
        _check_drawn(browser, target, store_state, charts)


def _check_drawn(browser: Any, target: Path, store_state: str, charts: list[str]) -> None:
    page, errors, requests = _load(browser, target)
    try:
        drawn = _drawn_charts(page)
        assert sorted(drawn) == sorted(charts)
        for chart, found in drawn.items():
            assert found["svg"] >= 1 and found["traces"] >= 1, (chart, found)
        sellers = page.locator("details.seller")
        if store_state == "evidence":
            assert sellers.count() == SHORTLIST
            first = sellers.first
            assert not first.locator("table").is_visible()
            first.locator("summary").click()
            first.locator("table").wait_for(state="visible", timeout=SAFETY_NET_MS)
            rows = first.locator("table tr").count() - 1
            assert 1 <= rows <= 30
        else:
            assert sellers.count() == 0
            text = page.inner_text("body")
            needs = "No runs yet" if store_state == "empty" else "shortlist needs seller evidence"
            assert needs in text
        assert errors == []  # after drawing and opening a seller: no script error at all
        assert [url for url in requests if not url.startswith("file://")] == []
    finally:
        page.close()


def test_hostile_names_stay_text_in_the_page_and_the_charts(tmp_path: Path) -> None:
    """Names that are markup, formulas or entities show as themselves: in the shortlist and
    in the chart legends (plotly renders a subset of HTML there), with no element made."""
    report = _hostile_report()
    target = tmp_path / "hostile.html"
    target.write_text(render(report), encoding="utf-8")
    with chromium(tmp_path / "profile") as browser:
        _check_hostile(browser, target)


def _check_hostile(browser: Any, target: Path) -> None:
    page, errors, requests = _load(browser, target)
    try:
        _drawn_charts(page)
        assert page.eval_on_selector_all("img, b, script[src]", "els => els.length") == 0
        assert "store /tmp/<store> & co.db" in page.inner_text(".facts")
        names = page.eval_on_selector_all(".name", "els => els.map(e => e.textContent)")
        assert names == HOSTILE
        legend = page.eval_on_selector_all(
            "#chart-feedback .legendtext", "els => els.map(e => e.textContent)"
        )
        assert legend == [n if len(n) <= 28 else n[:27] + "…" for n in HOSTILE]
        titles = page.eval_on_selector_all(
            "details.seller td:first-child", "els => els.map(e => e.textContent)"
        )
        assert titles == HOSTILE  # the product titles, and no javascript: link made of them
        assert page.eval_on_selector_all("a", "els => els.length") == 0
        assert errors == []
        assert [url for url in requests if not url.startswith("file://")] == []
    finally:
        page.close()


def _hostile_report() -> Report:
    runs = [
        {"id": n, "preset": "demo", "status": "completed", "started_at": f"2026-01-0{n}T10:00:00",
         "duration_s": 1.5 * n, "cost_usd": 0.01 * n, "sellers_found": 10 * n, "sellers_new": 5}
        for n in (1, 2)
    ]  # fmt: skip
    shortlist, feedback = [], []
    for i, name in enumerate(HOSTILE, 1):
        figures = SellerFigures(
            seller_id=i, name=name, platform="sample", feedback_score=100, feedback_percent=99.0,
            flagged=False, products=3, categories=1, departments=1, listings=4, markup=1.1,
            markup_spread=0.01, markup_samples=3, runs_seen=2, runs_possible=2, growth=None,
            score=50.0 - i,
        )  # fmt: skip
        product = {
            "run_id": 2, "product_key": "B1", "title": name, "category_id": f"cat <{i}>",
            "department_id": "dep", "product_price_micros": 10_000_000, "listings": 1,
            "price_min_micros": 11_000_000, "price_max_micros": 12_000_000,
            "example_listing_id": "1", "example_url": "javascript:alert(3)",
        }  # fmt: skip
        shortlist.append(SellerEvidence(figures, [product], 0))
        points = [
            {"recorded_at": f"2026-01-0{day}T10:00:00+00:00", "run_id": day,
             "feedback_score": 100 + day * i, "feedback_score_approx": 0,
             "feedback_percent": 99.0}
            for day in (1, 2)
        ]  # fmt: skip
        feedback.append((figures, points))
    category_yield = [
        {"department_id": "dep", "category_id": name, "products": 3, "failed": 0,
         "listings": 7, "sellers": 2}
        for name in HOSTILE
    ]  # fmt: skip
    return Report(
        generated_at=datetime.now(UTC),
        store_path="/tmp/<store> & co.db",
        runs=runs,
        evidence_runs=[1, 2],
        yield_run=2,
        category_yield=category_yield,
        shortlist=shortlist,
        ranked_total=len(HOSTILE),
        feedback=feedback,
    )


# -- no network by construction -------------------------------------------------------------------


class _Resources(HTMLParser):
    """Every place an HTML page can make the browser fetch something on its own."""

    FETCHING: ClassVar[dict[str, str]] = {
        "script": "src", "link": "href", "img": "src", "iframe": "src", "embed": "src",
        "source": "src", "video": "src", "audio": "src", "object": "data", "input": "src",
        "track": "src", "frame": "src", "base": "href",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.css: list[str] = []
        self.tags: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        wanted = self.FETCHING.get(tag)
        if wanted and values.get(wanted):
            self.urls.append(f"{tag} {wanted}={values[wanted]}")
        if values.get("srcset") or values.get("poster"):
            self.urls.append(f"{tag} srcset/poster")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.urls.append("meta refresh")
        if values.get("style"):
            self.css.append(values["style"] or "")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def test_the_page_fetches_nothing_by_construction(cli, tmp_path: Path) -> None:
    _demo_runs(cli)
    target = tmp_path / "report.html"
    _report(cli, target)
    text = target.read_text(encoding="utf-8")
    found = _Resources()
    found.feed(text)
    assert found.urls == []  # plotly.js is inlined, not loaded from a CDN or a file
    assert found.tags.count("script") == 1 + len(ALL_CHARTS)  # the library once, then charts
    assert text.count("plotly.js v") == 1
    for css in found.css:
        assert "@import" not in css and "url(" not in css, css
    assert "cdn.plot.ly" not in text.split("</head>", 1)[1]


# -- what the page says ---------------------------------------------------------------------------


class _Names(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self._depth = 0  # inside <span class="name">

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth:
            self._depth += 1
        elif tag == "span" and ("class", "name") in attrs:
            self._depth = 1
            self.names.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth == 1:
            self.names[-1] += data


def test_report_shows_the_planted_sellers_with_names_escaped(
    cli, tmp_path: Path, db_path: Path
) -> None:
    _demo_runs(cli)
    target = tmp_path / "r.html"
    result = _report(cli, target)
    assert result.stdout == f"{target}\n"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Wrote {target} (") and "MiB" in lines[0]
    text = target.read_text(encoding="utf-8")
    parser = _Names()
    parser.feed(text)
    store = open_store(db_path)
    try:
        ranked = [f.name for f in rank(store.evidence, Scope())]
    finally:
        store.close()
    assert parser.names == ranked[:SHORTLIST]  # names round-trip exactly, in ranking order
    assert set(planted_sellers()) <= set(parser.names)
    for name in planted_sellers():
        assert f'<span class="name">{html.escape(name)}' in text
    hostile = [n for n in parser.names if set(n) & set("\"'&<>=")]
    assert '=HYPERLINK("http://x")' in hostile and any("&" in n for n in hostile)
    for name in hostile:
        assert f'<span class="name">{html.escape(name)}' in text
        assert name not in text.split("<body>", 1)[1]  # never raw in the HTML itself


def test_report_default_path_and_open(tmp_path: Path, db_path: Path, config_path: Path) -> None:
    """No -o: collector-report.html in the current directory; --open hands the browser its
    file:// address (BROWSER is a script that records it; webbrowser waits for it)."""
    subprocess.run([sys.executable, "-m", "collector_cli", "run", "--preset", "demo"],
                   env=subprocess_env(db_path, config_path), check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    seen = tmp_path / "browser-saw.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(f'#!/bin/sh\nprintf %s "$1" > {seen}\n', encoding="utf-8")
    fake.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "collector_cli", "report", "--open"],
        env=subprocess_env(db_path, config_path, BROWSER=str(fake)),
        cwd=work, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    target = work / "collector-report.html"
    assert done.stdout == f"{target}\n"
    assert target.is_file() and sorted(os.listdir(work)) == ["collector-report.html"]
    assert seen.read_text(encoding="utf-8") == target.as_uri()
    assert "Opened in the browser." in done.stderr


def test_report_does_not_load_plotly_for_everyday_commands(
    db_path: Path, config_path: Path
) -> None:
    env = subprocess_env(db_path, config_path)
    probe = (
        "import sys\nfrom collector_cli.cli.app import main\n"
        "for args in (['--help'], ['history'], ['report', '--help']):\n"
        "    sys.argv = ['collector', *args]\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'plotly'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


# -- bad input ------------------------------------------------------------------------------------


def _bad_targets(tmp_path: Path) -> dict[str, tuple[list[str], int, str]]:
    plain_file = tmp_path / "out" / "plain.txt"
    return {
        "unknown run": (["--run", "999"], 3, "no run with id 999"),
        "not a run": (["--run", "abc"], 2, "invalid --run 'abc'"),
        "missing directory": (
            ["-o", str(tmp_path / "out" / "nope" / "r.html")], 2, "does not exist"
        ),
        # As root a chmod 0o500 directory is still writable: a parent that is a regular file
        # fails for everyone, as does a directory given as the file.
        "parent is a file": (["-o", str(plain_file / "r.html")], 2, "is not a directory"),
        "a directory": (["-o", str(tmp_path / "out")], 2, "is a directory"),
        "empty path": (["-o", " "], 2, "--output needs a path"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["unknown run", "not a run", "missing directory", "parent is a file", "a directory",
     "empty path"],
)  # fmt: skip
def test_bad_input_is_one_line_and_changes_nothing(
    cli, tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    _demo_runs(cli, 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "plain.txt").write_text("x", encoding="utf-8")
    monkeypatch.chdir(out)  # where the default report would land
    args, code, message = _bad_targets(tmp_path)[case]
    before, files = dump(db_path), sorted(os.listdir(out))
    result = cli("report", *args)
    assert result.exit_code == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("collector: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout and result.stdout == ""
    assert dump(db_path) == before
    assert sorted(os.listdir(out)) == files


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_a_failed_write_keeps_the_old_page_and_leaves_no_temp(
    cli, tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, failure: type
) -> None:
    """Ctrl-C or a full disk while the page is written: the previous report stays whole."""
    _demo_runs(cli, 1)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "r.html"
    target.write_text("the previous report", encoding="utf-8")
    before = dump(db_path)

    def fail(fd: int) -> None:
        raise failure(28, "No space left on device") if failure is OSError else failure()

    monkeypatch.setattr(os, "fsync", fail)
    result = cli("report", "-o", str(target))
    monkeypatch.undo()
    if failure is KeyboardInterrupt:
        assert result.exit_code == 130
    else:
        assert result.exit_code == 2
        assert (
            result.stderr == f"collector: error: cannot write {target}: No space left on device\n"
        )
    assert target.read_text(encoding="utf-8") == "the previous report"
    assert os.listdir(out) == ["r.html"]
    assert dump(db_path) == before


def test_chart_data_never_holds_a_raw_angle_bracket() -> None:
    """The charts' data is plotly's JSON, which writes ``<`` as ``\\u003c``: no name can close
    the script it sits in."""
    text = render(_hostile_report())
    calls = [chunk.split("</script>", 1)[0] for chunk in text.split("Plotly.newPlot(")[1:]]
    assert len(calls) == len(ALL_CHARTS)
    for call in calls:
        assert "<" not in call
