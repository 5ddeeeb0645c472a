"""CUJ: a flow runs and computes its result, called over HTTP and triggered by its inject node.

A per-run flow `http in` -> compute -> `http response`; compute also keeps its result in flow
context, where the inject run is confirmed, and a catch node answers its exceptions with a 500
(a broken flow fails at once instead of hanging)."""

import json

from prober import Journey, StepContext

from ._nodered import ADMIN, FLOWS, GROUP, RUNBOOK, SETTINGS, SWEEP, create_flow, node_id

COMPUTE = """const n = Number(msg.payload.n);
msg.payload = {runId: msg.payload.runId, result: n * 2};
flow.set("lastRun", msg.payload);
return msg.res ? msg : null;"""

workflow_run = Journey(
    "nodered_workflow_run", cuj="workflow_run", service=FLOWS, team="orchestration",
    channel="api", interval="60s", timeout="20s", retries=1, latency_threshold="5s",
    slo_target=0.99, runbook=RUNBOOK.format("workflow-run"),
    description="Create a flow, call its http-in endpoint, trigger its inject; check results.",
    group=GROUP, sweep=SWEEP, settings=SETTINGS,
)  # fmt: skip


@workflow_run.setup("create flow", service=ADMIN)
async def create(ctx: StepContext) -> None:
    http, fn, out, inject, catch, fail = (node_id() for _ in range(6))
    ctx.vars.update(inject=inject, url=f"/prober/run/{ctx.run.run_id}")
    nodes = [
        {"id": http, "type": "http in", "url": ctx.vars["url"], "method": "post", "wires": [[fn]]},
        {"id": inject, "type": "inject", "props": [{"p": "payload"}], "wires": [[fn]]},
        {"id": fn, "type": "function", "func": COMPUTE, "outputs": 1, "wires": [[out]]},
        {"id": catch, "type": "catch", "scope": [fn], "wires": [[fail]]},
        {"id": fail, "type": "change", "wires": [[out]], "rules": [
            {"t": "set", "p": "statusCode", "pt": "msg", "to": "500", "tot": "num"},
            {"t": "set", "p": "payload", "pt": "msg", "to": "error.message", "tot": "msg"}]},
        {"id": out, "type": "http response", "wires": []},
    ]  # fmt: skip
    for i, node in enumerate(nodes):  # without x and y Node-RED files a node as a config node
        node.update(x=160 + 220 * (i % 3), y=80 + 80 * (i // 3))
    ctx.vars["flow_id"] = await create_flow(ctx, nodes)


@workflow_run.step("run over http")
async def run_http(ctx: StepContext) -> None:
    ctx.allow_status(404, path="/prober/run/*")  # POST /flow answers before the route exists
    ask = {"runId": ctx.run.run_id, "n": 21}
    answer = await ctx.poll(f"the route {ctx.vars['url']}", lambda: _routed(ctx, ask),
                            cap_s=ctx.settings(SETTINGS).route_wait)  # fmt: skip
    ctx.expect_status(answer, 200)
    if await ctx.read_json(answer, "result") != {"runId": ctx.run.run_id, "result": 42}:
        ctx.fail(f"the flow answered {answer.text[:200]}, not result 42")


async def _routed(ctx: StepContext, ask: dict[str, object]) -> object:
    answer = await ctx.api.post(ctx.vars["url"], json=ask)
    return None if answer.status_code == 404 else answer


@workflow_run.step("run by inject")
async def run_inject(ctx: StepContext) -> None:
    ask = json.dumps({"runId": f"{ctx.run.run_id}-inject", "n": 5})
    props = {"__user_inject_props__": [{"p": "payload", "v": ask, "vt": "json"}]}
    ctx.expect_status(await ctx.api.post(f"/inject/{ctx.vars['inject']}", json=props), 200)
    want = json.dumps({"runId": f"{ctx.run.run_id}-inject", "result": 10}, separators=(",", ":"))
    key = f"/context/flow/{ctx.vars['flow_id']}/lastRun"

    async def stored() -> bool:
        answer = await ctx.api.get(key)
        ctx.expect_status(answer, 200)
        return bool((await ctx.read_json(answer, "msg"))["msg"] == want)

    await ctx.poll("the inject run in flow context", stored, cap_s=ctx.settings(SETTINGS).run_wait)
