#!/usr/bin/env python3
"""Benchmark #3 (network): `collector run` against the Oxylabs + eBay emulators at a fixed
per-request latency, compared with the ideal bound min(concurrency / latency, rate limit).

Set-up
  * The emulators (tests/emulators, unchanged) run in a separate process, so their CPU work
    and GIL never compete with the client's event loop. This script adds an aiohttp
    middleware that sleeps ``--latency-ms`` before each request is handled and records when
    each request arrived and when its answer was ready.
  * The catalogue has ``--categories`` real taxonomy categories (their browse nodes) x
    ``--per-node`` products, all priced, searched with pages=1: one eBay search per product.
  * Every run gets a fresh copy of one store holding the preset; ``[sources.ebay] rate`` and
    ``concurrency`` come from a per-run config file, ``--concurrency N`` from the command line.

Figures
  * ``search_rps``: eBay search requests / search phase as the server saw it (first search
    arrived .. last search answered). This is the headline; ``ratio_to_bound`` uses it.
  * ``wall_rps``: every request to both emulators / the CLI process's wall time (start-up,
    store set-up and the best-seller listing included).
  * ``replay``: the baseline measured in the same invocation: a bare aiohttp client (a
    separate process, same concurrency) replays the very search requests the collector sent,
    against the same emulator. Its ratio to the bound is what this emulator and machine allow;
    ``collector_vs_replay`` is the collector's share of that.

Usage:  python bench/bench_network.py [--quick] [--runs 3] [--latency-ms 50]
Prints one JSON object on stdout; progress goes to stderr. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import ClassVar

from benchlib import log, machine

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
TOKEN_PATH = "/identity/v1/oauth2/token"
OXY_USER, OXY_PASS = "bench-oxy-user", "bench-oxy-pass"
EBAY_ID, EBAY_SECRET = "bench-ebay-id", "bench-ebay-secret"


# -- server side (a child process: `bench_network.py --serve ...`) ------------------------------


class _Stats:
    """Per-path request log: arrival and answer times, requests in the server at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: dict[str, dict[str, float]] = {}

    def reset(self) -> None:
        with self.lock:
            self.paths = {}

    def _path(self, path: str, now: float) -> dict[str, float]:
        return self.paths.setdefault(
            path,
            {"count": 0, "first": now, "last": now, "handler_s": 0.0, "resident_s": 0.0,
             "inflight": 0, "max_inflight": 0, "changed": now, "inflight_area": 0.0},
        )  # fmt: skip

    def _move(self, p: dict[str, float], now: float, delta: int) -> None:
        """Requests in the server at once, integrated over time (Little's law check)."""
        p["inflight_area"] += p["inflight"] * (now - p["changed"])
        p["changed"] = now
        p["inflight"] += delta
        p["max_inflight"] = max(p["max_inflight"], p["inflight"])

    def arrive(self, path: str, arrived: float) -> None:
        with self.lock:
            p = self._path(path, arrived)
            p["first"] = min(p["first"], arrived)
            self._move(p, arrived, +1)

    def done(self, path: str, arrived: float, answered: float, handler_s: float) -> None:
        with self.lock:
            p = self._path(path, arrived)
            self._move(p, answered, -1)
            p["count"] += 1
            p["last"] = max(p["last"], answered)
            p["handler_s"] += handler_s
            p["resident_s"] += answered - arrived

    def snapshot(self) -> dict:
        with self.lock:
            t = os.times()
            return {
                "paths": {k: dict(v) for k, v in self.paths.items()},
                "server_cpu_s": t.user + t.system,  # the whole emulator process
            }


def _instrument(app, emulator, latency_s: float, stats: _Stats):  # type: ignore[no-untyped-def]
    import asyncio
    from urllib.parse import urlencode

    from aiohttp import web

    @web.middleware
    async def latency(request, handler):  # type: ignore[no-untyped-def]
        if request.path == "/__bench/stats":
            return web.json_response(stats.snapshot())
        if request.path == "/__bench/reset":
            stats.reset()
            with emulator._log_lock:
                emulator.requests.clear()
            return web.json_response({})
        if request.path == "/__bench/searches":  # what the client searched since the reset
            with emulator._log_lock:
                queries = [urlencode(r.query) for r in emulator.requests if r.path == SEARCH_PATH]
            return web.json_response(queries)
        arrived = time.monotonic()
        stats.arrive(request.path, arrived)
        if latency_s > 0:
            await asyncio.sleep(latency_s)
        began = time.monotonic()
        try:
            return await handler(request)
        finally:
            done = time.monotonic()
            stats.done(request.path, arrived, done, done - began)

    app.middlewares.insert(0, latency)  # outermost: before the harness's recorder
    return app


