"""Journeys for `prober serve` tests: fast ones on a 2 s interval, and one that hangs."""

from __future__ import annotations

import asyncio

from prober import Journey, StepContext, expect

fast_api = Journey(
    "fast_api", cuj="serve_test", service="workflow-service", team="sre", channel="api",
    interval="2s", timeout="2s", retries=0,
)  # fmt: skip


@fast_api.step("list workflows")
async def list_workflows(ctx: StepContext) -> None:
    answer = await ctx.api.get("/api/workflows")
    answer.raise_for_status()


fast_browser = Journey(
    "fast_browser", cuj="serve_test", service="frontend-monolith", team="sre",
    channel="browser", interval="2s", timeout="2s", retries=0,
)  # fmt: skip


@fast_browser.step("open login page")
async def open_login(ctx: StepContext) -> None:
    assert ctx.page is not None
    await ctx.page.goto(f"{ctx.target.base_url}/login")
    await expect(ctx.page.get_by_test_id("login-form")).to_be_visible()


# Each attempt hangs until its 1.5 s deadline and is retried twice: 4.5 s per run on a 2 s
# interval, so the scheduler must skip (not stack) the runs that come due meanwhile.
hanging = Journey(
    "hanging", cuj="serve_test", service="workflow-service", team="sre", channel="api",
    interval="2s", timeout="1.5s", retries=2,
)  # fmt: skip


@hanging.step("wait forever")
async def wait_forever(ctx: StepContext) -> None:
    await asyncio.Event().wait()
