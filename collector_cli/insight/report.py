"""`collector report`: one self-contained HTML page of runs, yields and the ranked shortlist.

The page is mailed around and opened on laptops with no network, so everything it needs is in
the one file: plotly.js is inlined once (never a CDN), each chart is a div plus a
``Plotly.newPlot`` call, and the shortlist is plain HTML with ``<details>`` (no script needed).
plotly is imported here only, and this module only from the `report` command, so everyday
commands never pay for it.

Every text that comes from the store (seller names, product titles, categories) is hostile:
it is escaped with ``html.escape`` for the page, and with ``html.escape(quote=False)`` inside
charts, because plotly renders a subset of HTML (``<a href>``, ``<b>``) in trace names and
hover text. The figure JSON itself is written by plotly, which escapes ``<`` in it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from collector_cli.insight.figures import SellerFigures
from collector_cli.insight.ranking import rank
from collector_cli.models import format_money
from collector_cli.store.evidence import Scope

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from collector_cli.store.db import Store

SHORTLIST = 50  # sellers in the table
TREND_SELLERS = 10  # sellers in the feedback chart
PRODUCTS_SHOWN = 30  # matched products listed per seller; the rest are counted
# No tool bar over the charts: it covers subplot titles, and a report is for reading.
_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}
NO_EVIDENCE = (
    "The shortlist needs seller evidence, which runs record from this version on:"
    " start one with `collector run --preset demo`."
)

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SellerEvidence:
    figures: SellerFigures
    products: list[Row]  # newest run first, at most PRODUCTS_SHOWN
    more: int  # matched products not listed


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the page shows, gathered once (the store is not read while rendering)."""

    generated_at: datetime
    store_path: str
    runs: list[dict[str, Any]]  # oldest first, in the `history --json` vocabulary
    evidence_runs: list[int]
    yield_run: int | None
    category_yield: list[Row]
    shortlist: list[SellerEvidence]
    ranked_total: int
    feedback: list[tuple[SellerFigures, list[Row]]]  # the top sellers' feedback history


def gather(store: Store, runs: Sequence[dict[str, Any]], yield_run: int | None) -> Report:
    """Read what the page needs through the store's repositories, ranking over all runs
    (the same figures `sellers rank` prints)."""
    ranked = rank(store.evidence, Scope())
    shortlist = []
    for figures in ranked[:SHORTLIST]:
        products = store.evidence.products_of(figures.seller_id)
        shortlist.append(
            SellerEvidence(
                figures, products[:PRODUCTS_SHOWN], max(0, len(products) - PRODUCTS_SHOWN)
            )
        )
    feedback = [(f, store.sellers.feedback_history(f.seller_id)) for f in ranked[:TREND_SELLERS]]
    return Report(
        generated_at=datetime.now().astimezone(),
        store_path=str(store.path),
        runs=sorted(runs, key=lambda r: r["id"]),
        evidence_runs=store.evidence.runs_with_evidence(Scope()),
        yield_run=yield_run,
        category_yield=store.evidence.category_yield(yield_run) if yield_run else [],
        shortlist=shortlist,
        ranked_total=len(ranked),
        feedback=feedback,
    )


def render(report: Report) -> str:
    """The whole page. Without runs it is a short page that says so (and carries no charts,
    so no plotly.js)."""
    sections: list[str] = []
    if report.runs:
        sections += _run_sections(report)
        sections.append(_shortlist_section(report))
    else:
        sections.append(
            '<p class="note">No runs yet: nothing to chart. Start one with'
            " <code>collector run --preset demo</code>.</p>"
        )
    script = ""
    if any("plotly-graph-div" in s for s in sections):
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return _PAGE.format(
        style=_STYLE, script=script, header=_header(report), body="\n".join(sections)
    )


# -- charts ---------------------------------------------------------------------------------------


def _run_sections(report: Report) -> list[str]:
    import plotly.graph_objects as go

    runs = report.runs
    x = [f"#{r['id']}" for r in runs]
    hover = [_t(f"{r['preset']} · {r['status']} · {_local(r['started_at'])}") for r in runs]
    found = go.Figure(
        [
            go.Bar(name="found", x=x, y=[r["sellers_found"] for r in runs], hovertext=hover),
            go.Bar(name="new", x=x, y=[r["sellers_new"] for r in runs], hovertext=hover),
        ],
        layout=_layout("run", "sellers", barmode="group"),
    )
    known = go.Figure(
        go.Scatter(
            name="known sellers",
            x=x,
            y=list(accumulate(r["sellers_new"] for r in runs)),
            mode="lines+markers",
            hovertext=hover,
        ),
        layout=_layout("run", "known sellers"),
    )
    sections = [
        _section("Sellers found and new per run", "Found: distinct sellers a run saw; new:"
                 " those no earlier run had seen.", _div(found, "runs")),
        _section("Known sellers", "Running total of the sellers new in each run.",
                 _div(known, "known")),
    ]  # fmt: skip
    sections.append(_yield_section(report))
    cost = _cost_figure(runs, x, hover)
    sections.append(
        _section("Duration and cost per run", "Active time over all attempts (bars) and what"
                 " the sources billed, in USD (line).", _div(cost, "cost"))
    )  # fmt: skip
    sections.append(_feedback_section(report))
    return sections


