"""The three CUJs of `journeys/workflows` against the reference platform: healthy, through the
fault matrix, and timed. (The healthy soak is a benchmark: scripts/bench --only soak.)"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober.drivers.browser import BrowserDriver
from prober.journey import Journey
from prober.loader import load_packs
from prober.result import JourneyResult, Status
from prober.runner import Runner
from prober.target import Target
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess
from tests.targets import repository_target

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
C, RB, RA = "workflow_canvas_load", "workflow_run_browser", "workflow_run_api"
CA, CB = "workflow_crud_api", "workflow_crud_browser"
ALL = (C, RB, RA, CA, CB)
WF, FE = "workflow-service", "frontend-monolith"
OE, OPT = "orchestration-engine", "optimizer-service"


@pytest.fixture(scope="module")
def journeys() -> dict[str, Journey]:
    report = load_packs(["journeys/workflows"], base=ROOT)
    assert report.problems == ()
    by_name = report.by_name()
    assert set(by_name) == set(ALL)
    return by_name


@pytest.fixture(scope="module")
def target(sandbox: SandboxProcess) -> Target:
    """The repository's own target, as shipped: the packs' verdicts are what users get."""
    return repository_target(sandbox.url)


@pytest.fixture(scope="module")
def runner(driver: BrowserDriver) -> Runner:
    # Cleanups that a hanging fault blocks give up after 3 s; the sweep test finds what is left.
    return Runner(browser=driver, cleanup_timeout_s=3)


def run_all(
    loop: LoopThread, runner: Runner, target: Target, journeys: list[Journey]
) -> list[JourneyResult]:
    """Run the journeys side by side, as the scheduler does."""

    async def together() -> list[JourneyResult]:
        return list(await asyncio.gather(*(runner.run(j, target) for j in journeys)))

    return loop.run(together(), timeout=300)


def prober_workflows(api: httpx.Client) -> list[str]:
    listed = api.get("/api/workflows", params={"name_prefix": "prober-"}).json()["workflows"]
    return sorted(w["name"] for w in listed)


def canvas_fixture_id(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
    api: httpx.Client,
) -> str:  # fmt: skip
    """The canvas fixture's id; a canvas run creates it first when this test runs alone."""
    listed = api.get("/api/workflows", params={"name_prefix": "prober-fixture"}).json()
    if not listed["workflows"]:
        result = loop.run(runner.run(journeys[C], target))
        assert result.status is Status.SUCCESS, result.to_json()
        listed = api.get("/api/workflows", params={"name_prefix": "prober-fixture"}).json()
    return str(listed["workflows"][0]["id"])


def test_every_journey_declares_its_slo_and_runbook(journeys: dict[str, Journey]) -> None:
    for journey in journeys.values():
        assert 0.9 <= journey.slo_target < 1
        assert journey.latency_threshold_s < journey.timeout_s <= journey.interval_s
        assert journey.runbook and journey.runbook.startswith("https://")
        assert journey.description
        assert journey.retries >= 1


def test_all_five_variants_pass_on_a_healthy_platform(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
    api: httpx.Client,
) -> None:  # fmt: skip
    for name in ALL:  # one after another: the first run also creates the canvas fixture
        result = loop.run(runner.run(journeys[name], target))
        assert result.status is Status.SUCCESS, result.to_json()
        assert result.within_slo, result.to_json()
        assert len(result.attempts) == 1
    assert prober_workflows(api) == ["prober-fixture-canvas"]


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: dict[str, Any]
    # journey -> (status, error_type, failed_step, failed_service); absent journeys must succeed
    expected: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    slow: tuple[str, ...] = ()  # journeys that succeed but outside their latency threshold


def _each(journeys: tuple[str, ...], error_type: str, step: str, service: str) -> dict[str, Any]:
    return {j: ("failure", error_type, step, service) for j in journeys}


