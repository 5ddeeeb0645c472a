"""What the journeys of this pack know about the reference platform.

Waits are budgeted from the step's remaining time (`ctx.remaining_s`) minus a margin, so a page
that never reaches the expected state fails as a classified assertion or timeout with the
traffic as evidence, before the runner's deadline has to cut the step off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Response

from prober import Duration, PackSettings, Setting, StepContext, expect
from prober.rest import RestCollection

WORKFLOW_SERVICE = "workflow-service"
ORCHESTRATION = "orchestration-engine"
OPTIMIZER = "optimizer-service"
FRONTEND = "frontend-monolith"
RUNBOOK = "https://runbooks.example.com/cuj/{}"  # placeholder: point at your runbooks

# The canvas fixture: a known graph (fan-out and join) that every canvas and run check compares
# against. It is created when missing, repaired when changed, and never deleted by a journey.
FIXTURE_NAME = "prober-fixture-canvas"
FIXTURE_NODES: list[dict[str, Any]] = [
    {"id": "source", "type": "source", "label": "Read events", "x": 20, "y": 160},
    {"id": "clean", "type": "transform", "label": "Clean", "x": 200, "y": 60},
    {"id": "enrich", "type": "transform", "label": "Enrich", "x": 200, "y": 260},
    {"id": "join", "type": "transform", "label": "Join", "x": 380, "y": 160},
    {"id": "sink", "type": "sink", "label": "Write table", "x": 560, "y": 160},
]
FIXTURE_EDGES: list[dict[str, Any]] = [
    {"id": "source->clean", "source": "source", "target": "clean"},
    {"id": "source->enrich", "source": "source", "target": "enrich"},
    {"id": "clean->join", "source": "clean", "target": "join"},
    {"id": "enrich->join", "source": "enrich", "target": "join"},
    {"id": "join->sink", "source": "join", "target": "sink"},
]
MARGIN_S = 1.0
# How long a customer waits for a page to settle before calling it broken.
PAGE_CAP_S = 15.0
TERMINAL = ("succeeded", "failed")
# What a workflow read must hold, by type: a body with these fields of other types is the
# workflow API's assertion, not a crash of the code that walks it.
WORKFLOW_TYPES: dict[str, type] = {"id": str, "version": int, "nodes": list, "edges": list}
SETTINGS = PackSettings(
    fixture_name=Setting(
        str, FIXTURE_NAME, "the workflow the canvas and run journeys open; kept by the pack"
    ),
    run_max_wait=Setting(
        Duration,
        "10s",
        "how long a run may stay unfinished before it counts as stuck (a customer's patience: "
        "shorter than the run journeys' timeout, or a stuck run is reported as a timeout)",
        patience=True,
    ),
)


WORKFLOWS = RestCollection("/api/workflows", items="workflows", search="name_prefix")


def budget_ms(ctx: StepContext, cap_s: float = 30.0) -> float:
    """Milliseconds a wait may take: what the step has left, less a margin."""
    return max(0.5, min(cap_s, ctx.remaining_s - MARGIN_S)) * 1000


def fixture_name(ctx: StepContext) -> str:
    return str(ctx.settings(SETTINGS).fixture_name)


def _graph(workflow: dict[str, Any]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """What the fixture must hold, by content: nodes (id, type, label) and edges."""
    nodes = {(n.get("id"), n.get("type"), n.get("label")) for n in workflow.get("nodes") or []}
    edges = {(e.get("source"), e.get("target")) for e in workflow.get("edges") or []}
    return nodes, edges


KNOWN_GRAPH = _graph({"nodes": FIXTURE_NODES, "edges": FIXTURE_EDGES})


async def ensure_fixture(ctx: StepContext) -> str:
    """The fixture workflow's id: found, else created, and repaired when its content drifted."""
    graph = {"nodes": FIXTURE_NODES, "edges": FIXTURE_EDGES}
    fixture = await WORKFLOWS.fixture(
        ctx, fixture_name(ctx), graph, types=WORKFLOW_TYPES,
        current=lambda workflow: _graph(workflow) == KNOWN_GRAPH,
        repair=lambda workflow: {"version": workflow["version"], **graph},
    )  # fmt: skip
    ctx.vars["fixture_id"] = str(fixture["id"])
    return str(fixture["id"])


