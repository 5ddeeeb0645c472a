"""CUJ: a user opens a flow in the Node-RED editor, renames it, deploys, and the change sticks.

The flow is created over the admin API in a setup step (and registered for cleanup at once);
the editor opens on it signed in with the API's token, the tab's properties are edited,
"Modified Flows" is deployed (so other flows keep running), and a fresh GET /flow must show
the new label.
"""

from prober import Journey, StepContext

from ._nodered import (
    ADMIN,
    EDITOR,
    GROUP,
    RUNBOOK,
    SETTINGS,
    SWEEP,
    create_flow,
    node_id,
    open_editor,
)

crud_browser = Journey(
    "nodered_crud_browser", cuj="workflow_crud", service=EDITOR, team="workflow-platform",
    channel="browser", interval="60s", timeout="20s", retries=1, latency_threshold="12s",
    slo_target=0.995, runbook=RUNBOOK.format("crud"),
    description="Open a per-run flow in the editor, rename it, deploy, verify over the API.",
    group=GROUP, sweep=SWEEP, settings=SETTINGS,
)  # fmt: skip


@crud_browser.setup("create flow", service=ADMIN)
async def create(ctx: StepContext) -> None:
    ctx.vars["node"] = node_id()
    node = {"id": ctx.vars["node"], "type": "comment", "name": "edit me", "x": 140, "y": 60}
    ctx.vars["flow_id"] = await create_flow(ctx, [{**node, "wires": []}])


@crud_browser.step("open editor")
async def open_flow(ctx: StepContext) -> None:
    await open_editor(ctx, ctx.vars["flow_id"], [ctx.vars["node"]], 0)


@crud_browser.step("edit and deploy")
async def edit(ctx: StepContext) -> None:
    page = ctx.page
    await page.locator(f'li[id="red-ui-tab-{ctx.vars["flow_id"]}"]').dblclick()
    await page.locator("#node-input-name").fill(ctx.run.resource_name("edited"))
    await page.locator("#node-dialog-ok").click()
    await page.locator("#red-ui-header-button-deploy-options").click()
    await page.locator("#deploymenu-item-flow").click()
    async with page.expect_response(
        lambda r: r.url.endswith("/flows") and r.request.method == "POST", timeout=10_000
    ) as deployed:
        await page.locator("#red-ui-header-button-deploy").click()
    ctx.expect_status(await deployed.value, 200)


@crud_browser.step("verify deployed", service=ADMIN)
async def verify(ctx: StepContext) -> None:
    answer = await ctx.api.get(f"/flow/{ctx.vars['flow_id']}")
    ctx.expect_status(answer, 200)
    if (label := (await ctx.read_json(answer, "label"))["label"]) != ctx.run.resource_name(
        "edited"
    ):
        ctx.fail(f"after the deploy GET /flow shows the label {label!r}, not the edited one")
