"""A browser journey that creates test data, then lingers (target setting `linger_s`), so a
test can stop `prober serve` while it is in flight."""

from __future__ import annotations

import asyncio

from prober import Journey, StepContext

lingering = Journey(
    "lingering", cuj="serve_test", service="workflow-service", team="sre", channel="browser",
    interval="60s", timeout="40s", retries=0,
)  # fmt: skip


@lingering.step("create")
async def create(ctx: StepContext) -> None:
    name = f"prober-lingering-{ctx.run.run_id}"
    answer = await ctx.api.post("/api/workflows", json={"name": name, "nodes": [], "edges": []})
    answer.raise_for_status()
    wf_id = answer.json()["id"]

    async def delete() -> None:
        (await ctx.api.delete(f"/api/workflows/{wf_id}")).raise_for_status()

    ctx.cleanup(delete, name="delete workflow")


@lingering.step("open login page", service="frontend-monolith")
async def open_login(ctx: StepContext) -> None:
    assert ctx.page is not None
    await ctx.page.goto(f"{ctx.target.base_url}/login")


@lingering.step("linger")
async def linger(ctx: StepContext) -> None:
    await asyncio.sleep(float(ctx.target.setting("linger_s", "3")))
