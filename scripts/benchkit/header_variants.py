#!/usr/bin/env python3
"""How each way of adding the trace headers moves the page's own timing (issue 23): a one-off
measurement behind docs/performance.md's "Page timings" table, not a part of `scripts/bench`.

    .venv/bin/python scripts/benchkit/header_variants.py [--rounds 30] [--delays 0,500]

Starts the sandbox (`prober sandbox --faults`), then opens the list page and the fixture-like
workflow's canvas in fresh contexts of one Chromium, the variants in a new random order each
round, and prints the canvas API answer's end (ms after the navigation began, the page's own
resource timing) per variant, against a raw Playwright context:

    raw              a plain context: no trace headers, no listeners
    now              the prober's session (BrowserDriver.session): headers added in the page
    documents        the same with the target's `trace_documents` (documents paused for Python)
    route            plus a Playwright route on the target origin adding the headers (before)
    route-nonstatic  the same route, not for scripts, styles, images and fonts
    cdp-calls        plus Chromium's Fetch domain pausing the target's documents, fetch and XHR
    extra            plus BrowserContext.set_extra_http_headers (every origin gets them)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import httpx  # noqa: E402
from raw_canvas import list_then_canvas  # noqa: E402
from reference import platform  # noqa: E402

from prober.drivers.browser import BrowserDriver  # noqa: E402
from prober.observe import Observer, Wiring  # noqa: E402
from prober.redact import Redactor  # noqa: E402
from prober.target import Target  # noqa: E402
from prober.trace import TraceContext  # noqa: E402

VARIANTS = ("raw", "now", "documents", "route", "route-nonstatic", "cdp-calls", "extra")
STATIC = r"\.(?:js|mjs|css|png|jpe?g|gif|svg|webp|avif|ico|woff2?|ttf|otf|map)(?:[?#]|$)"
PROBE = "variants/1"


async def _variant(session: Any, variant: str, url: str, trace: TraceContext) -> None:
    """Add what `variant` adds on top of the prober's own session."""
    context = session.context

    async def add_headers(route: Any, request: Any) -> None:
        await route.fallback(headers={**request.headers, **trace.headers(PROBE)})

    origin = re.escape(url) + "(?:[/?#]|$)"
    if variant == "route":
        await context.route(re.compile("^" + origin), add_headers)
    elif variant == "route-nonstatic":
        await context.route(re.compile(f"^(?!.*{STATIC}){origin}"), add_headers)
    elif variant == "extra":
        await context.set_extra_http_headers(trace.headers(PROBE))
    elif variant == "cdp-calls":
        cdp = await context.new_cdp_session(session.page)
        pending: set[asyncio.Task[Any]] = set()

        def paused(event: dict[str, Any]) -> None:
            headers = {**event["request"]["headers"], **trace.headers(PROBE)}
            listed = [{"name": k, "value": v} for k, v in headers.items()]
            task = asyncio.ensure_future(
                cdp.send("Fetch.continueRequest", {"requestId": event["requestId"],
                                                   "headers": listed})
            )  # fmt: skip
            pending.add(task)
            task.add_done_callback(pending.discard)

        cdp.on("Fetch.requestPaused", paused)
        kinds = ("Document", "XHR", "Fetch")
        patterns = [{"urlPattern": url + "/*", "resourceType": kind} for kind in kinds]
        await cdp.send("Fetch.enable", {"patterns": patterns})


def _workflow(url: str, password: str) -> tuple[str, str]:
    """A login token and a new one-node workflow's id."""
    with httpx.Client(base_url=url) as api:
        login = {"username": "prober", "password": password}
        token = str(api.post("/api/auth/login", json=login).json()["token"])
        node = {"id": "a", "type": "source", "label": "A", "x": 0, "y": 0}
        made = api.post("/api/workflows", headers={"authorization": f"Bearer {token}"},
                        json={"name": "prober-variants", "nodes": [node]})  # fmt: skip
        return token, str(made.json()["id"])


async def measure(rounds: int, delays: list[int]) -> None:
    with platform(ROOT, Path(tempfile.mkdtemp(prefix="header-variants-"))) as plat:
        token, wf_id = _workflow(plat.url, plat.password)
        local = [{"name": "sandbox-token", "value": token}]
        state = {"cookies": [], "origins": [{"origin": plat.url, "localStorage": local}]}
        driver = BrowserDriver()
        browser = await driver.browser()

        async def one(variant: str) -> float:
            close: Callable[[], Awaitable[None]]
            if variant == "raw":
                context = await browser.new_context(storage_state=state)  # type: ignore[arg-type]
                page, close = await context.new_page(), context.close
            else:
                target = Target("sandbox", plat.url, trace_documents=variant == "documents")
                trace = TraceContext.new()
                wiring = Wiring(target, Observer(target), trace, PROBE, Redactor(()))
                session = await driver.session(wiring, storage_state=state)
                await _variant(session, variant, plat.url, trace)
                page, close = session.page, session.close
            try:
                return float((await list_then_canvas(page, plat.url, wf_id))["api_end_ms"])
            finally:
                await close()

        try:
            for delay in delays:
                plat.fault(None)
                if delay:
                    plat.fault({"service": "workflow-service", "mode": "latency",
                                "delay_ms": delay, "path": "/api/workflows/*"})  # fmt: skip
                for variant in VARIANTS:
                    await one(variant)  # warm-up
                got: dict[str, list[float]] = {v: [] for v in VARIANTS}
                for _ in range(rounds):
                    for variant in random.sample(VARIANTS, len(VARIANTS)):
                        got[variant].append(await one(variant))
                _report(delay, rounds, got)
        finally:
            await driver.close()


def _report(delay: int, rounds: int, got: dict[str, list[float]]) -> None:
    raw = got["raw"]
    print(f"\ninjected {delay} ms, {rounds} rounds: the page's API answer end, ms")
    print("| variant | median | IQR | minus raw, medians | minus raw, paired median |")
    print("|---|---|---|---|---|")
    for variant, values in got.items():
        q = statistics.quantiles(values, n=4)
        median = statistics.median(values)
        paired = statistics.median(v - r for v, r in zip(values, raw, strict=True))
        print(f"| {variant} | {median:.1f} | {q[2] - q[0]:.1f} | "
              f"{median - statistics.median(raw):+.1f} | {paired:+.1f} |")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--delays", default="0,500", help="injected ms, comma-separated")
    args = parser.parse_args()
    asyncio.run(measure(args.rounds, [int(d) for d in args.delays.split(",")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
