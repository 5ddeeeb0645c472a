#!/usr/bin/env python3
"""One measured worker process: the prober or its raw baseline, run N times after a warm-up.

    worker.py MODE --src TREE --url URL --password PW --runs N [--warmup W] --out FILE

MODE: prober-browser (workflow_canvas_load through the prober's App, as `prober run` does),
raw-browser (scripts/benchkit/raw_canvas.py), prober-api (workflow_crud_api through the App),
raw-api (the same requests from one shared httpx client), page-pairs (the canvas page in a raw
context and in the prober's session, alternating: the page's own timings side by side). `--src`
is the source tree whose `prober` package and journeys are measured (the checkout under test,
or an older one).
Writes per-run wall seconds, CPU seconds of the worker's whole process tree (cgroup) and step
durations as JSON to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(_MODES))
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0.0, help="run for this long instead")
    parser.add_argument("--trace", default=None, help="prober-browser: force this TraceLevel")
    parser.add_argument("--checkpoints", default="", help="soak: run counts to sample memory at")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    sys.path.insert(1, str(HERE))
    began = time.monotonic()
    runs = asyncio.run(_MODES[args.mode](args))
    args.out.write_text(
        json.dumps({"mode": args.mode, "runs": runs, "worker_s": time.monotonic() - began})
    )
    return 0


def _meter() -> tuple[float, float]:
    from proctree import tree_cpu_s

    return time.monotonic(), tree_cpu_s()[0]


async def _measured(args: argparse.Namespace, one: Any) -> list[dict[str, Any]]:
    """Warm-up runs, then the measured ones: sequential, or `concurrency` lanes for --seconds."""
    for _ in range(args.warmup):
        await one()
    if args.seconds <= 0:
        runs = []
        for _ in range(args.runs):
            wall0, cpu0 = _meter()
            info = await one()
            wall1, cpu1 = _meter()
            runs.append({"wall_s": wall1 - wall0, "cpu_s": cpu1 - cpu0, **info})
        return runs
    wall0, cpu0 = _meter()
    stop = wall0 + args.seconds
    done: list[dict[str, Any]] = []

    async def lane() -> None:
        while time.monotonic() < stop:
            began = time.monotonic()
            info = await one()
            done.append({"wall_s": time.monotonic() - began, **info})

    await asyncio.gather(*(lane() for _ in range(args.concurrency)))
    wall1, cpu1 = _meter()
    return [{"window_s": wall1 - wall0, "window_cpu_s": cpu1 - cpu0, "lanes": done}]


def _app(args: argparse.Namespace, journey_name: str) -> tuple[Any, Any, Any]:
    from prober.app import App
    from prober.commands.setup import prepare

    loaded, catalog = prepare(args.src / "prober.yaml", app_environ(args))
    ((journey, target),) = catalog.plan([journey_name])
    return App(loaded), journey, target


def app_environ(args: argparse.Namespace) -> dict[str, str]:
    """The repository's prober.yaml pointed at the platform, with scratch store and artifacts."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    return {
        **os.environ,
        "SANDBOX_PASSWORD": args.password,
        "PROBER_TARGETS__SANDBOX__BASE_URL": args.url,
        "PROBER_STORE__PATH": str(scratch / "results.db"),
        "PROBER_ARTIFACTS__PATH": str(scratch / "artifacts"),
        "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9",
        "PROBER_BROWSER__MAX_CONCURRENT": str(max(2, args.concurrency)),
    }


async def prober_browser(args: argparse.Namespace) -> list[dict[str, Any]]:
    from raw_canvas import MARKS_JS

    from prober.latency_sli import PageTiming
    from prober.result import Status, Trigger

    canvas_api = PageTiming(step="open canvas", request="/api/workflows/*")

    app, journey, target = _app(args, "workflow_canvas_load")
    if args.trace is not None:
        import prober.runner
        from prober.drivers.browser import TraceLevel

        level = TraceLevel(args.trace)
        prober.runner.trace_level = lambda last: level  # type: ignore[attr-defined]
    marks: list[Any] = []

    async def page_marks(ctx: Any) -> None:
        marks.append(await ctx.page.evaluate(MARKS_JS))

    journey.add_step("page marks", page_marks)

    async def one() -> dict[str, Any]:
        result = await app.execute(journey, target, Trigger.SCHEDULE)
        if result.status is not Status.SUCCESS:
            raise SystemExit(f"the prober's run failed: {result.to_json()}")
        steps = {s.name: s.duration_s for s in result.steps if s.name != "page marks"}
        # What the prober itself reports of the page (StepResult.page), beside the marks the
        # page gives a script that asks it directly.
        api_end = canvas_api.value_s(result.steps)
        reported = {"api_end_ms": None if api_end is None else api_end * 1000}
        return {"steps": steps, "marks": marks[-1], "reported": reported,
                "duration_s": result.duration_s}  # fmt: skip

    try:
        return await _measured(args, one)
    finally:
        await app.aclose()


