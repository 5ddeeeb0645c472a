"""What the journeys of this pack know about Node-RED 4.1: the admin API, the editor, flows.

The pack's flows are tabs labelled `prober-<journey>-<run_id>`; their `info` records when they
were made, so SWEEP tells a killed run's leftover from a running one's flow."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prober import Duration, Leftover, PackSettings, Setting, StepContext, Sweep

ADMIN, FLOWS, EDITOR = "nodered-admin-api", "nodered-flows", "nodered-editor"
RUNBOOK = "https://runbooks.example.com/cuj/nodered-{}"  # placeholder: point at your runbooks
# Every journey here writes flows, and an editor deploy answers 409 after any other write.
GROUP = "nodered-flows"
CREATED = "prober created_at="
PAGE_CAP_S = 15.0  # how long a customer waits for the editor before calling it broken
SETTINGS = PackSettings(
    fixture_label=Setting(str, "prober-fixture", "the tab the canvas journey opens; kept"),
    route_wait=Setting(Duration, "5s", "how long a new flow's http-in route may take to appear"),
    run_wait=Setting(Duration, "5s", "how long an inject run may take to reach flow context"),
)


def node_id() -> str:
    return uuid.uuid4().hex[:16]  # node ids must be unique on the whole server


async def tabs(ctx: StepContext) -> list[dict[str, Any]]:
    answer = await ctx.api.get("/flows", headers={"Node-RED-API-Version": "v2"})
    ctx.expect_status(answer, 200)
    return [n for n in (await ctx.read_json(answer, "flows"))["flows"] if n.get("type") == "tab"]


async def create_flow(ctx: StepContext, nodes: list[dict[str, Any]], label: str = "") -> str:
    """POST /flow a tab named for this run, deleted by a cleanup (or `label`: kept)."""
    body = {"label": label or ctx.run.resource_name(), "info": f"{CREATED}{time.time():.0f}",
            "nodes": nodes, "configs": []}  # fmt: skip
    answer = await ctx.api.post("/flow", json=body)
    ctx.expect_status(answer, 200)
    flow_id = str((await ctx.read_json(answer, "id"))["id"])  # any id we send is ignored
    if not label:
        ctx.cleanup(lambda: delete_flow(ctx, flow_id), f"delete flow {body['label']}")
    return flow_id


async def delete_flow(ctx: StepContext, flow_id: str) -> None:
    ctx.expect_status(await ctx.api.delete(f"/flow/{flow_id}"), 204, 404)  # gone is fine


async def _leftovers(ctx: StepContext) -> list[Leftover]:
    return [Leftover(str(t["id"]), str(t.get("label")), _created(t)) for t in await tabs(ctx)
            if t.get("label") != ctx.settings(SETTINGS).fixture_label]  # fmt: skip


def _created(tab: dict[str, Any]) -> float:
    info = str(tab.get("info") or "")
    return float(info.removeprefix(CREATED)) if info.startswith(CREATED) else 0.0


SWEEP = Sweep(list=_leftovers, delete=lambda ctx, left: delete_flow(ctx, left.id), max_age="1h")


async def ensure_fixture(ctx: StepContext, nodes: list[dict[str, Any]]) -> str:
    """The fixture tab's id: created when missing, PUT back when its nodes drifted."""
    label = ctx.settings(SETTINGS).fixture_label

    async def find() -> dict[str, Any] | None:
        if not (found := [t for t in await tabs(ctx) if t.get("label") == label]):
            return None
        answer = await ctx.api.get(f"/flow/{found[0]['id']}")
        ctx.expect_status(answer, 200)
        return dict(await ctx.read_json(answer, "id", "nodes"))

    def current(flow: dict[str, Any]) -> bool:  # by content: each node holds what we wrote
        held = {n.get("id"): n for n in flow["nodes"]}
        return len(held) == len(nodes) and all(
            n.items() <= held.get(n["id"], {}).items() for n in nodes
        )

    async def repair(flow: dict[str, Any]) -> dict[str, Any]:
        body = {"label": label, "info": f"{CREATED}0", "nodes": nodes, "configs": []}
        ctx.expect_status(await ctx.api.put(f"/flow/{flow['id']}", json=body), 200)
        return flow

    async def create() -> dict[str, Any]:
        return {"id": await create_flow(ctx, nodes, label)}

    found = await ctx.fixture(label, find=find, create=create, current=current, repair=repair)
    return str(found["id"])


async def open_editor(ctx: StepContext, flow_id: str, node_ids: list[str], wires: int) -> None:
    """Open the editor on `flow_id`: that tab active, every node and wire of it drawn."""
    page = ctx.page
    await page.goto(f"{ctx.target.base_url}/#flow/{flow_id}", timeout=PAGE_CAP_S * 1000)
    active = page.locator("#red-ui-workspace-tabs li.red-ui-tab.active")
    await ctx.wait("the editor", lambda ms: active.wait_for(timeout=ms), cap_s=PAGE_CAP_S)
    await page.locator("#red-ui-loading-progress").wait_for(state="hidden", timeout=5000)
    if (shown := await active.get_attribute("id")) != f"red-ui-tab-{flow_id}":
        raise AssertionError(f"the editor shows tab {shown}, not flow {flow_id}")
    chart = page.locator("#red-ui-workspace-chart")
    for node in node_ids:
        drawn = chart.locator(f'g.red-ui-flow-node-group[id="{node}"]')
        await ctx.wait(f"node {node} drawn", lambda ms, d=drawn: d.wait_for(timeout=ms), cap_s=5)
    if (links := await chart.locator("g.red-ui-flow-link").count()) != wires:
        raise AssertionError(f"the canvas drew {links} of {wires} wires of flow {flow_id}")