def serve(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from tests.emulators.catalogue import Catalogue, SearchFilters, words
    from tests.emulators.ebay import EbayEmulator
    from tests.emulators.oxylabs import OxylabsEmulator

    latency_s = args.latency_ms / 1000

    class LatentOxylabs(OxylabsEmulator):
        stats = _Stats()  # one emulator of each kind per process

        def _make_app(self):  # type: ignore[no-untyped-def]
            return _instrument(super()._make_app(), self, latency_s, self.stats)

    class LatentEbay(EbayEmulator):
        stats = _Stats()
        answers: ClassVar[dict[str, bytes]] = {}

        def _build_app(self):  # type: ignore[no-untyped-def]
            return _instrument(super()._build_app(), self, latency_s, self.stats)

        async def _search(self, request):  # type: ignore[no-untyped-def]
            """Answers are a pure function of the query, so each distinct search is built
            once (catalogue lookup, 50 item dicts, JSON) and served from memory afterwards;
            the token is still checked and the quota counted. Building an answer costs the
            single-threaded emulator ~0.3 ms, which with a constant latency adds up across a
            wave of 64 requests released by the same timer tick."""
            if args.no_answer_cache or self.faults.faults:
                return await super()._search(request)
            key = request.query_string
            body = self.answers.get(key)
            if body is None or self._bearer(request) is None:
                response = await super()._search(request)
                if response.status == 200 and key:
                    self.answers[key] = response.body
                return response
            self.search_calls += 1
            self.quota_used += 1
            return web.Response(body=body, content_type="application/json")

    class FastCatalogue(Catalogue):
        """The same answers, found faster. ``Catalogue.search`` (catalogue.py:237) intersects
        the posting sets in arbitrary order, so a common word ("with", a brand) makes every
        search walk tens of thousands of offers: 82 % of the emulator's CPU at 64 in flight
        (py-spy), and the emulator, not the client, set the pace. Here the smallest posting
        set is walked and the others are probed."""

        def search(self, q, filters):  # type: ignore[no-untyped-def]
            wanted = set(words(q))
            if not wanted:
                return []
            postings = sorted((self._index.get(w, set()) for w in wanted), key=len)
            first, rest = postings[0], postings[1:]
            hits = [i for i in first if all(i in p for p in rest)]
            offers = self.offers
            return [offers[i] for i in sorted(hits) if filters.accepts(offers[i])]

    # unknown_price_every=0: every product has a price, so every product is searched.
    catalogue = (Catalogue if args.slow_catalogue else FastCatalogue)(
        args.nodes.split(","), per_node=args.per_node, unknown_price_every=0
    )
    t0 = time.perf_counter()
    catalogue.search("warm up", SearchFilters())  # builds the offers and the word index
    log(f"[server] catalogue: {len(catalogue.offers):,} offers in {time.perf_counter() - t0:.1f}s")
    oxy = LatentOxylabs(catalogue, username=OXY_USER, password=OXY_PASS)
    ebay = LatentEbay(catalogue, client_id=EBAY_ID, client_secret=EBAY_SECRET, daily_quota=10**12)
    oxy.start()
    ebay.start()
    print(json.dumps({"oxylabs": oxy.url, "ebay": ebay.url}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    oxy.stop()
    ebay.stop()


# -- the baseline client (a child process: `bench_network.py --replay FILE ...`) ---------------


def replay(args: argparse.Namespace) -> None:
    """A bare aiohttp client: one token, then the given searches with N in flight."""
    import asyncio
    import base64

    import aiohttp

    queries = json.loads(Path(args.replay).read_text())
    base = args.ebay_url

    async def go() -> None:
        connector = aiohttp.TCPConnector(limit=args.replay_concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            basic = base64.b64encode(f"{EBAY_ID}:{EBAY_SECRET}".encode()).decode()
            async with session.post(
                base + TOKEN_PATH,
                headers={"Authorization": f"Basic {basic}"},
                data={"grant_type": "client_credentials",
                      "scope": "https://api.ebay.com/oauth/api_scope"},
            ) as response:  # fmt: skip
                token = (await response.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}", "X-EBAY-C-MARKETPLACE-ID": "EBAY_US"}
            pending = list(reversed(queries))

            async def worker() -> None:
                while pending:
                    query = pending.pop()
                    async with session.get(f"{base}{SEARCH_PATH}?{query}", headers=headers) as r:
                        body = await r.read()
                        if r.status != 200:
                            raise SystemExit(f"replay: HTTP {r.status}")
                        json.loads(body)  # the least any client does with an answer

            await asyncio.gather(*(worker() for _ in range(args.replay_concurrency)))

    asyncio.run(go())


# -- the benchmark ------------------------------------------------------------------------------


def http_json(url: str):  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def categories(count: int) -> list[tuple[str, str]]:
    """The first ``count`` categories of the bundled taxonomy with distinct browse nodes."""
    from collector_cli import taxonomy

    seen: dict[str, str] = {}
    for dep in taxonomy.departments():
        for cat in dep.categories:
            if cat.node_id not in seen.values():
                seen[cat.id] = cat.node_id
    picked = list(seen.items())[:count]
    if len(picked) < count:
        raise SystemExit(f"the taxonomy has only {len(picked)} categories with distinct nodes")
    return picked


def run_child(argv: list[str], env: dict[str, str]) -> tuple[int, float, float, str, str]:
    """Run a child process; returns (exit code, wall s, CPU s of the child, stdout, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda: chunks.__setitem__("out", proc.stdout.read())),  # type: ignore[union-attr]
        threading.Thread(target=lambda: chunks.__setitem__("err", proc.stderr.read())),  # type: ignore[union-attr]
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = {k: v.decode("utf-8", "replace") for k, v in chunks.items()}
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, text["out"], text["err"]


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, urls: dict, cats: list) -> None:
        self.args, self.work, self.urls, self.cats = args, work, urls, cats
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("COLLECTOR_") and k not in ("PYTHONUNBUFFERED",)
        }
        env.update(
            {
                "HOME": str(work / "home"),
                "XDG_DATA_HOME": str(work / "home" / "data"),
                "XDG_CONFIG_HOME": str(work / "home" / "config"),
                "PYTHONPATH": str(ROOT),
                "COLLECTOR_OXYLABS_URL": urls["oxylabs"],
                "COLLECTOR_EBAY_URL": urls["ebay"],
                "COLLECTOR_OXYLABS_USERNAME": OXY_USER,
                "COLLECTOR_OXYLABS_PASSWORD": OXY_PASS,
                "COLLECTOR_EBAY_CLIENT_ID": EBAY_ID,
                "COLLECTOR_EBAY_CLIENT_SECRET": EBAY_SECRET,
                "COLUMNS": "200",
            }
        )
        self.env = env
        self.template = work / "template.db"

    def collector(self, *argv: str, db: Path, config: Path) -> tuple[int, float, float, str, str]:
        env = {**self.env, "COLLECTOR_DB": str(db), "COLLECTOR_CONFIG": str(config)}
        return run_child([PY, "-m", "collector_cli", *argv], env)

    def make_template(self) -> None:
        """One store holding the preset; every run starts from a fresh copy of it."""
        cat_args = [a for cat, _ in self.cats for a in ("-c", cat)]
        code, _, _, _, err = self.collector(
            "preset", "add", "bench", *cat_args, "--product-source", "oxylabs",
            "--listing-source", "ebay", "--pages", "1", "--max-products",
            str(self.args.per_node), "-o", "oxylabs.rate=0", "-o", "ebay.rate=0",
            db=self.template, config=self.work / "absent.toml",
        )  # fmt: skip
        if code != 0:
            raise SystemExit(f"preset add failed ({code}): {err.strip()}")

    def _reset(self) -> dict:
        for key in ("oxylabs", "ebay"):
            http_json(self.urls[key] + "/__bench/reset")
        return {k: http_json(self.urls[k] + "/__bench/stats") for k in ("oxylabs", "ebay")}

    def _measure(self, before: dict, wall: float, cpu: float) -> dict:
        after = {k: http_json(self.urls[k] + "/__bench/stats") for k in ("oxylabs", "ebay")}
        search = after["ebay"]["paths"].get(SEARCH_PATH)
        if not search:
            raise SystemExit("no search reached the eBay emulator")
        phase = search["last"] - search["first"]
        count = search["count"]
        all_requests = sum(p["count"] for s in after.values() for p in s["paths"].values())
        return {
            "wall_s": wall,
            "search_requests": count,
            "search_phase_s": phase,
            "search_rps": count / phase,
            "all_requests": all_requests,
            "wall_rps": all_requests / wall,
            "client_cpu_s": cpu,
            # both emulators are one process: each snapshot holds that process's CPU
            "server_cpu_s": after["ebay"]["server_cpu_s"] - before["ebay"]["server_cpu_s"],
            "server_ms_per_search": 1000 * search["resident_s"] / count,
            "server_handler_ms_per_search": 1000 * search["handler_s"] / count,
            "mean_in_flight": search["inflight_area"] / phase,
            "max_in_flight": search["max_inflight"],
        }

    def run_collector(self, conc: int, rate: float, per_cat: int, i: int) -> tuple[dict, list]:
        run_dir = self.work / f"c{conc}-r{rate:g}-{i}"
        run_dir.mkdir()
        db = run_dir / "collector.db"
        shutil.copy(self.template, db)
        config = run_dir / "config.toml"
        config.write_text(
            f"[sources.ebay]\nrate = {rate:g}\nconcurrency = {conc}\n[sources.oxylabs]\nrate = 0\n",
            encoding="utf-8",
        )
        before = self._reset()
        code, wall, cpu, out, err = self.collector(
            "run", "-p", "bench", "--concurrency", str(conc), "--max-products", str(per_cat),
            db=db, config=config,
        )  # fmt: skip
        sample = self._measure(before, wall, cpu)
        searches = http_json(self.urls["ebay"] + "/__bench/searches")
        if code != 0:
            raise SystemExit(f"run failed (exit {code}):\n{out}\n{err}")
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT products_done, products_failed, retries, listings_seen, sellers_found"
                " FROM runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
        conn.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        done, failed, retries, listings, sellers = row
        expected = per_cat * len(self.cats)
        sample.update(products_done=done, products_failed=failed, retries=retries,
                      listings=listings, sellers=sellers)  # fmt: skip
        if failed or retries or done != expected:
            log(f"  warning: {done} done (expected {expected}), {failed} failed, {retries} retries")
        log(self._line("collector", conc, rate, i, sample))
        return sample, searches

    def run_replay(self, conc: int, searches: list, i: int) -> dict:
        path = self.work / "searches.json"
        path.write_text(json.dumps(searches))
        before = self._reset()
        code, wall, cpu, _, err = run_child(
            [PY, __file__, "--replay", str(path), "--ebay-url", self.urls["ebay"],
             "--replay-concurrency", str(conc)],
            self.env,
        )  # fmt: skip
        if code != 0:
            raise SystemExit(f"replay failed (exit {code}): {err}")
        sample = self._measure(before, wall, cpu)
        log(self._line("replay", conc, 0, i, sample))
        return sample

    @staticmethod
    def _line(who: str, conc: int, rate: float, i: int, s: dict) -> str:
        return (
            f"{who:<9} c={conc:<3} rate={rate or '-':<5} run {i + 1}: {s['search_requests']}"
            f" searches in {s['search_phase_s']:.2f}s = {s['search_rps']:.1f}/s; wall"
            f" {s['wall_s']:.2f}s; CPU client {s['client_cpu_s']:.2f}s server"
            f" {s['server_cpu_s']:.2f}s; server {s['server_ms_per_search']:.1f} ms/search"
            f" (handler {s['server_handler_ms_per_search']:.2f});"
            f" in flight mean {s['mean_in_flight']:.1f} max {s['max_in_flight']}"
        )


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def summarise(conc, rate, products, samples, replays, latency_ms):  # type: ignore[no-untyped-def]
    bound = conc / (latency_ms / 1000)
    if rate:
        bound = min(bound, rate)
    rps = _median(samples, "search_rps")
    result = {
        "concurrency": conc,
        "rate_limit": rate or None,
        "products": products,
        "bound_rps": round(bound, 1),
        "search_rps": round(rps, 1),
        "ratio_to_bound": round(rps / bound, 3),
        "wall_rps": round(_median(samples, "wall_rps"), 1),
        "wall_ratio_to_bound": round(_median(samples, "wall_rps") / bound, 3),
        "wall_s": round(_median(samples, "wall_s"), 2),
        "search_phase_s": round(_median(samples, "search_phase_s"), 3),
        "client_cpu_s": round(_median(samples, "client_cpu_s"), 2),
        "client_cpu_ms_per_search": round(
            1000 * _median(samples, "client_cpu_s") / _median(samples, "search_requests"), 3
        ),
        "server_cpu_s": round(_median(samples, "server_cpu_s"), 2),
        "server_ms_per_search": round(_median(samples, "server_ms_per_search"), 2),
        "mean_in_flight": round(_median(samples, "mean_in_flight"), 1),
        "listings": int(_median(samples, "listings")),
        "samples_search_rps": [round(s["search_rps"], 1) for s in samples],
    }
    if replays:
        replay_rps = _median(replays, "search_rps")
        result["replay"] = {
            "search_rps": round(replay_rps, 1),
            "ratio_to_bound": round(replay_rps / bound, 3),
            "client_cpu_s": round(_median(replays, "client_cpu_s"), 2),
            "server_ms_per_search": round(_median(replays, "server_ms_per_search"), 2),
            "mean_in_flight": round(_median(replays, "mean_in_flight"), 1),
            "samples_search_rps": [round(s["search_rps"], 1) for s in replays],
        }
        result["collector_vs_replay"] = round(rps / replay_rps, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workload (smoke test)")
    parser.add_argument("--runs", type=int, default=3, help="runs per point (median; ≥ 3)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--per-node", type=int, default=100, help="products per category")
    parser.add_argument(
        "--c1-products",
        type=int,
        default=10,
        help="products per category at concurrency 1 (all 2,000 would take 100 s a run)",
    )
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    parser.add_argument(
        "--rated",
        default="64:400",
        help="extra rate-limited points CONC:RATE,... (bound = the rate); '' for none",
    )
    parser.add_argument("--no-replay", action="store_true", help="skip the bare-client baseline")
    parser.add_argument(
        "--slow-catalogue",
        action="store_true",
        help="serve with the emulator's own Catalogue.search (CPU-bound at 64 in flight)",
    )
    parser.add_argument(
        "--no-answer-cache",
        action="store_true",
        help="build every eBay answer afresh (no warm-up run; the emulator costs more CPU)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nodes", default="", help=argparse.SUPPRESS)
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    parser.add_argument("--ebay-url", help=argparse.SUPPRESS)
    parser.add_argument("--replay-concurrency", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    if args.replay:
        replay(args)
        return
    if args.quick:
        args.categories, args.per_node, args.c1_products = 4, 50, 5
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    began = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    cats = categories(args.categories)
    work = Path(tempfile.mkdtemp(prefix="bench-network-"))
    server = subprocess.Popen(
        [PY, __file__, "--serve", "--latency-ms", str(args.latency_ms), "--per-node",
         str(args.per_node), "--nodes", ",".join(node for _, node in cats),
         *(["--slow-catalogue"] if args.slow_catalogue else []),
         *(["--no-answer-cache"] if args.no_answer_cache else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit("the emulator process did not start")
        bench = Bench(args, work, json.loads(line), cats)
        bench.make_template()

        points: list[tuple[int, float, int]] = []  # (concurrency, rate, products per category)
        for c in [int(x) for x in args.concurrency.split(",") if x.strip()]:
            points.append((c, 0.0, args.c1_products if c == 1 else args.per_node))
        for spec in [x for x in args.rated.split(",") if x.strip()]:
            c, rate = spec.split(":")
            points.append((int(c), float(rate), args.per_node))

        if not args.no_answer_cache:  # fills the emulator's answer cache; not measured
            log("warm-up run (not measured)")
            bench.run_collector(max(c for c, _, _ in points), 0.0, args.per_node, -1)
        results = []
        for conc, rate, per_cat in points:
            samples, replays = [], []
            for i in range(args.runs):  # collector and baseline alternate
                sample, searches = bench.run_collector(conc, rate, per_cat, i)
                samples.append(sample)
                if not args.no_replay and not rate:
                    replays.append(bench.run_replay(conc, searches, i))
            results.append(
                summarise(conc, rate, per_cat * len(cats), samples, replays, args.latency_ms)
            )
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)

    targets = {}
    for r in results:
        if r["rate_limit"] is None and r["concurrency"] in (16, 64):
            targets[f"c{r['concurrency']}_ratio_to_bound_ge_0.9"] = r["ratio_to_bound"] >= 0.9
    report = {
        "benchmark": "network (#3)",
        "machine": machine(),
        "quick": args.quick,
        "runs_per_point": args.runs,
        "latency_ms": args.latency_ms,
        "emulators": "separate process: tests/emulators + latency middleware"
        + ("" if args.slow_catalogue else " + indexed Catalogue.search (same answers)"),
        "workload": {
            "categories": len(cats),
            "products": len(cats) * args.per_node,
            "route": "oxylabs (best sellers) -> ebay (Browse API search), pages=1",
            "concurrency_1_products": args.c1_products * len(cats),
        },
        "metric": (
            "search_rps = eBay search requests / search phase seen by the server (first search"
            " arrived .. last answered); wall_rps = all requests to both emulators / CLI wall"
            " time; bound = min(concurrency / latency, rate limit); ratio_to_bound = median"
            " search_rps / bound; replay = a bare aiohttp client sending the same searches"
        ),
        "results": results,
        "targets_met": targets,
        "bench_wall_s": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
