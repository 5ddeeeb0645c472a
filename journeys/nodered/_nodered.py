"""What the journeys of this pack know about Node-RED 4.1: the admin API, the editor, flows.

Flows this pack creates are tabs labelled `prober-<journey>-<run_id>` whose `info` records when
they were made; the sweep deletes the ones older than `sweep_max_age_s` that a killed run left.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from prober import StepContext

ADMIN, FLOWS, EDITOR = "nodered-admin-api", "nodered-flows", "nodered-editor"
RUNBOOK = "https://runbooks.example.com/cuj/nodered-{}"  # placeholder: point at your runbooks
CREATED = "prober created_at="
V2 = {"Node-RED-API-Version": "v2"}  # GET /flows then answers {"flows": [...], "rev": ...}
PAGE_CAP_S = 15.0  # how long a customer waits for the editor before calling it broken


def node_id() -> str:
    return uuid.uuid4().hex[:16]  # node ids must be unique on the whole server


def seconds(ctx: StepContext, key: str, default: float) -> float:
    return float(ctx.target.setting(key, str(default)))


async def poll(
    ctx: StepContext, what: str, check: Callable[[], Awaitable[Any]], cap_s: float
) -> Any:
    """`check()` until it is truthy; an assertion at `cap_s`. TODO(kit): ctx.poll."""

    async def until(limit_ms: float) -> Any:
        end = time.monotonic() + limit_ms / 1000
        while not (found := await check()):
            if time.monotonic() > end:
                raise AssertionError(f"still not {what} after {limit_ms / 1000:.1f} s")
            await asyncio.sleep(0.05)
        return found

    return await ctx.wait(what, until, cap_s=cap_s)


async def tabs(ctx: StepContext) -> list[dict[str, Any]]:
    answer = await ctx.api.get("/flows", headers=V2)
    ctx.expect_status(answer, 200)
    return [n for n in (await ctx.read_json(answer, "flows"))["flows"] if n.get("type") == "tab"]


async def create_flow(ctx: StepContext, nodes: list[dict[str, Any]], *, keep: bool = False) -> str:
    """POST /flow a tab named for this run (else `keep`: the fixture); deleted by cleanup."""
    label = (
        ctx.target.setting("fixture_label", "prober-fixture") if keep else ctx.run.resource_name()
    )
    body = {"label": label, "info": f"{CREATED}{time.time():.0f}", "nodes": nodes, "configs": []}
    answer = await ctx.api.post("/flow", json=body)
    ctx.expect_status(answer, 200)
    flow_id = str((await ctx.read_json(answer, "id"))["id"])  # any id we send is ignored
    if not keep:
        ctx.cleanup(lambda: delete_flow(ctx, flow_id), f"delete flow {label}")
    return flow_id


async def delete_flow(ctx: StepContext, flow_id: str) -> None:
    ctx.expect_status(await ctx.api.delete(f"/flow/{flow_id}"), 204, 404)  # gone is fine


async def sweep(ctx: StepContext) -> None:
    """Delete `prober-` flows older than `sweep_max_age_s` (never the fixture); TODO(kit): Sweep."""
    oldest = time.time() - seconds(ctx, "sweep_max_age_s", 3600)
    fixture = ctx.target.setting("fixture_label", "prober-fixture")
    stale = [t for t in await tabs(ctx) if str(t.get("label", "")).startswith("prober-")
             and t.get("label") != fixture and _created(t) <= oldest]  # fmt: skip
    for tab in stale:
        await delete_flow(ctx, str(tab["id"]))
    ctx.annotate("swept", len(stale))


def _created(tab: dict[str, Any]) -> float:
    info = str(tab.get("info") or "")
    return float(info.removeprefix(CREATED)) if info.startswith(CREATED) else 0.0


async def ensure_fixture(ctx: StepContext, nodes: list[dict[str, Any]]) -> str:
    """The fixture tab's id: created when missing, PUT back when its nodes drifted."""
    fixture = ctx.target.setting("fixture_label", "prober-fixture")
    found = [t for t in await tabs(ctx) if t.get("label") == fixture]
    if not found:
        return await create_flow(ctx, nodes, keep=True)
    flow_id = str(found[0]["id"])
    answer = await ctx.api.get(f"/flow/{flow_id}")
    ctx.expect_status(answer, 200)
    held = (await ctx.read_json(answer, "nodes"))["nodes"]
    by_id = {n.get("id"): n for n in held}
    if len(held) != len(nodes) or any(
        {k: by_id.get(n["id"], {}).get(k) for k in n} != n for n in nodes
    ):
        body = {"label": fixture, "info": f"{CREATED}0", "nodes": nodes, "configs": []}
        ctx.expect_status(await ctx.api.put(f"/flow/{flow_id}", json=body), 200)
    return flow_id


async def sign_in_browser(ctx: StepContext) -> None:
    """Start the editor signed in with the API's token (TODO(kit): the session does this)."""
    answer = await ctx.api.get("/settings")  # logs the API client in if it is not yet
    ctx.expect_status(answer, 200)
    token = answer.request.headers["authorization"].removeprefix("Bearer ")
    tokens = json.dumps({"access_token": token, "expires_in": 86400, "token_type": "Bearer"})
    await ctx.page.context.add_init_script(f"localStorage.setItem('auth-tokens', {tokens!r})")


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
