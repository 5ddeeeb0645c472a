"""Verdicts on faults the platform never rehearsed: broken on the wire, between the prober and
the sandbox, by the wire proxy (the sandbox's own fault API is not involved).

Each row names the expected (error_type, failed_service, blame_source). Canned answers from the
proxy carry no `x-service` header - the platform never saw the request - so their blame comes
from the route map (`route`); answers the sandbox sent and the proxy only broke keep the
platform's own header (`platform`). No row passes with `step` unless it says why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober.artifacts import ArtifactStore
from prober.drivers.browser import BrowserDriver
from prober.journey import Journey
from prober.result import JourneyResult
from prober.runner import Runner
from tests import journeys_for_tests as j
from tests.graphs import create
from tests.loop_thread import LoopThread
from tests.targets import sandbox_target
from tests.wire_proxy import (
    HtmlErrorPage,
    RateLimit,
    Redirect,
    Reset,
    Respond,
    Rule,
    ThrowInPage,
    Truncate,
    WireProxy,
)

pytestmark = pytest.mark.browser
WF = "workflow-service"
FE = "frontend-monolith"


@pytest.fixture
def workflow(api: httpx.Client) -> Iterator[dict[str, Any]]:
    wf = create(api, "wire-fixture")
    yield wf
    api.delete(f"/api/workflows/{wf['id']}").raise_for_status()


@dataclass(frozen=True)
class Row:
    name: str
    rules: Callable[[str], list[Rule]]  # the workflow id -> rules to arm
    journey: str  # "api" | "browser"
    expected: tuple[str, str, str, str]  # error_type, failed_step, failed_service, blame_source
    in_message: str = ""  # a piece of the failure message that must be there


ROWS = [
    Row("500 on a page script", lambda wf: [Respond("GET", "/static/canvas.js", status=500,
                                                    body=b"script store down")],
        "browser", ("server_error", "open canvas", FE, "route"), "answered 500"),
    Row("uncaught exception injected into the canvas page",
        lambda wf: [ThrowInPage("GET", "/static/canvas.js", message="injected by the wire")],
        "browser", ("assertion", "open canvas", FE, "route"), "injected by the wire"),
    Row("truncated JSON with 200 (api)", lambda wf: [Truncate("GET", f"/api/workflows/{wf}")],
        "api", ("server_error", "read workflow", WF, "platform"), "not valid JSON"),
    Row("truncated JSON with 200 (browser)", lambda wf: [Truncate("GET", f"/api/workflows/{wf}")],
        "browser", ("server_error", "open canvas", WF, "platform"), "not valid JSON"),
    Row("HTML error page with 200 on an API route (api)",
        lambda wf: [HtmlErrorPage("GET", f"/api/workflows/{wf}")],
        "api", ("server_error", "read workflow", WF, "route"), "text/html"),
    Row("HTML error page with 200 on an API route (browser)",
        lambda wf: [HtmlErrorPage("GET", f"/api/workflows/{wf}")],
        "browser", ("server_error", "open canvas", WF, "route"), "text/html"),
    Row("redirect loop (api)", lambda wf: [Redirect("GET", f"/api/workflows/{wf}")],
        "api", ("server_error", "read workflow", WF, "route")),
    Row("redirect loop (browser)", lambda wf: [Redirect("GET", f"/workflows/{wf}")],
        "browser", ("server_error", "open canvas", FE, "route")),
    Row("429 on login", lambda wf: [RateLimit("POST", "/api/auth/login")],
        "api", ("client_error", "read workflow", WF, "route"), "answered 429"),
]  # fmt: skip


def build(kind: str, wf: dict[str, Any]) -> Journey:
    if kind == "api":
        return j.api_read(wf["id"], timeout="5s")
    return j.browser_canvas(wf["id"], len(wf["nodes"]))


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_wire_fault_table(
    row: Row,
    wire_proxy: WireProxy,
    workflow: dict[str, Any],
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path: Path,
) -> None:
    runner = Runner(browser=driver, artifacts=ArtifactStore(tmp_path / "artifacts"))
    for rule in row.rules(workflow["id"]):
        wire_proxy.add(rule)
    target = sandbox_target(wire_proxy.url)
    result: JourneyResult = loop.run(runner.run(build(row.journey, workflow), target))
    assert result.failure is not None, "the fault went unnoticed"
    got = (
        str(result.error_type),
        result.failed_step,
        result.failed_service,
        str(result.blame_source),
    )
    assert got == row.expected, json.dumps(result.to_json(), indent=1)
    assert row.in_message in result.failure.message, result.failure.message


def test_a_reset_on_the_canvas_api_fails_within_seconds(
    wire_proxy: WireProxy,
    workflow: dict[str, Any],
    loop: LoopThread,
    driver: BrowserDriver,
) -> None:
    """The page gives up on its API call at once; the journey must not wait out its deadline
    (here 30 s) for a canvas that cannot come."""
    wire_proxy.add(Reset("GET", f"/api/workflows/{workflow['id']}"))
    journey = j.browser_canvas(workflow["id"], len(workflow["nodes"]), timeout="30s")
    runner = Runner(browser=driver)
    result = loop.run(runner.run(journey, sandbox_target(wire_proxy.url)))
    ended = time.monotonic()
    assert (str(result.error_type), result.failed_service, str(result.blame_source)) == (
        "connection",
        WF,
        "route",
    ), json.dumps(result.to_json(), indent=1)
    assert wire_proxy.resets, "the proxy never reset the call"
    assert ended - wire_proxy.resets[0].at < 5.0, result.to_json()


def test_a_hung_login_obeys_the_request_timeout(
    wire_proxy: WireProxy, workflow: dict[str, Any], loop: LoopThread
) -> None:
    """The login request is built by the prober, not the journey; it still gets the target's
    request timeout (1 s here) instead of waiting out the journey's 20 s."""
    from tests.wire_proxy import Hang

    wire_proxy.add(Hang("POST", "/api/auth/login"))
    target = sandbox_target(wire_proxy.url, request_timeout_s=1.0)
    began = time.monotonic()
    result = loop.run(Runner().run(j.api_read(workflow["id"], timeout="20s"), target))
    took = time.monotonic() - began
    assert (str(result.error_type), result.failed_service) == ("timeout", WF), result.to_json()
    assert took < 10.0, f"the hung login held the run for {took:.1f}s"
