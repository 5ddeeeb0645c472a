"""journeys/nodered against a real Node-RED 4.1.8 with adminAuth (started by scripts/nodered).

Healthy runs in a row, alone and together under `prober smoke` with examples/nodered.yaml, and
the real faults: Node-RED stopped, a wrong password that must not lock the admin out, a flow
deleted or broken out-of-band, the editor on a tab that does not exist, Node-RED killed mid-run.
(Ten in a row is scripts/bench_nodered.py; make test keeps to three to stay fast.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prober import StepContext
from prober.config import load_config
from prober.drivers.browser import BrowserDriver
from prober.journey import Journey, StepFn
from prober.loader import load_packs
from prober.result import JourneyResult, Status
from prober.runner import Runner
from prober.target import Secret, Target
from scripts.nodered import USERNAME, NodeRed, start
from tests.loop_thread import LoopThread
from tests.prober_cli import prober

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "nodered.yaml"
PASSWORD = "prober-nodered-test-pass"  # a throwaway server's
CANVAS, RUN = "nodered_canvas_load", "nodered_workflow_run"
CRUD_API, CRUD_BROWSER = "nodered_crud_api", "nodered_crud_browser"
ALL = (CANVAS, RUN, CRUD_API, CRUD_BROWSER)
ADMIN, FLOWS, EDITOR = "nodered-admin-api", "nodered-flows", "nodered-editor"
# make test's share of the budget; scripts/bench_nodered.py --runs 10 is the 10-in-a-row check.
IN_A_ROW = 2


@pytest.fixture(scope="session")
def nodered() -> Iterator[NodeRed]:
    server = start(PASSWORD)
    yield server
    server.stop(remove=True)


def env_for(server: NodeRed, workdir: Path, password: str = PASSWORD) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    env.update(NODERED_URL=server.url, NODERED_PASSWORD=password,
               PROBER_STORE__PATH=str(workdir / "results.db"),
               PROBER_ARTIFACTS__PATH=str(workdir / "artifacts"),
               PROBER_DATADOG__STATSD_URL="udp://127.0.0.1:9")  # fmt: skip
    return env


@pytest.fixture(scope="module")
def target(nodered: NodeRed, tmp_path_factory: pytest.TempPathFactory) -> Target:
    """The example config's target, with a short request timeout so faults fail fast."""
    loaded = load_config(EXAMPLE, env_for(nodered, tmp_path_factory.mktemp("nodered")))
    found = loaded.targets()["nodered"]
    settings = {**found.settings, "route_wait": "1s", "run_wait": "2s"}
    return dataclasses.replace(found, request_timeout_s=3.0, settings=settings)


@pytest.fixture(scope="module")
def journeys() -> dict[str, Journey]:
    report = load_packs(["journeys/nodered"], base=ROOT)
    assert report.problems == ()
    assert set(report.by_name()) == set(ALL)
    return report.by_name()


@pytest.fixture(scope="module")
def runner(driver: BrowserDriver) -> Runner:
    return Runner(browser=driver, cleanup_timeout_s=5)


def admin(server: NodeRed, password: str = PASSWORD) -> httpx.Client:
    """An httpx client logged in to the admin API (a successful login clears Node-RED's count)."""
    client = httpx.Client(base_url=server.url, timeout=5)
    answer = client.post("/auth/token", json={
        "client_id": "node-red-admin", "grant_type": "password", "scope": "*",
        "username": USERNAME, "password": password})  # fmt: skip
    answer.raise_for_status()
    client.headers["authorization"] = f"Bearer {answer.json()['access_token']}"
    return client


def prober_tabs(server: NodeRed) -> list[str]:
    client = admin(server)
    try:
        flows = client.get("/flows", headers={"Node-RED-API-Version": "v2"}).json()["flows"]
    finally:
        client.close()
    return sorted(n["label"] for n in flows if n["type"] == "tab")


def verdict(result: JourneyResult) -> tuple[str, str | None, str | None, str | None]:
    return (str(result.status), result.error_type, result.failed_step, result.failed_service)


def said(result: JourneyResult) -> str:
    failure = result.final.failure
    return "" if failure is None else f"{failure.message} {failure.evidence or ''}"


def run(loop: LoopThread, runner: Runner, journey: Journey, target: Target) -> JourneyResult:
    return loop.run(runner.run(journey, target, retries=0), timeout=60)


def test_each_journey_passes_in_a_row_and_leaves_only_the_fixture(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
    nodered: NodeRed,
) -> None:  # fmt: skip
    for name in ALL:
        for _ in range(IN_A_ROW):
            result = run(loop, runner, journeys[name], target)
            assert result.status is Status.SUCCESS, result.to_json()
    assert prober_tabs(nodered) == ["prober-fixture"]


