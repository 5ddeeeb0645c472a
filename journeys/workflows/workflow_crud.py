"""CUJ: a customer creates a workflow, edits it, saves it, and deletes it - and it sticks.

Each step checks the outcome, not the status code: a save that answers 200 but is not stored
fails `verify saved`; a delete that leaves the workflow listed fails `verify gone`. The workflow
is registered for cleanup the moment it exists; the pack's Sweep removes what killed runs left.
"""

import re
from typing import Any
from urllib.parse import urlsplit

from prober import Journey, StepContext, expect

from ._platform import (
    FRONTEND,
    PAGE_CAP_S,
    RUNBOOK,
    SETTINGS,
    SWEEP,
    WORKFLOW_SERVICE,
    budget_ms,
    canvas_ready,
    delete_quietly,
    reload_canvas,
    sign_in,
)

COMMON: dict[str, Any] = {
    "cuj": "workflow_crud",
    "service": WORKFLOW_SERVICE,
    "team": "workflow-platform",
    "interval": "60s",
    "timeout": "20s",
    "retries": 1,
    "slo_target": 0.995,
    "runbook": RUNBOOK.format("workflow-crud"),
    "sweep": SWEEP,  # before each run, and on serve's own schedule
    "settings": SETTINGS,
}
FIRST_NODE = {"id": "extract", "type": "source", "label": "Extract", "x": 20, "y": 40}
ADDED_NODE = {"id": "load", "type": "sink", "label": "Load", "x": 200, "y": 40}

crud_api = Journey(
    "workflow_crud_api",
    channel="api",
    description="Create, edit, save, verify, delete and verify-gone a workflow over the API.",
    latency_threshold="2s",  # p99 0.43 s side by side (docs/performance.md)
    **COMMON,
)


@crud_api.step("create")
async def api_create(ctx: StepContext) -> None:
    answer = await ctx.api.post(
        "/api/workflows", json={"name": ctx.run.resource_name(), "nodes": [FIRST_NODE]}
    )
    answer.raise_for_status()
    workflow = await ctx.read_json(answer, types={"id": str, "version": int})
    wf_id = workflow["id"]

    async def remove() -> None:
        await delete_quietly(ctx, wf_id)

    ctx.cleanup(remove, "delete the created workflow")
    ctx.vars.update(wf_id=wf_id, version=workflow["version"])


@crud_api.step("edit and save")
async def api_edit(ctx: StepContext) -> None:
    answer = await ctx.api.put(
        f"/api/workflows/{ctx.vars['wf_id']}",
        json={
            "version": ctx.vars["version"],
            "name": ctx.run.resource_name("edited"),
            "nodes": [FIRST_NODE, ADDED_NODE],
            "edges": [{"source": FIRST_NODE["id"], "target": ADDED_NODE["id"]}],
        },
    )
    answer.raise_for_status()
    saved = await ctx.read_json(answer, types={"version": int})
    if saved["version"] != ctx.vars["version"] + 1:
        ctx.fail(f"the save answered version {saved['version']}")


@crud_api.step("verify saved")
async def api_verify(ctx: StepContext) -> None:
    answer = await ctx.api.get(f"/api/workflows/{ctx.vars['wf_id']}")
    answer.raise_for_status()
    stored = await ctx.read_json(answer, types={"name": str, "nodes": list})
    nodes = [n["id"] for n in stored["nodes"]]
    if stored["name"] != ctx.run.resource_name("edited") or nodes != ["extract", "load"]:
        ctx.fail(
            f"the save answered 200 but a fresh read shows name {stored['name']!r} and nodes "
            f"{nodes}: the edit was not stored"
        )


@crud_api.step("delete")
async def api_delete(ctx: StepContext) -> None:
    (await ctx.api.delete(f"/api/workflows/{ctx.vars['wf_id']}")).raise_for_status()