async def sign_in(ctx: StepContext) -> None:
    """Log in through the login page, as a customer does."""
    page = ctx.page
    answer = await page.goto(f"{ctx.target.base_url}/login", timeout=budget_ms(ctx))
    if answer is not None and answer.status >= 400:
        raise AssertionError(f"the login page answered {answer.status}")
    await page.get_by_test_id("login-username").fill(ctx.target.username or "")
    password = ctx.target.password.reveal() if ctx.target.password else ""
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await ctx.wait(
        "the workflow list after signing in",
        lambda ms: expect(page.get_by_test_id("list-status")).to_have_text("ready", timeout=ms),
        cap_s=PAGE_CAP_S,
    )


async def open_canvas(ctx: StepContext, wf_id: str) -> dict[str, Any]:
    """Open the canvas; returns the workflow the page received from the API."""
    url = f"{ctx.target.base_url}/workflows/{wf_id}"
    return await _load_canvas(ctx, wf_id, lambda: ctx.page.goto(url, timeout=budget_ms(ctx)))


async def reload_canvas(ctx: StepContext, wf_id: str) -> dict[str, Any]:
    """Reload the open canvas; returns the workflow the page received from the API."""
    return await _load_canvas(ctx, wf_id, lambda: ctx.page.reload(timeout=budget_ms(ctx)))


async def _load_canvas(
    ctx: StepContext, wf_id: str, navigate: Callable[[], Awaitable[Any]]
) -> dict[str, Any]:
    async with ctx.page.expect_response(
        lambda r: r.url.endswith(f"/api/workflows/{wf_id}") and r.request.method == "GET",
        timeout=budget_ms(ctx),
    ) as answer:
        await navigate()
    return await canvas_ready(ctx, await answer.value)


async def canvas_ready(ctx: StepContext, response: Response | None = None) -> dict[str, Any]:
    """Wait until the canvas is ready or shows an error; a shown error fails at once, and the
    failed API answer behind it is the evidence that names the service."""
    page = ctx.page
    status = page.get_by_test_id("canvas-status")
    await ctx.wait(
        "the canvas to be drawn",
        lambda ms: expect(status).to_have_text(re.compile("^(ready|error)$"), timeout=ms),
        cap_s=PAGE_CAP_S,
    )
    if await status.text_content() == "error":
        detail = await page.get_by_test_id("canvas-error").text_content()
        if response is not None and response.ok:
            # The page could not use what the workflow API sent: that answer is the verdict.
            await ctx.read_json(response, types=WORKFLOW_TYPES)
        raise AssertionError(f"the canvas shows an error: {detail}")
    if response is None:
        return {}
    received: dict[str, Any] = await ctx.read_json(response, types=WORKFLOW_TYPES)
    return received


async def check_canvas_drawn(ctx: StepContext, received: dict[str, Any]) -> None:
    """Every fixture node and edge is drawn - and if not, whose fault that is."""
    expected_nodes = {n["id"] for n in FIXTURE_NODES}
    expected_edges = {(e["source"], e["target"]) for e in FIXTURE_EDGES}
    served_nodes = {n["id"] for n in received.get("nodes") or []}
    if served_nodes != expected_nodes:
        ctx.fail(
            f"the workflow API served {len(served_nodes)} of {len(expected_nodes)} nodes "
            f"(missing: {sorted(expected_nodes - served_nodes)})",
            service=WORKFLOW_SERVICE,
        )
    page = ctx.page
    drawn_nodes = set(
        await page.get_by_test_id("canvas-node").evaluate_all(
            "els => els.map(e => e.dataset.nodeId)"
        )
    )
    drawn_edges = {
        tuple(pair)
        for pair in await page.get_by_test_id("canvas-edge").evaluate_all(
            "els => els.map(e => [e.dataset.source, e.dataset.target])"
        )
    }
    if drawn_nodes != expected_nodes or drawn_edges != expected_edges:
        ctx.fail(
            f"the canvas says ready but drew {len(drawn_nodes)}/{len(expected_nodes)} nodes and "
            f"{len(drawn_edges)}/{len(expected_edges)} edges",
            service=FRONTEND,
        )