def _cost_figure(runs: list[dict[str, Any]], x: list[str], hover: list[str]) -> Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(name="duration (s)", x=x, y=[r["duration_s"] for r in runs], hovertext=hover),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(name="cost (USD)", x=x, y=[r["cost_usd"] for r in runs], mode="lines+markers"),
        secondary_y=True,
    )
    fig.update_layout(_layout("run", "seconds"))
    # A free source (the sample) costs $0 every run: give the axis a cent of room rather
    # than ticks like $0.839 that no run spent.
    top = max((r["cost_usd"] for r in runs), default=0) or 0.01
    fig.update_yaxes(title_text="USD", tickprefix="$", range=[0, top * 1.1], secondary_y=True)
    return fig


def _yield_section(report: Report) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    title = "Yield per category"
    if report.yield_run is None:
        return _section(title, "No run has seen sellers yet.", "")
    rows = sorted(report.category_yield, key=lambda r: (r["listings"], r["category_id"]))
    title += f", run #{report.yield_run}"
    if not rows:
        return _section(title, "This run searched no products.", "")
    has_evidence = report.yield_run in report.evidence_runs
    panels = ["products searched", "listings", *(["distinct sellers"] * has_evidence)]
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=panels)
    labels = [_t(r["category_id"]) for r in rows]
    hover = [_t(f"{r['department_id']} › {r['category_id']}, {r['failed']} failed") for r in rows]
    for col, key in enumerate(("products", "listings", "sellers")[: len(panels)], 1):
        fig.add_trace(
            go.Bar(name=panels[col - 1], x=[r[key] for r in rows], y=labels, orientation="h",
                   hovertext=hover),
            row=1, col=col,
        )  # fmt: skip
    fig.update_layout(_layout(None, None, showlegend=False, height=max(300, 26 * len(rows) + 140)))
    note = "Per category: products searched (done), listings seen, distinct sellers among them."
    if not has_evidence:
        note += (
            " This run recorded no seller evidence (it predates it), so distinct sellers per"
            " category are not known."
        )
    return _section(title, note, _div(fig, "yield"))


def _feedback_section(report: Report) -> str:
    import plotly.graph_objects as go

    title = f"Feedback of the top {TREND_SELLERS} sellers"
    if not report.feedback:
        return _section(title, NO_EVIDENCE, "")
    fig = go.Figure(layout=_layout("recorded (local time)", "feedback score"))
    for figures, history in report.feedback:
        points = [h for h in history if h["feedback_score"] is not None]
        fig.add_trace(
            go.Scatter(
                name=_t(_short(figures.name)),
                x=[_local(h["recorded_at"]) for h in points],
                y=[h["feedback_score"] for h in points],
                hovertext=[_t(figures.name + (" (approximate)" * bool(h["feedback_score_approx"])))
                           for h in points],
                mode="lines+markers",
            )
        )  # fmt: skip
    if not any(trace.x for trace in fig.data):
        return _section(title, "The top sellers have no feedback numbers recorded.", "")
    note = "Each seller's feedback score whenever a run saw it change (ranking over all runs)."
    return _section(title, note, _div(fig, "feedback"))


def _layout(x_title: str | None, y_title: str | None, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "margin": {"l": 60, "r": 30, "t": 30, "b": 50},
        "legend": {"orientation": "h", "y": 1.12},
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "height": 360,
        "xaxis": {"title": {"text": x_title}} if x_title else {},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"} if y_title else {},
    }
    layout.update(extra)
    return layout


def _div(fig: Figure, key: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=f"chart-{key}", config=_CONFIG
    )


# -- page -----------------------------------------------------------------------------------------