@crud_api.step("verify gone")
async def api_gone(ctx: StepContext) -> None:
    wf_id = ctx.vars["wf_id"]
    ctx.expect_status(await ctx.api.get(f"/api/workflows/{wf_id}"), 404)
    listed = await ctx.api.get("/api/workflows", params={"name_prefix": "prober-"})
    listed.raise_for_status()
    if any(w["id"] == wf_id for w in (await ctx.read_json(listed, "workflows"))["workflows"]):
        ctx.fail("a deleted workflow is still listed", service=WORKFLOW_SERVICE)


crud_browser = Journey(
    "workflow_crud_browser",
    channel="browser",
    description="Create a workflow from the list, add a node, rename, save, reload, delete.",
    latency_threshold="11s",  # p99 5.4 s side by side (docs/performance.md)
    **COMMON,
)


@crud_browser.step("sign in", service="frontend-monolith")
async def browser_sign_in(ctx: StepContext) -> None:
    await sign_in(ctx)


@crud_browser.step("create")
async def browser_create(ctx: StepContext) -> None:
    page = ctx.page
    await page.get_by_test_id("new-workflow-name").fill(ctx.run.resource_name())
    await page.get_by_test_id("create-workflow").click()
    await page.wait_for_url("**/workflows/*", timeout=budget_ms(ctx))
    wf_id = urlsplit(page.url).path.rsplit("/", 1)[-1]

    async def remove() -> None:
        await delete_quietly(ctx, wf_id)

    ctx.cleanup(remove, "delete the created workflow")
    ctx.vars["wf_id"] = wf_id
    await canvas_ready(ctx)


@crud_browser.step("edit and save")
async def browser_edit(ctx: StepContext) -> None:
    page = ctx.page
    await page.get_by_test_id("add-node").click()
    await page.get_by_test_id("workflow-name").fill(ctx.run.resource_name("edited"))
    await page.get_by_test_id("save-button").click()
    status = page.get_by_test_id("save-status")
    await ctx.wait(
        "the save to be confirmed",
        lambda ms: expect(status).to_have_text(re.compile("^(saved|conflict|error)$"), timeout=ms),
        cap_s=PAGE_CAP_S,
    )
    shown = await status.text_content()
    if shown != "saved":
        raise AssertionError(f"the save shows {shown!r}: {await status.get_attribute('title')}")


@crud_browser.step("verify saved")
async def browser_verify(ctx: StepContext) -> None:
    page = ctx.page
    served = await reload_canvas(ctx, ctx.vars["wf_id"])
    served_nodes = len(served.get("nodes") or [])
    if served.get("name") != ctx.run.resource_name("edited") or served_nodes != 1:
        ctx.fail(
            f"after a reload the workflow API serves name {served.get('name')!r} with "
            f"{served_nodes} node(s): the save was not stored"
        )
    name = await page.get_by_test_id("workflow-name").input_value()
    drawn = await page.get_by_test_id("canvas-node").count()
    if name != served["name"] or drawn != served_nodes:
        ctx.fail(
            f"the canvas shows name {name!r} and {drawn} node(s) for a workflow stored with "
            f"{served_nodes}",
            service=FRONTEND,
        )


@crud_browser.step("delete")
async def browser_delete(ctx: StepContext) -> None:
    page = ctx.page
    await page.get_by_test_id("delete-button").click()
    await page.wait_for_url(f"{ctx.target.base_url}/", timeout=budget_ms(ctx))
    await ctx.wait(
        "the workflow list after deleting",
        lambda ms: expect(page.get_by_test_id("list-status")).to_have_text("ready", timeout=ms),
        cap_s=PAGE_CAP_S,
    )


@crud_browser.step("verify gone")
async def browser_gone(ctx: StepContext) -> None:
    wf_id = ctx.vars["wf_id"]
    listed = ctx.page.locator(f'[data-testid=workflow-item][data-workflow-id="{wf_id}"]')
    if await listed.count():
        ctx.fail("the deleted workflow is still in the list")
    ctx.expect_status(await ctx.api.get(f"/api/workflows/{wf_id}"), 404)
