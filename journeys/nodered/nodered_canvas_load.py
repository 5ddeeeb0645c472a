"""CUJ: a user opens a known flow in the Node-RED editor and sees all of it on the canvas.

Succeeds only when the editor opens with the fixture's tab active and every node and wire of it
drawn. The fixture tab is created once and PUT back whenever its nodes drift (by content), in a
setup step; the browser starts signed in with the API's token (the target's `auth.browser`).
"""

from prober import Journey, StepContext

from ._nodered import ADMIN, EDITOR, GROUP, RUNBOOK, SETTINGS, ensure_fixture, open_editor

IDS = ["c0ffee0000000001", "c0ffee0000000002", "c0ffee0000000003", "c0ffee0000000004"]
FIXTURE = [
    {"id": IDS[0], "type": "inject", "name": "Read events", "props": [{"p": "payload"}],
     "payloadType": "date", "repeat": "", "once": False, "x": 140, "y": 80, "wires": [[IDS[1]]]},
    {"id": IDS[1], "type": "function", "name": "Clean", "func": "return msg;", "outputs": 1,
     "x": 320, "y": 80, "wires": [[IDS[2], IDS[3]]]},
    {"id": IDS[2], "type": "change", "name": "Enrich", "rules": [], "x": 500, "y": 60,
     "wires": [[IDS[3]]]},
    {"id": IDS[3], "type": "debug", "name": "Write table", "x": 680, "y": 80, "wires": []},
]  # fmt: skip
WIRES = sum(len(port) for node in FIXTURE for port in node["wires"])

canvas_load = Journey(
    "nodered_canvas_load",
    cuj="workflow_canvas_load",
    service=EDITOR,
    team="web-platform",
    channel="browser",
    interval="60s",
    timeout="20s",
    retries=1,
    latency_threshold="10s",
    slo_target=0.995,
    description="Open the Node-RED editor on the fixture flow; its tab, nodes and wires drawn.",
    runbook=RUNBOOK.format("canvas-load"),
    group=GROUP,
    settings=SETTINGS,
)


@canvas_load.setup("ensure fixture", service=ADMIN)
async def ensure(ctx: StepContext) -> None:
    ctx.vars["flow_id"] = await ensure_fixture(ctx, FIXTURE)


@canvas_load.step("open editor")
async def open_canvas(ctx: StepContext) -> None:
    await open_editor(ctx, ctx.vars["flow_id"], IDS, WIRES)
