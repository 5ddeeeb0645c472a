"""CUJ: a flow is created, read, edited, deleted and gone, through the Node-RED admin API.

Each step checks the outcome, not only the status: the PUT must be visible on a fresh GET, and
after DELETE the flow must answer 404. The flow is registered for cleanup as soon as it exists.
"""

from prober import Journey, StepContext

from ._nodered import ADMIN, GROUP, RUNBOOK, SETTINGS, SWEEP, create_flow, node_id

crud_api = Journey(
    "nodered_crud_api", cuj="workflow_crud", service=ADMIN, team="workflow-platform",
    channel="api", interval="60s", timeout="20s", retries=1, latency_threshold="5s",
    slo_target=0.995, runbook=RUNBOOK.format("crud"),
    description="POST /flow, GET, PUT, GET, DELETE, and GET 404 on a per-run flow.",
    group=GROUP, sweep=SWEEP, settings=SETTINGS,
)  # fmt: skip


def comment(node: str, name: str) -> dict[str, object]:
    return {"id": node, "type": "comment", "name": name, "x": 140, "y": 60, "wires": []}


@crud_api.step("create")
async def create(ctx: StepContext) -> None:
    ctx.vars["nodes"] = [comment(node_id(), "created")]
    ctx.vars["flow_id"] = await create_flow(ctx, ctx.vars["nodes"])


async def check_stored(ctx: StepContext, label: str) -> None:
    answer = await ctx.api.get(f"/flow/{ctx.vars['flow_id']}")
    ctx.expect_status(answer, 200)
    stored = await ctx.read_json(answer, "label", "nodes")
    names = [(n.get("id"), n.get("name")) for n in stored["nodes"]]
    if stored["label"] != label or names != [(n["id"], n["name"]) for n in ctx.vars["nodes"]]:
        ctx.fail(f"GET /flow shows {stored['label']!r} with {names}, not what was saved")


@crud_api.step("read")
async def read(ctx: StepContext) -> None:
    await check_stored(ctx, ctx.run.resource_name())


@crud_api.step("edit")
async def edit(ctx: StepContext) -> None:
    ctx.vars["nodes"] = [*ctx.vars["nodes"], comment(node_id(), "added")]
    body = {"label": ctx.run.resource_name("edited"), "nodes": ctx.vars["nodes"], "configs": []}
    ctx.expect_status(await ctx.api.put(f"/flow/{ctx.vars['flow_id']}", json=body), 200)
    await check_stored(ctx, ctx.run.resource_name("edited"))


@crud_api.step("delete")
async def delete(ctx: StepContext) -> None:
    ctx.expect_status(await ctx.api.delete(f"/flow/{ctx.vars['flow_id']}"), 204)
    ctx.expect_status(await ctx.api.get(f"/flow/{ctx.vars['flow_id']}"), 404)
