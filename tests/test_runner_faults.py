"""The fault table: every error type, classified and attributed, against the real sandbox."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober.artifacts import ArtifactStore
from prober.drivers.browser import BrowserDriver
from prober.journey import Journey
from prober.result import JourneyResult, Trigger
from prober.runner import Runner
from prober.target import Target
from tests import journeys_for_tests as j
from tests.graphs import create
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess
from tests.targets import sandbox_target

pytestmark = pytest.mark.browser


@pytest.fixture
def runner(driver: BrowserDriver, tmp_path: Path) -> Runner:
    return Runner(browser=driver, artifacts=ArtifactStore(tmp_path / "artifacts"))


@pytest.fixture
def workflow(api: httpx.Client) -> Iterator[dict[str, Any]]:
    wf = create(api, "runtime-fixture")
    yield wf
    api.delete("/_sandbox/faults")  # a fault left by the test must not block the teardown
    api.delete(f"/api/workflows/{wf['id']}").raise_for_status()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Case:
    name: str
    faults: tuple[dict[str, Any], ...]
    journey: str  # "api" | "run" | "browser" | "broken"
    expected: tuple[str, str | None, str | None, str | None]
    target: Callable[[str], Target] | None = None
    browser: BrowserDriver | None = None


CASES = [
    Case("5xx on the step's own service", ({"service": "workflow-service", "mode": "error"},),
         "api", ("failure", "server_error", "read workflow", "workflow-service")),
    Case("4xx from the service", ({"service": "workflow-service", "mode": "error", "status": 404,
                                   "path": "/api/workflows/*"},),
         "api", ("failure", "client_error", "read workflow", "workflow-service")),
    Case("4xx: rejected credentials", (), "api",
         ("failure", "client_error", "read workflow", "workflow-service"),
         target=lambda url: sandbox_target(url, password="wrong-password")),
    Case("unavailable service, direct call", ({"service": "workflow-service",
                                              "mode": "unavailable", "path": "/api/workflows/*"},),
         "api", ("failure", "dependency_error", "read workflow", "workflow-service")),
    Case("unavailable upstream of a run", ({"service": "optimizer-service",
                                           "mode": "unavailable"},),
         "run", ("failure", "dependency_error", "wait for result", "optimizer-service")),
    Case("workflow-service down behind the engine", ({"service": "workflow-service",
                                                     "mode": "error", "path": "/api/workflows/*"},),
         "run", ("failure", "dependency_error", "start run", "workflow-service")),
    Case("canvas API answers 503", ({"service": "workflow-service", "mode": "unavailable",
                                    "path": "/api/workflows/*"},),
         "browser", ("failure", "dependency_error", "open canvas", "workflow-service")),
    # workflow-service's own 500: its server_error, as over the API (one fault, one verdict).
    Case("canvas API answers 500", ({"service": "workflow-service", "mode": "error",
                                    "path": "/api/workflows/*"},),
         "browser", ("failure", "server_error", "open canvas", "workflow-service")),
    Case("connection refused (api)", (), "api",
         ("failure", "connection", "read workflow", "workflow-service"),
         target=lambda url: sandbox_target(f"http://127.0.0.1:{free_port()}")),
    Case("connection refused (browser)", (), "browser",
         ("failure", "connection", "sign in", "frontend-monolith"),
         target=lambda url: sandbox_target(f"http://127.0.0.1:{free_port()}")),
    Case("DNS failure", (), "api", ("failure", "connection", "read workflow", "workflow-service"),
         target=lambda url: sandbox_target("http://probe-target.invalid:8000")),
    Case("hang past the deadline (api)", ({"service": "workflow-service", "mode": "hang",
                                          "path": "/api/workflows/*"},),
         "api", ("failure", "timeout", "read workflow", "workflow-service")),
    Case("hang past the deadline (browser)", ({"service": "workflow-service", "mode": "hang",
                                              "path": "/api/workflows/*"},),
         "browser", ("failure", "timeout", "open canvas", "workflow-service")),
    Case("silent: workflow without nodes", ({"service": "workflow-service", "mode": "silent",
                                            "variant": "empty_nodes"},),
         "api", ("failure", "assertion", "read workflow", "workflow-service")),
    Case("silent: blank canvas", ({"service": "frontend-monolith", "mode": "silent"},),
         "browser", ("failure", "assertion", "open canvas", "frontend-monolith")),
    Case("silent: run stuck in queued", ({"service": "orchestration-engine", "mode": "silent"},),
         "run", ("failure", "timeout", "wait for result", "orchestration-engine")),
    Case("silent: run without output", ({"service": "orchestration-engine", "mode": "silent",
                                        "variant": "empty_output"},),
         "run", ("failure", "assertion", "wait for result", "orchestration-engine")),
    Case("journey code raises TypeError", (), "broken",
         ("probe_error", "probe_error", "compute", "cuj-prober")),
    Case("Chromium missing", (), "browser", ("probe_error", "probe_error", "setup", "cuj-prober"),
         browser=BrowserDriver("/nonexistent/chromium")),
    Case("healthy api", (), "api", ("success", None, None, None)),
    Case("healthy run", (), "run", ("success", None, None, None)),
    Case("healthy browser", (), "browser", ("success", None, None, None)),
]  # fmt: skip


def build(kind: str, wf: dict[str, Any]) -> Journey:
    if kind == "api":
        return j.api_read(wf["id"], timeout="3s")
    if kind == "run":
        return j.api_run(wf["id"])
    if kind == "browser":
        return j.browser_canvas(wf["id"], len(wf["nodes"]))
    return j.broken_code()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_table(
    case: Case,
    sandbox: SandboxProcess,
    api: httpx.Client,
    workflow: dict[str, Any],
    loop: LoopThread,
    runner: Runner,
    tmp_path: Path,
) -> None:
    for fault in case.faults:
        api.post("/_sandbox/faults", json=fault).raise_for_status()
    target = (case.target or sandbox_target)(sandbox.url)
    if case.browser is not None:
        runner = Runner(browser=case.browser, artifacts=ArtifactStore(tmp_path / "a2"))
    result: JourneyResult = loop.run(runner.run(build(case.journey, workflow), target, Trigger.CI))
    got = (str(result.status), result.error_type, result.failed_step, result.failed_service)
    assert got == case.expected, json.dumps(result.to_json(), indent=1)
    assert result.trigger is Trigger.CI
    if result.failure is not None:
        assert result.failure.message
    if case.name == "Chromium missing":
        assert "/nonexistent/chromium" in (result.failure.message if result.failure else "")
