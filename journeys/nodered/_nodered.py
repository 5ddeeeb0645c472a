"""What the journeys of this pack know about Node-RED 4.1: the admin API, the editor, flows.

The pack's flows are tabs labelled `prober-<journey>-<run_id>`; their `info` records when they
were made, so SWEEP tells a killed run's leftover from a running one's flow."""

from __future__ import annotations

import time
import uuid
from typing import Any

from prober import Duration, PackSettings, Setting, StepContext
from prober.rest import RestCollection

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


def _created(tab: dict[str, Any]) -> float:
    info = str(tab.get("info") or "")
    return float(info.removeprefix(CREATED)) if info.startswith(CREATED) else 0.0


# The flow tabs: /flows lists every node (v2: {"flows": [...]}), /flow/{id} is one tab.
TABS = RestCollection("/flows", items="flows", name="label", item="/flow/{id}", created=_created,
                      create_path="/flow",
                      headers={"Node-RED-API-Version": "v2"},
                      select=lambda node: node.get("type") == "tab")  # fmt: skip
SWEEP = TABS.sweep(max_age="1h", keep=lambda ctx: [ctx.settings(SETTINGS).fixture_label])


def _tab(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"info": f"{CREATED}{time.time():.0f}", "nodes": nodes, "configs": []}


async def create_flow(ctx: StepContext, nodes: list[dict[str, Any]]) -> str:
    """POST /flow a tab named for this run, deleted by a cleanup."""
    label = ctx.run.resource_name()
    flow_id = await TABS.create(ctx, {"label": label, **_tab(nodes)})  # any id we send is ignored
    ctx.cleanup(lambda: TABS.delete(ctx, flow_id), f"delete flow {label}")
    return flow_id


async def ensure_fixture(ctx: StepContext, nodes: list[dict[str, Any]]) -> str:
    """The fixture tab's id: created when missing, PUT back when its nodes drifted."""

    def current(flow: dict[str, Any]) -> bool:  # by content: each node holds what we wrote
        held = {n.get("id"): n for n in flow["nodes"]}
        return len(held) == len(nodes) and all(
            n.items() <= held.get(n["id"], {}).items() for n in nodes
        )

    label = ctx.settings(SETTINGS).fixture_label
    found = await TABS.fixture(ctx, label, _tab(nodes), current=current, fields=("id", "nodes"))
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