async def raw_browser(args: argparse.Namespace) -> list[dict[str, Any]]:
    import httpx
    from playwright.async_api import async_playwright
    from raw_canvas import journey, launch

    async with async_playwright() as pw, httpx.AsyncClient(base_url=args.url + "/") as api:
        browser = await launch(pw)

        async def one() -> dict[str, Any]:
            return await journey(browser, api, args.password)

        try:
            return await _measured(args, one)
        finally:
            await browser.close()


async def page_pairs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The canvas API answer's end as the page measures it (ms after the navigation began), in
    a raw Playwright context and in the prober's own session (`BrowserDriver.session`: its
    init scripts, listeners and trace headers), alternating on one Chromium in one process, so
    load from other work falls on both alike. Each opens the list page first, as the journey
    does, then the fixture's canvas; both start signed in (the token in local storage)."""
    import httpx
    from raw_canvas import FIXTURE, list_then_canvas

    from prober.drivers.browser import BrowserDriver
    from prober.observe import Observer, Wiring
    from prober.redact import Redactor
    from prober.target import Target
    from prober.trace import TraceContext

    async with httpx.AsyncClient(base_url=args.url) as api:
        login = {"username": "prober", "password": args.password}
        token = (await api.post("/api/auth/login", json=login)).json()["token"]
        listed = await api.get(
            "/api/workflows",
            params={"name_prefix": FIXTURE},
            headers={"authorization": f"Bearer {token}"},
        )
    wf_id = next(w["id"] for w in listed.json()["workflows"] if w["name"] == FIXTURE)
    state = {
        "cookies": [],
        "origins": [{"origin": args.url, "localStorage": [{"name": "sandbox-token",
                                                          "value": token}]}],
    }  # fmt: skip
    target = Target("sandbox", args.url)
    driver = BrowserDriver()
    browser = await driver.browser()

    async def one(who: str) -> float:
        if who == "raw":
            context = await browser.new_context(
                storage_state=state,  # type: ignore[arg-type]
                viewport={"width": 1280, "height": 800},
            )
            page, close = await context.new_page(), context.close
        else:
            wiring = Wiring(target, Observer(target), TraceContext.new(), "pairs/1", Redactor(()))
            session = await driver.session(wiring, storage_state=state)
            page, close = session.page, session.close
        try:
            marks = await list_then_canvas(page, args.url, wf_id)
        finally:
            await close()
        return float(marks["api_end_ms"])

    rows: list[dict[str, Any]] = []
    try:
        for _ in range(args.warmup):
            await one("raw")
            await one("prober")
        for i in range(args.runs):
            order = ("raw", "prober") if i % 2 == 0 else ("prober", "raw")
            got = {who: await one(who) for who in order}
            rows.append({"raw_ms": got["raw"], "prober_ms": got["prober"]})
    finally:
        await driver.close()
    return rows


async def prober_api(args: argparse.Namespace) -> list[dict[str, Any]]:
    from prober.result import Status, Trigger

    app, journey, target = _app(args, "workflow_crud_api")

    async def one() -> dict[str, Any]:
        result = await app.execute(journey, target, Trigger.SCHEDULE)
        if result.status is not Status.SUCCESS:
            raise SystemExit(f"the prober's run failed: {result.to_json()}")
        return {"steps": {s.name: s.duration_s for s in result.steps}}

    try:
        return await _measured(args, one)
    finally:
        await app.aclose()


async def raw_api(args: argparse.Namespace) -> list[dict[str, Any]]:
    """workflow_crud_api's requests, in order, from one client shared by every run."""
    import secrets

    import httpx

    async with httpx.AsyncClient(base_url=args.url) as client:

        async def one() -> dict[str, Any]:
            login = {"username": "prober", "password": args.password}
            token = (await client.post("/api/auth/login", json=login)).json()["token"]
            auth = {"authorization": f"Bearer {token}"}
            prefix = {"name_prefix": "prober-"}
            (await client.get("/api/workflows", params=prefix, headers=auth)).raise_for_status()
            name = f"prober-raw-{secrets.token_hex(4)}"
            node = {"id": "extract", "type": "source", "label": "Extract", "x": 0, "y": 0}
            made = (
                await client.post(
                    "/api/workflows", headers=auth, json={"name": name, "nodes": [node]}
                )
            ).json()
            path = f"/api/workflows/{made['id']}"
            added = {**node, "id": "load", "type": "sink"}
            edit = {
                "version": made["version"],
                "name": name + "-edited",
                "nodes": [node, added],
                "edges": [{"source": "extract", "target": "load"}],
            }
            (await client.put(path, json=edit, headers=auth)).raise_for_status()
            (await client.get(path, headers=auth)).raise_for_status()
            (await client.delete(path, headers=auth)).raise_for_status()
            assert (await client.get(path, headers=auth)).status_code == 404
            (await client.get("/api/workflows", params=prefix, headers=auth)).raise_for_status()
            return {}

        return await _measured(args, one)


