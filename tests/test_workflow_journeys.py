"""The three CUJs of `journeys/workflows` against the reference platform: healthy, through the
fault matrix, and timed. (The 50-run healthy soak is a benchmark: scripts/bench_soak.py.)"""

from __future__ import annotations

import asyncio
import statistics
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
from tests.targets import sandbox_target

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
    return sandbox_target(sandbox.url)


@pytest.fixture(scope="module")
def runner(driver: BrowserDriver) -> Runner:
    return Runner(browser=driver)


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
SCENARIOS = [
    Scenario("workflow-service error", {"service": WF, "mode": "error", "path": API_PATHS}, {
        C: ("failure", "dependency_error", "open canvas", WF),
        RB: ("failure", "dependency_error", "open canvas", WF),
        RA: ("failure", "dependency_error", "run workflow", WF),
        CA: ("failure", "server_error", "edit and save", WF),
        CB: ("failure", "server_error", "create", WF)}),
    Scenario("workflow-service unavailable",
             {"service": WF, "mode": "unavailable", "path": API_PATHS}, {
        C: ("failure", "dependency_error", "open canvas", WF),
        RB: ("failure", "dependency_error", "open canvas", WF),
        RA: ("failure", "dependency_error", "run workflow", WF),
        CA: ("failure", "dependency_error", "edit and save", WF),
        CB: ("failure", "dependency_error", "create", WF)}),
    Scenario("workflow-service hang", {"service": WF, "mode": "hang", "path": API_PATHS}, {
        C: ("failure", "timeout", "open canvas", WF),
        RB: ("failure", "timeout", "open canvas", WF),
        RA: ("failure", "dependency_error", "run workflow", WF),
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

# Shorter deadlines than production so hangs cost seconds, and a run counts as stuck after 4 s.
MATRIX_TIMEOUT = "10s"
LATENCY_TIMEOUT = "30s"
MATRIX_SETTINGS = {"run_max_wait_s": "4"}


@pytest.fixture(scope="module")
def matrix_outcomes() -> dict[str, int]:
    return {"cleanup_failures": 0}


def healthy_durations(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
    names: tuple[str, ...],
) -> dict[str, float]:  # fmt: skip
    """Each named journey's duration on the healthy platform, measured just before a latency
    scenario so both sides of the comparison see the same machine load: the median of three
    runs, so neither a cold first run (fixture creation, empty caches) nor one lucky fast run
    sets the bar."""
    durations: dict[str, float] = {}
    for name in names:
        runs = []
        for _ in range(3):
            result = loop.run(runner.run(journeys[name], target, retries=0))
            assert result.status is Status.SUCCESS, result.to_json()
            runs.append(result.duration_s)
        durations[name] = statistics.median(runs)
    return durations


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault_matrix(
    scenario: Scenario, loop: LoopThread, runner: Runner, sandbox: SandboxProcess,
    journeys: dict[str, Journey], api: httpx.Client, matrix_outcomes: dict[str, int],
) -> None:  # fmt: skip
    target = sandbox_target(sandbox.url, settings=MATRIX_SETTINGS)
    fault = dict(scenario.fault)
    if "{fixture}" in fault.get("path", ""):
        fixture = canvas_fixture_id(loop, runner, target, journeys, api)
        fault["path"] = fault["path"].format(fixture=fixture)
    delay_s = fault.get("delay_ms", 0) / 1000
    baseline = healthy_durations(loop, runner, target, journeys, scenario.slow)
    variants = []
    for name in ALL:
        if name in scenario.slow:
            # A threshold half the injected delay above the healthy run: the fault slows each of
            # these journeys by at least 1.2 s (one delay of 1.2 s or more, or two of 0.8 s), so
            # the run would have to come in 0.6 s or more *faster* than its healthy median to
            # stay under it. The other journeys of a latency row keep their declared thresholds
            # (8-15 s): they must stay within their SLO. (A threshold near their healthy duration
            # too made the check a bet on machine noise: one CI run's untouched API journey
            # spiked 0.67 s over it.)
            threshold = f"{baseline[name] + delay_s / 2:.3f}s"
            journey = journeys[name].replace(
                timeout=LATENCY_TIMEOUT, retries=0, latency_threshold=threshold
            )
        elif scenario.slow:
            journey = journeys[name].replace(timeout=LATENCY_TIMEOUT, retries=0)
        else:
            journey = journeys[name].replace(timeout=MATRIX_TIMEOUT, retries=0)
        variants.append(journey)
    api.post("/_sandbox/faults", json=fault).raise_for_status()
    try:
        if scenario.slow:  # one at a time, so durations measure the fault, not contention
            results = [loop.run(runner.run(j, target)) for j in variants]
        else:
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
        seen = (result.journey, result.duration_s, baseline.get(result.journey), delay_s)
        if result.journey in scenario.slow:
            assert result.within_slo is False, seen
        elif scenario.slow and result.status is Status.SUCCESS:
            assert result.within_slo is True, seen


def test_after_the_matrix_only_the_fixture_is_left(
    loop: LoopThread, runner: Runner, sandbox: SandboxProcess, journeys: dict[str, Journey],
    api: httpx.Client, matrix_outcomes: dict[str, int],
) -> None:  # fmt: skip
    # Cleanups that a fault blocked left workflows behind; the sweep finds exactly those.
    sweeping = sandbox_target(sandbox.url, settings={"sweep_max_age_s": "0"})
    result = loop.run(runner.run(journeys[CA], sweeping))
    assert result.status is Status.SUCCESS, result.to_json()
    assert dict(result.final.annotations)["swept"] == matrix_outcomes["cleanup_failures"]
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

    def open_canvas_s() -> float:
        return _open_canvas_s(loop.run(runner.run(canvas, target)))

    # Healthy and slowed runs alternate, and the median of the paired differences is compared,
    # so a change in machine load during the test moves both sides of each pair alike.
    fault = {"service": WF, "mode": "latency", "delay_ms": 500, "path": f"/api/workflows/{fixture}"}
    open_canvas_s()  # warm caches
    pairs = []
    for _ in range(7):
        healthy = open_canvas_s()
        api.post("/_sandbox/faults", json=fault).raise_for_status()
        try:
            slowed = open_canvas_s()
        finally:
            api.delete("/_sandbox/faults").raise_for_status()
        pairs.append((healthy, slowed))
    growth = statistics.median(slowed - healthy for healthy, slowed in pairs)
    assert 0.45 <= growth <= 0.55, pairs