API_PATHS = "/api/workflows/*"
BROWSER = (C, RB, CB)
RUNS = (RB, RA)
FIXTURED = (C, RB, RA)
SCENARIOS = [
    # The fixture is checked by content (GET /api/workflows/{id}) in each run's setup, so a
    # broken workflow-service fails the runs that need it right there, blamed on it.
    Scenario("workflow-service error", {"service": WF, "mode": "error", "path": API_PATHS}, {
        **_each(FIXTURED, "server_error", "ensure fixture", WF),
        CA: ("failure", "server_error", "edit and save", WF),
        CB: ("failure", "server_error", "create", WF)}),
    Scenario("workflow-service unavailable",
             {"service": WF, "mode": "unavailable", "path": API_PATHS}, {
        **_each(FIXTURED, "dependency_error", "ensure fixture", WF),
        CA: ("failure", "dependency_error", "edit and save", WF),
        CB: ("failure", "dependency_error", "create", WF)}),
    Scenario("workflow-service hang", {"service": WF, "mode": "hang", "path": API_PATHS}, {
        **_each(FIXTURED, "timeout", "ensure fixture", WF),
        CA: ("failure", "timeout", "edit and save", WF),
        CB: ("failure", "timeout", "create", WF)}),
    # The canvas reads one workflow-service URL once: its whole slowdown is this one delay.
    Scenario("workflow-service latency",
             {"service": WF, "mode": "latency", "delay_ms": 1200, "path": API_PATHS},
             slow=ALL),
    # Slower than the engine's own 2 s deadline for workflow-service (the test sandbox runs
    # with --upstream-timeout 2): latency on the fixture cascades into failed runs, blamed on
    # workflow-service, while the canvas merely loads slowly.
    Scenario("workflow-service latency past the engine's deadline",
             {"service": WF, "mode": "latency", "delay_ms": 3000,
              "path": "/api/workflows/{fixture}"},
             _each(RUNS, "dependency_error", "run workflow", WF), slow=(C,)),
    Scenario("frontend error", {"service": FE, "mode": "error"},
             _each(BROWSER, "server_error", "sign in", FE)),
    Scenario("frontend unavailable", {"service": FE, "mode": "unavailable"},
             _each(BROWSER, "dependency_error", "sign in", FE)),
    Scenario("frontend hang", {"service": FE, "mode": "hang"},
             _each(BROWSER, "timeout", "sign in", FE)),
    # Every page and static file is delayed: a browser journey loads at least two pages.
    Scenario("frontend latency", {"service": FE, "mode": "latency", "delay_ms": 800},
             slow=BROWSER),
    Scenario("engine error", {"service": OE, "mode": "error"},
             _each(RUNS, "server_error", "run workflow", OE)),
    Scenario("engine unavailable", {"service": OE, "mode": "unavailable"},
             _each(RUNS, "dependency_error", "run workflow", OE)),
    Scenario("engine hang", {"service": OE, "mode": "hang"},
             _each(RUNS, "timeout", "run workflow", OE)),
    Scenario("engine latency", {"service": OE, "mode": "latency", "delay_ms": 1200},
             slow=RUNS),
    Scenario("optimizer error", {"service": OPT, "mode": "error"},
             _each(RUNS, "dependency_error", "run workflow", OPT)),
    Scenario("optimizer unavailable", {"service": OPT, "mode": "unavailable"},
             _each(RUNS, "dependency_error", "run workflow", OPT)),
    Scenario("optimizer hang", {"service": OPT, "mode": "hang"},
             _each(RUNS, "dependency_error", "run workflow", OPT)),
    # The optimizer is called once per run, so its delay is the runs' whole slowdown: 1.6 s,
    # below the engine's 2 s deadline for it, so runs only slow down.
    Scenario("optimizer latency", {"service": OPT, "mode": "latency", "delay_ms": 1600},
             slow=RUNS),
    Scenario("silent blank_canvas", {"service": FE, "mode": "silent", "variant": "blank_canvas"}, {
        C: ("failure", "assertion", "open canvas", FE),
        CB: ("failure", "assertion", "verify saved", FE)}),
    Scenario("silent empty_nodes", {"service": WF, "mode": "silent", "variant": "empty_nodes"}, {
        C: ("failure", "assertion", "open canvas", WF),
        RB: ("failure", "assertion", "run workflow", WF),
        RA: ("failure", "assertion", "run workflow", WF),
        CA: ("failure", "assertion", "verify saved", WF),
        CB: ("failure", "assertion", "verify saved", WF)}),
    Scenario("silent lost_write", {"service": WF, "mode": "silent", "variant": "lost_write"},
             _each((CA, CB), "assertion", "verify saved", WF)),
    Scenario("silent stuck", {"service": OE, "mode": "silent", "variant": "stuck"},
             _each(RUNS, "assertion", "run workflow", OE)),
    Scenario("silent empty_output", {"service": OE, "mode": "silent", "variant": "empty_output"},
             _each(RUNS, "assertion", "run workflow", OE)),
    Scenario("silent empty_plan", {"service": OPT, "mode": "silent", "variant": "empty_plan"},
             _each(RUNS, "assertion", "run workflow", OPT)),
]  # fmt: skip

# Shorter deadlines than production so the matrix's 30 hangs and stuck runs cost seconds, not
# minutes: a run counts as stuck after 4 s of a 10 s timeout - the same share as the shipped
# 10 s of 20 s, which `validate` checks (the shipped values are tested in
# tests/test_wire_faults_packs.py's stuck-run row).
MATRIX_TIMEOUT = "10s"
LATENCY_TIMEOUT = "30s"
MATRIX_SETTINGS = {"run_max_wait": "4s"}


