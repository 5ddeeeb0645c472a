#!/usr/bin/env python3
"""The canvas-load journey as a minimal hand-written Playwright script: the baseline.

The same steps and waits as journeys/workflows/workflow_canvas_load.py (log in over the API and
list the fixture; sign in through the login page; open the canvas and check what it drew), the
same process model as the prober (one Chromium, a fresh context per run) and nothing else: no
trace headers, no tracing, no listeners, no result sinks.

    python scripts/benchkit/raw_canvas.py URL PASSWORD     # one run, for the start-up figure
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Playwright, async_playwright, expect

CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
] + (["--no-sandbox"] if os.geteuid() == 0 else [])
FIXTURE = "prober-fixture-canvas"
# What the page itself says it spent: navigation and the canvas's API call (ms since the
# navigation started), read after "open canvas" by both this script and the prober.
MARKS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const api = performance.getEntriesByType('resource')
    .filter(e => /\\/api\\/workflows\\/[^/]+$/.test(new URL(e.name).pathname)).pop();
  return {nav_ttfb_ms: nav.responseStart - nav.requestStart,
          api_ttfb_ms: api ? api.responseStart - api.requestStart : null,
          api_end_ms: api ? api.responseEnd : null,
          ready_ms: performance.now()};
}"""


async def list_then_canvas(page: Page, url: str, wf_id: str) -> dict[str, Any]:
    """Open the list page, then workflow `wf_id`'s canvas, as the journey does; the canvas
    page's own marks (MARKS_JS)."""
    await page.goto(f"{url}/")
    await page.get_by_test_id("list-status").filter(has_text="ready").wait_for()
    await page.goto(f"{url}/workflows/{wf_id}")
    await page.get_by_test_id("canvas-status").filter(has_text="ready").wait_for()
    marks: dict[str, Any] = await page.evaluate(MARKS_JS)
    return marks


async def launch(pw: Playwright) -> Browser:
    return await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


async def journey(browser: Browser, api: httpx.AsyncClient, password: str) -> dict[str, Any]:
    """One run; returns each step's duration (s) and the page's marks."""
    steps: dict[str, float] = {}
    began = time.monotonic()
    token = (
        await api.post("/api/auth/login", json={"username": "prober", "password": password})
    ).json()["token"]
    listed = await api.get(
        "/api/workflows",
        params={"name_prefix": FIXTURE},
        headers={"authorization": f"Bearer {token}"},
    )
    wf_id = next(w["id"] for w in listed.json()["workflows"] if w["name"] == FIXTURE)
    steps["ensure fixture"] = time.monotonic() - began
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        began = time.monotonic()
        await page.goto(f"{api.base_url}login")
        await page.get_by_test_id("login-username").fill("prober")
        await page.get_by_test_id("login-password").fill(password)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("list-status")).to_have_text("ready")
        steps["sign in"] = time.monotonic() - began
        began = time.monotonic()
        async with page.expect_response(lambda r: r.url.endswith(f"/api/workflows/{wf_id}")) as got:
            await page.goto(f"{api.base_url}workflows/{wf_id}")
        await expect(page.get_by_test_id("canvas-status")).to_have_text("ready")
        workflow = await (await got.value).json()
        nodes = await page.get_by_test_id("canvas-node").evaluate_all(
            "els => els.map(e => e.dataset.nodeId)"
        )
        edges = await page.get_by_test_id("canvas-edge").evaluate_all(
            "els => els.map(e => [e.dataset.source, e.dataset.target])"
        )
        assert len(nodes) == len(workflow["nodes"]) and len(edges) == len(workflow["edges"])
        steps["open canvas"] = time.monotonic() - began
        marks = await page.evaluate(MARKS_JS)
    finally:
        await context.close()
    return {"steps": steps, "marks": marks}


async def once(url: str, password: str) -> None:
    async with async_playwright() as pw, httpx.AsyncClient(base_url=url + "/") as api:
        browser = await launch(pw)
        await journey(browser, api, password)
        await browser.close()


if __name__ == "__main__":
    asyncio.run(once(sys.argv[1], sys.argv[2]))