def test_the_pack_passes_together_under_prober_smoke(nodered: NodeRed, tmp_path: Path) -> None:
    env = env_for(nodered, tmp_path)
    for _ in range(IN_A_ROW - 1):
        done = prober("smoke", "-c", str(EXAMPLE), "--junit", str(tmp_path / "j.xml"), env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        junit = (tmp_path / "j.xml").read_text(encoding="utf-8")
        assert 'tests="4"' in junit and 'failures="0"' in junit, junit
    assert PASSWORD not in (tmp_path / "j.xml").read_text(encoding="utf-8")
    assert prober_tabs(nodered) == ["prober-fixture"]


def with_fault(journey: Journey, after: str, name: str, fault: StepFn) -> Journey:
    """A copy of `journey` with the step `fault` inserted after the step `after`."""
    faulty = journey.replace()
    faulty.steps = []
    for step in journey.steps:
        faulty.add_step(step.name, step.fn, service=step.service, phase=step.phase)
        if step.name == after:
            faulty.add_step(name, fault, service=ADMIN, phase=step.phase)
    return faulty


def test_nodered_stopped_is_a_connection_failure(
    loop: LoopThread, driver: BrowserDriver, target: Target, journeys: dict[str, Journey],
    nodered: NodeRed,
) -> None:  # fmt: skip
    fresh = Runner(browser=driver, cleanup_timeout_s=2)  # no API session yet: it must log in
    nodered.stop()
    try:
        # The first step to reach Node-RED: the kit's sweep, or signing the browser in.
        for name, step in ((RUN, "sweep leftovers"), (CANVAS, "sign in (session)")):
            result = run(loop, fresh, journeys[name], target)
            assert verdict(result) == ("failure", "connection", step, ADMIN), result.to_json()
    finally:
        nodered.restart(PASSWORD)


def test_a_wrong_password_fails_on_login_and_never_locks_the_admin_out(
    loop: LoopThread, driver: BrowserDriver, target: Target, journeys: dict[str, Journey],
    nodered: NodeRed,
) -> None:  # fmt: skip
    wrong = dataclasses.replace(target, password=Secret("not-the-password"))
    one_runner = Runner(browser=driver)  # one process: its login gate holds logins back
    for _ in range(21):
        result = run(loop, one_runner, journeys[CRUD_API], wrong)
        expected = ("failure", "client_error", "sweep leftovers", ADMIN)
        assert verdict(result) == expected, result.to_json()
        assert "not-the-password" not in str(result.to_json())
    admin(nodered).close()  # Node-RED locks a user after more than 5 attempts in 10 minutes


def test_a_flow_deleted_out_of_band_before_the_run_fails_the_run(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
) -> None:  # fmt: skip
    async def delete_it(ctx: StepContext) -> None:
        (await ctx.api.delete(f"/flow/{ctx.vars['flow_id']}")).raise_for_status()

    faulty = with_fault(journeys[RUN], "create flow", "delete out of band", delete_it)
    result = run(loop, runner, faulty, target)
    assert verdict(result) == ("failure", "assertion", "run over http", FLOWS), result.to_json()
    assert "/prober/run/" in said(result)


def test_a_function_node_that_throws_is_a_server_error_of_the_flow(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
) -> None:  # fmt: skip
    async def break_it(ctx: StepContext) -> None:
        flow = f"/flow/{ctx.vars['flow_id']}"
        stored = (await ctx.api.get(flow)).json()
        for node in stored["nodes"]:
            if node["type"] == "function":
                node["func"] = "throw new Error('compute broke');"
        (await ctx.api.put(flow, json=stored)).raise_for_status()
        # PUT answers while the old flow still serves the route: wait until the break is live.
        deadline = time.monotonic() + 5
        while (await ctx.api.post(ctx.vars["url"], json={"n": 1})).status_code != 500:
            assert time.monotonic() < deadline, "the broken flow never answered 500"
            await asyncio.sleep(0.05)

    faulty = with_fault(journeys[RUN], "create flow", "break compute", break_it)
    result = run(loop, runner, faulty, target)
    assert verdict(result) == ("failure", "server_error", "run over http", FLOWS), said(result)
    assert "answered 500" in said(result)


def test_the_editor_on_a_tab_that_does_not_exist_is_an_assertion(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
) -> None:  # fmt: skip
    async def missing_tab(ctx: StepContext) -> None:
        ctx.vars["flow_id"] = "0123456789abcdef"

    faulty = with_fault(journeys[CANVAS], "ensure fixture", "point at a missing tab", missing_tab)
    result = run(loop, runner, faulty, target)
    assert verdict(result) == ("failure", "assertion", "open editor", EDITOR), result.to_json()
    assert "0123456789abcdef" in said(result)


def test_nodered_killed_mid_run_leaves_no_flow_after_the_next_run(
    loop: LoopThread, runner: Runner, target: Target, journeys: dict[str, Journey],
    nodered: NodeRed,
) -> None:  # fmt: skip
    async def kill(ctx: StepContext) -> None:
        nodered.kill()

    faulty = with_fault(journeys[RUN], "create flow", "kill node-red", kill)
    try:
        result = run(loop, runner, faulty, target)
        assert verdict(result) == ("failure", "connection", "run over http", FLOWS), (
            result.to_json()
        )
    finally:
        nodered.restart(PASSWORD)
    assert any(t.startswith(f"prober-{RUN}-") for t in prober_tabs(nodered))  # left behind
    # Runs are one at a time here, so every prober- flow but the fixture is a leftover.
    sweeping = dataclasses.replace(target, settings={**target.settings, "sweep_max_age": "0s"})
    result = run(loop, runner, journeys[CRUD_API], sweeping)
    assert result.status is Status.SUCCESS, result.to_json()
    assert set(prober_tabs(nodered)) <= {"prober-fixture"}