async def check_run(ctx: StepContext, run: dict[str, Any], node_ids: set[str]) -> None:
    """A finished run succeeded and produced a result for every node of the workflow."""
    if run["status"] == "failed":
        error = run.get("error") or {}
        ctx.reported_failure(
            str(error.get("service") or ORCHESTRATION),
            f"run {run.get('run_id')} failed: {error.get('message', 'no message')}",
        )
    output = run.get("output") or {}
    results = output.get("results") or {}
    missing = node_ids - set(results)
    if not output:
        ctx.fail(f"run {run.get('run_id')} succeeded with no output", service=ORCHESTRATION)
    if missing and not output.get("plan"):
        # An empty plan: did the optimizer plan nothing, or was it handed an empty workflow?
        answer = await ctx.api.get(f"/api/workflows/{ctx.vars['fixture_id']}")
        answer.raise_for_status()
        if not (await ctx.read_json(answer)).get("nodes"):
            ctx.fail(
                f"run {run.get('run_id')} ran nothing: workflow-service serves the workflow "
                "without nodes",
                service=WORKFLOW_SERVICE,
            )
        ctx.fail(
            f"run {run.get('run_id')} succeeded on an empty plan: the optimizer planned nothing",
            service=OPTIMIZER,
        )
    if missing:
        ctx.fail(
            f"run {run.get('run_id')} succeeded without results for {sorted(missing)}",
            service=ORCHESTRATION,
        )


async def run_through_api(ctx: StepContext, wf_id: str) -> dict[str, Any]:
    """Start a run and poll it with backoff until it is terminal. Still unfinished after the
    pack's `run_max_wait`: an assertion on whoever kept answering its state."""
    started = await ctx.api.post(f"/api/workflows/{wf_id}/runs", json={})
    started.raise_for_status()
    run_id = (await ctx.read_json(started, types={"run_id": str}))["run_id"]
    ctx.vars["run_id"] = run_id

    async def state() -> dict[str, Any]:
        answer = await ctx.api.get(f"/api/runs/{run_id}")
        answer.raise_for_status()
        run: dict[str, Any] = await ctx.read_json(answer, types={"status": str})
        return run

    return await ctx.poll(
        f"run {run_id} to finish",
        state,
        until=lambda run: run["status"] in TERMINAL,
        describe=lambda run: repr(run["status"]),
        cap_s=run_cap_s(ctx),
    )


def run_cap_s(ctx: StepContext) -> float:
    return float(ctx.settings(SETTINGS).run_max_wait)


async def run_from_canvas(ctx: StepContext) -> dict[str, Any]:
    """Press Run on the open canvas and wait for the run to end; returns what the page showed."""
    page = ctx.page
    await page.get_by_test_id("run-button").click()
    status = page.get_by_test_id("run-status")
    # The page polls /api/runs/{id}: whoever kept answering it is blamed when the run stays
    # unfinished past run_max_wait (a request still hanging is the better evidence, though).
    await ctx.wait(
        "the run to finish",
        lambda ms: expect(status).to_have_text(
            re.compile("^(succeeded|failed|error)$"), timeout=ms
        ),
        cap_s=run_cap_s(ctx),
        seen=status.text_content,
        watch="/api/runs/*",
    )
    shown = await status.text_content()
    run_id = await status.get_attribute("data-run-id")
    if shown == "error":
        detail = await page.get_by_test_id("run-error").text_content()
        raise AssertionError(f"the canvas could not run the workflow: {detail}")
    run: dict[str, Any] = {"run_id": run_id, "status": shown}
    if shown == "failed":
        error = page.get_by_test_id("run-error")
        run["error"] = {
            "service": await error.get_attribute("data-service"),
            "message": await error.text_content(),
        }
        return run
    text = await page.get_by_test_id("run-output").text_content()
    run["output"] = json.loads(text or "null")
    return run


# `prober-` workflows, never the fixture: what a sweep may remove once stale.
SWEEP = WORKFLOWS.sweep(prefix="prober-", max_age="1h", keep=lambda ctx: [fixture_name(ctx)])


async def delete_quietly(ctx: StepContext, wf_id: str) -> None:
    """The cleanup: remove a workflow this run created; already gone is fine."""
    await WORKFLOWS.delete(ctx, wf_id)