@pytest.fixture(scope="module")
def matrix_outcomes() -> dict[str, int]:
    return {"cleanup_failures": 0}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault_matrix(
    scenario: Scenario, loop: LoopThread, runner: Runner, sandbox: SandboxProcess,
    journeys: dict[str, Journey], api: httpx.Client, matrix_outcomes: dict[str, int],
) -> None:  # fmt: skip
    target = dataclasses.replace(repository_target(sandbox.url), settings=MATRIX_SETTINGS)
    fault = dict(scenario.fault)
    if "{fixture}" in fault.get("path", ""):
        fixture = canvas_fixture_id(loop, runner, target, journeys, api)
        fault["path"] = fault["path"].format(fixture=fixture)
    delay_s = fault.get("delay_ms", 0) / 1000
    variants = []
    for name in ALL:
        if name in scenario.slow:
            # A latency threshold of the injected delay itself: every affected journey makes at
            # least one delayed request, so a faulted run cannot come in under it, whatever the
            # machine's load (a threshold near a measured healthy baseline was a bet on noise).
            journey = journeys[name].replace(
                timeout=LATENCY_TIMEOUT, retries=0, latency_threshold=f"{delay_s:.3f}s"
            )
        elif scenario.slow:
            journey = journeys[name].replace(timeout=LATENCY_TIMEOUT, retries=0)
        else:
            journey = journeys[name].replace(timeout=MATRIX_TIMEOUT, retries=0)
        variants.append(journey)
    api.post("/_sandbox/faults", json=fault).raise_for_status()
    try:
        # Side by side, latency rows too: their checks only ask that a delay was at least felt.
        results = run_all(loop, runner, target, variants)
    finally:
        api.delete("/_sandbox/faults").raise_for_status()
    got = {}
    for result in results:
        matrix_outcomes["cleanup_failures"] += len(result.final.cleanup_failures)
        got[result.journey] = (
            str(result.status),
            result.error_type,
            result.failed_step,
            result.failed_service,
        )
    expected = {name: scenario.expected.get(name, ("success", None, None, None)) for name in ALL}
    assert got == expected, {r.journey: r.failure for r in results if r.failure}
    for result in results:
        seen = (result.journey, result.duration_s, [(s.name, s.duration_s) for s in result.steps])
        if result.journey in scenario.slow:
            assert result.within_slo is False, seen
            # The delay shows in the steps that met it, not only somewhere in the total.
            assert max(s.duration_s for s in result.steps) >= delay_s, seen
        elif scenario.slow and result.status is Status.SUCCESS:
            assert result.within_slo is True, seen


def test_after_the_matrix_only_the_fixture_is_left(
    loop: LoopThread, runner: Runner, sandbox: SandboxProcess, journeys: dict[str, Journey],
    api: httpx.Client, matrix_outcomes: dict[str, int],
) -> None:  # fmt: skip
    # Cleanups that a fault blocked left workflows behind; the sweep finds exactly those (at
    # once: the shipped sweep_max_age of 1h would leave them for an hour).
    sweeping = dataclasses.replace(repository_target(sandbox.url), settings={"sweep_max_age": "0s"})
    result = loop.run(runner.run(journeys[CA], sweeping))
    assert result.status is Status.SUCCESS, result.to_json()
    assert dict(result.final.annotations)["leftovers"] == matrix_outcomes["cleanup_failures"]
    assert prober_workflows(api) == ["prober-fixture-canvas"]


def _open_canvas_s(result: JourneyResult) -> float:
    assert result.status is Status.SUCCESS, result.to_json()
    return next(s.duration_s for s in result.steps if s.name == "open canvas")


def test_canvas_step_timing_follows_injected_latency(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
    api: httpx.Client,
) -> None:  # fmt: skip
    canvas = journeys[C].replace(retries=0)
    fixture = canvas_fixture_id(loop, runner, target, journeys, api)

    # Only what cannot flake: the step that met a 500 ms delay took at least 500 ms.
    # How close the reported time is to the delay is a benchmark figure (scripts/bench,
    # docs/performance.md), not a test.
    fault = {"service": WF, "mode": "latency", "delay_ms": 500, "path": f"/api/workflows/{fixture}"}
    api.post("/_sandbox/faults", json=fault).raise_for_status()
    try:
        result = loop.run(runner.run(canvas, target))
    finally:
        api.delete("/_sandbox/faults").raise_for_status()
    steps = {s.name: s.duration_s for s in result.steps}
    assert _open_canvas_s(result) >= 0.5, steps
