"""Journeys for `prober serve` tests: fast ones on a 2 s interval, and one that hangs.

They register no cleanups: the tests serve them with `serve.cleanup_timeout: 0s`.
"""

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


# Each attempt hangs until its 0.5 s deadline, then takes 1.5 s to let go of the cancellation
# (as a slow driver teardown would), and is retried twice: ~6 s per run on a 2 s interval,
# although the declared worst case, 3 x 0.5 s with the tests' 0 s cleanup budget, fits. The
# scheduler must skip (not stack) the runs that come due meanwhile.
hanging = Journey(
    "hanging", cuj="serve_test", service="workflow-service", team="sre", channel="api",
    interval="2s", timeout="0.5s", retries=2,
)  # fmt: skip


@hanging.step("wait forever")
async def wait_forever(ctx: StepContext) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.sleep(1.5)
        raise
