"""CUJ: a customer runs a workflow and gets its result, from the canvas or through the API.

Succeeds only on `succeeded` with a result for every node of the workflow. A run stuck in
`queued`, or one that succeeds with no output, is an assertion failure of the orchestration
engine; a run that fails because the optimizer is down is blamed on the optimizer.
"""

from typing import Any

from prober import Journey, StepContext

from ._platform import (
    FIXTURE_NODES,
    ORCHESTRATION,
    RUNBOOK,
    SETTINGS,
    WORKFLOW_SERVICE,
    check_run,
    ensure_fixture,
    open_canvas,
    run_from_canvas,
    run_through_api,
    sign_in,
)

NODE_IDS = {n["id"] for n in FIXTURE_NODES}
COMMON: dict[str, Any] = {
    "cuj": "workflow_run",
    "service": ORCHESTRATION,
    "team": "orchestration",
    "interval": "60s",
    "timeout": "20s",
    "retries": 1,
    "slo_target": 0.99,
    "runbook": RUNBOOK.format("workflow-run"),
    "settings": SETTINGS,
    "waits": ("run_max_wait",),  # validate: a stuck run must be able to outlast the timeout
}

run_browser = Journey(
    "workflow_run_browser",
    channel="browser",
    description="Log in, open the fixture's canvas, press Run, see the run succeed with output.",
    latency_threshold="8s",  # p99 3.7 s side by side (docs/performance.md)
    **COMMON,
)


@run_browser.setup("ensure fixture", service=WORKFLOW_SERVICE)
async def browser_fixture(ctx: StepContext) -> None:
    await ensure_fixture(ctx)


@run_browser.step("sign in", service="frontend-monolith")
async def browser_sign_in(ctx: StepContext) -> None:
    await sign_in(ctx)


@run_browser.step("open canvas", service="frontend-monolith")
async def browser_open(ctx: StepContext) -> None:
    await open_canvas(ctx, ctx.vars["fixture_id"])


@run_browser.step("run workflow")
async def browser_run(ctx: StepContext) -> None:
    await check_run(ctx, await run_from_canvas(ctx), NODE_IDS)


run_api = Journey(
    "workflow_run_api",
    channel="api",
    description="Start a run of the fixture workflow through the API and poll it to success.",
    latency_threshold="3s",  # p99 1.1 s side by side (docs/performance.md)
    **COMMON,
)


@run_api.setup("ensure fixture", service=WORKFLOW_SERVICE)
async def api_fixture(ctx: StepContext) -> None:
    await ensure_fixture(ctx)


@run_api.step("run workflow")
async def api_run(ctx: StepContext) -> None:
    await check_run(ctx, await run_through_api(ctx, ctx.vars["fixture_id"]), NODE_IDS)