def _header(report: Report) -> str:
    when = report.generated_at.strftime("%Y-%m-%d %H:%M %Z")
    facts = [f"generated {_h(when)}", f"store {_h(report.store_path)}"]
    if report.runs:
        first, last = report.runs[0]["id"], report.runs[-1]["id"]
        new = sum(r["sellers_new"] for r in report.runs)
        facts.append(f"{len(report.runs):,} runs (#{first}–#{last}), {new:,} sellers found new")
        facts.append(f"evidence from {len(report.evidence_runs):,} runs")
    return f'<h1>collector report</h1><p class="facts">{" · ".join(facts)}</p>'


def _shortlist_section(report: Report) -> str:
    title = "Ranked shortlist"
    if not report.shortlist:
        return _section(title, NO_EVIDENCE, "")
    note = (
        f"The best {len(report.shortlist)} of {report.ranked_total:,} ranked sellers over all"
        " runs (score and terms: README, \u201cRanking sellers\u201d). Open a seller for the"
        " products it matched, newest run first."
    )
    head = (
        '<div class="row head"><span>#</span><span>seller</span><span>score</span>'
        "<span>why</span></div>"
    )
    rows = [_seller_row(i, entry) for i, entry in enumerate(report.shortlist, 1)]
    return _section(title, note, f'<div class="shortlist">{head}{"".join(rows)}</div>')


def _seller_row(position: int, entry: SellerEvidence) -> str:
    f = entry.figures
    flag = ' <span class="flag">flagged</span>' if f.flagged else ""
    summary = (
        f'<summary class="row"><span>{position}</span><span class="name">{_h(f.name)}{flag}'
        f"</span><span>{f.score:.1f}</span><span>{_h(f.why)}</span></summary>"
    )
    lines = [
        "<tr><th>product</th><th>Amazon price</th><th>listing price</th><th>markup</th>"
        "<th>category</th><th>run</th></tr>"
    ]
    for p in entry.products:
        price, low, high = p["product_price_micros"], p["price_min_micros"], p["price_max_micros"]
        markup = f"{low / price:.2f}×" if price and low is not None else "—"
        title = _h(p["title"])
        if str(p["example_url"] or "").startswith(("https://", "http://")):
            url = _h(p["example_url"])
            title = f'<a href="{url}" rel="noopener noreferrer nofollow">{title}</a>'
        lines.append(
            f"<tr><td>{title}</td><td>{_money(price)}</td><td>{_range(low, high)}</td>"
            f"<td>{markup}</td><td>{_h(p['category_id'])}</td><td>#{p['run_id']}</td></tr>"
        )
    more = ""
    if entry.more:
        more = f'<p class="more">and {entry.more:,} more (`collector sellers show` lists all)</p>'
    return f'<details class="seller">{summary}<table>{"".join(lines)}</table>{more}</details>'


def _section(title: str, note: str, content: str) -> str:
    return f'<section><h2>{_h(title)}</h2><p class="note">{_h(note)}</p>{content}</section>'


def _money(micros: int | None) -> str:
    return "—" if micros is None else _h(format_money(micros))


def _range(low: int | None, high: int | None) -> str:
    if low is None:
        return "—"
    return _money(low) if high is None or high == low else f"{_money(low)}–{_money(high)}"


def _h(text: object) -> str:
    """For the page: every character that could open a tag or leave an attribute."""
    return html.escape(str(text), quote=True)


def _t(text: object) -> str:
    """For plotly's text (names, hover): its pseudo-HTML decodes &amp; &lt; &gt; but not
    &quot;, so quotes stay as they are (they cannot open a tag)."""
    return html.escape(str(text), quote=False)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _local(iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
  padding: 0 1rem; color: #1f2328; }
h1 { margin-bottom: .2rem; } h2 { margin: 2rem 0 .3rem; font-size: 1.2rem; }
.facts, .note, .more { color: #59636e; } .note { margin-top: 0; } .more { margin-left: 3.3rem; }
.shortlist { border-top: 1px solid #d1d9e0; }
.row { display: grid; grid-template-columns: 2.5rem minmax(10rem, 1.3fr) 4rem 3fr; gap: .8rem;
  padding: .35rem .3rem; border-bottom: 1px solid #eef1f4; }
.row.head { font-weight: 600; } summary.row { cursor: pointer; list-style: none; }
summary.row:hover { background: #f6f8fa; } details[open] > summary.row { background: #eef4fb; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.flag { color: #9a6700; font-size: .85em; }
details table { border-collapse: collapse; margin: .4rem 0 .8rem 3.3rem; font-size: .92em; }
details th, details td { text-align: left; padding: .2rem .6rem; border-bottom: 1px solid #eef1f4;
  vertical-align: top; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>collector report</title>
<style>{style}</style>
{script}
</head>
<body>
{header}
{body}
</body>
</html>
"""
