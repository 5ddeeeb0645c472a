"""Small journeys the runtime tests drive against the sandbox (the real CUJs are issue 4's)."""

from __future__ import annotations

import asyncio
import re

from prober import Journey, StepContext, expect

TERMINAL = {"succeeded", "failed"}


def api_read(wf_id: str, *, timeout: str = "5s", retries: int = 0) -> Journey:
    journey = Journey(
        "api_read_workflow",
        cuj="workflow_read",
        service="workflow-service",
        team="test",
        channel="api",
        interval="60s",
        timeout=timeout,
        retries=retries,
    )

    @journey.step("read workflow")
    async def read(ctx: StepContext) -> None:
        answer = await ctx.api.get(f"/api/workflows/{wf_id}")
        answer.raise_for_status()
        if not answer.json()["nodes"]:
            ctx.fail("the workflow came back without nodes")

    return journey


def api_run(wf_id: str) -> Journey:
    journey = Journey(
        "api_run_workflow",
        cuj="workflow_run",
        service="orchestration-engine",
        team="test",
        channel="api",
        timeout="5s",
        retries=0,
    )

    @journey.step("start run")
    async def start(ctx: StepContext) -> None:
        answer = await ctx.api.post(f"/api/workflows/{wf_id}/runs", json={})
        answer.raise_for_status()
        ctx.vars["run_id"] = answer.json()["run_id"]

    @journey.step("wait for result")
    async def wait(ctx: StepContext) -> None:
        while True:
            answer = await ctx.api.get(f"/api/runs/{ctx.vars['run_id']}")
            answer.raise_for_status()
            run = answer.json()
            if run["status"] in TERMINAL:
                break
            await asyncio.sleep(0.1)
        if run["status"] == "failed":
            ctx.reported_failure(run["error"]["service"], run["error"]["message"])
        if not run["output"]:
            ctx.fail("the run succeeded without output")

    return journey


def browser_canvas(wf_id: str, nodes: int, *, timeout: str = "12s", retries: int = 0) -> Journey:
    journey = Journey(
        "browser_canvas",
        cuj="workflow_canvas_load",
        service="frontend-monolith",
        team="test",
        channel="browser",
        timeout=timeout,
        retries=retries,
    )

    @journey.step("sign in")
    async def sign_in(ctx: StepContext) -> None:
        page = ctx.page
        await page.goto(f"{ctx.target.base_url}/login")
        await page.get_by_test_id("login-username").fill(ctx.target.username or "")
        password = ctx.target.password.reveal() if ctx.target.password else ""
        await page.get_by_test_id("login-password").fill(password)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("list-status")).to_have_text("ready")

    @journey.step("open canvas")
    async def open_canvas(ctx: StepContext) -> None:
        page = ctx.page
        await page.goto(f"{ctx.target.base_url}/workflows/{wf_id}")
        status = page.get_by_test_id("canvas-status")
        # Ready or error, whichever comes: an error shown at once fails at once.
        await expect(status).to_have_text(re.compile("^(ready|error)$"), timeout=4000)
        if await status.text_content() == "error":
            shown = await page.get_by_test_id("canvas-error").text_content()
            raise AssertionError(f"the canvas shows an error: {shown}")
        await expect(page.get_by_test_id("canvas-node")).to_have_count(nodes, timeout=1000)

    return journey


def broken_code() -> Journey:
    journey = Journey(
        "broken_code", cuj="broken", service="workflow-service", team="test", channel="api"
    )

    @journey.step("compute")
    async def compute(ctx: StepContext) -> None:
        ctx.vars["total"] = None + 1  # type: ignore[operator]

    return journey