async def soak(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rounds of the five journeys side by side until --runs runs in all; memory at each
    checkpoint: this process's RSS and that of everything else in its group (Chromium, driver)."""
    import statistics

    import httpx
    from proctree import group_pids, rss_kib

    from prober.result import Status, Trigger

    app, _, _ = _app(args, "workflow_canvas_load")
    from prober.commands.setup import prepare

    plan = prepare(args.src / "prober.yaml", app_environ(args))[1].plan([])
    plan.sort(key=lambda pair: pair[0].name != "workflow_canvas_load")
    checkpoints = sorted(int(c) for c in args.checkpoints.split(",") if c) or [args.runs]
    results: dict[str, list[Any]] = {j.name: [] for j, _ in plan}
    memory: list[dict[str, Any]] = []
    total = 0

    def sample() -> None:
        me = os.getpid()
        others = [p for p in group_pids() if p != me]
        memory.append(
            {
                "runs": total,
                "prober_mib": rss_kib(me) / 1024,
                "browser_mib": sum(rss_kib(p) for p in others) / 1024,
            }
        )

    async def one(journey: Any, target: Any) -> None:
        result = await app.execute(journey, target, Trigger.CI, retries=0)
        results[journey.name].append(result)

    try:
        first, target = plan[0]
        await app.execute(first, target, Trigger.CI, retries=0)  # the fixture, made once
        # Rounds of all five side by side (as serve starts them on equal intervals), so each
        # journey runs as often as the others.
        while total < args.runs:
            await asyncio.gather(*(one(j, t) for j, t in plan))
            total += len(plan)
            if checkpoints and total >= checkpoints[0]:
                checkpoints.pop(0)
                sample()
    finally:
        await app.aclose()
    async with httpx.AsyncClient(base_url=args.url) as client:
        login = {"username": "prober", "password": args.password}
        token = (await client.post("/api/auth/login", json=login)).json()["token"]
        listed = await client.get(
            "/api/workflows",
            params={"name_prefix": "prober-"},
            headers={"authorization": f"Bearer {token}"},
        )
    left = sorted(
        w["name"] for w in listed.json()["workflows"] if w["name"] != "prober-fixture-canvas"
    )
    rows = []
    for name, batch in sorted(results.items()):
        failed = [r for r in batch if r.status is not Status.SUCCESS]
        rows.append(
            {
                "journey": name,
                "runs": len(batch),
                "failed": len(failed),
                "median_s": statistics.median(r.duration_s for r in batch) if batch else 0.0,
                "max_s": max((r.duration_s for r in batch), default=0.0),
                "durations_s": [r.duration_s for r in batch],
                "failures": [
                    f"{r.error_type} in {r.failed_step!r}: {r.failure.message[:120]}"
                    for r in failed
                    if r.failure is not None
                ],
            }
        )
    return [{"memory": memory, "journeys": rows, "leftovers": left}]


async def route_cost(args: argparse.Namespace) -> list[dict[str, Any]]:
    """ms per fetch the page makes, to the target and to another origin: with no trace headers,
    with the prober's (added in the page, prober/drivers/page_trace.py), and with the route per
    target origin that added them before (every request of the context paused for Python)."""
    import re
    from urllib.parse import urlsplit

    from prober.drivers.browser import BrowserDriver
    from prober.drivers.page_trace import browser_origin, init_script
    from prober.target import Target
    from prober.trace import TraceContext

    target = Target("sandbox", args.url)
    port = urlsplit(args.url).port
    other = f"http://localhost:{port}"  # the same server under another origin: a third party
    driver = BrowserDriver()
    trace, probe = TraceContext.new(), "bench/1"

    async def route(route: Any, request: Any) -> None:  # the prober's before this change
        await route.fallback(headers={**request.headers, **trace.headers(probe)})

    fetches = args.runs
    js = """async ([url, n]) => { const t = performance.now();
        for (let i = 0; i < n; i++) await (await fetch(url, {cache: 'no-store'})).text();
        return (performance.now() - t) / n; }"""
    browser = await driver.browser()
    rows: list[dict[str, Any]] = []
    try:
        for round_ in range(max(1, args.warmup)):
            for variant in ("none", "in-page", "per-origin"):
                context = await browser.new_context()
                if variant == "in-page":
                    await context.add_init_script(init_script(target.origins, trace, probe))
                elif variant == "per-origin":
                    for origin in target.origins:
                        pattern = "^" + re.escape(browser_origin(origin)) + "(?:[/?#]|$)"
                        await context.route(re.compile(pattern), route)
                page = await context.new_page()
                await page.goto(f"{args.url}/login")
                row: dict[str, Any] = {"round": round_, "variant": variant}
                for name, base in (("target", args.url), ("other", other)):
                    if name == "other":
                        await page.goto(f"{other}/login")
                    row[f"{name}_ms"] = await page.evaluate(js, [f"{base}/static/app.css", fetches])
                rows.append(row)
                await context.close()
    finally:
        await driver.close()
    return rows


_MODES = {
    "page-pairs": page_pairs,
    "route-cost": route_cost,
    "soak": soak,
    "prober-browser": prober_browser,
    "raw-browser": raw_browser,
    "prober-api": prober_api,
    "raw-api": raw_api,
}

if __name__ == "__main__":
    sys.exit(main())
