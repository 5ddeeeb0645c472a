"""A journey whose SLO target (90%) is too loose for a 14.4x burn-rate alert."""

from __future__ import annotations

from prober import Journey, StepContext

loose = Journey(
    "loose_target", cuj="slo_test", service="workflow-service", team="sre", channel="api",
    slo_target=0.9,
)  # fmt: skip


@loose.step("read")
async def read(ctx: StepContext) -> None:
    (await ctx.api.get("/api/workflows")).raise_for_status()
