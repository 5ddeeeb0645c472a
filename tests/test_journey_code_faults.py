"""Journey code that misbehaves - exits, interrupts, blocks the event loop, has a bug - against a
real sandbox: always one run's result, never a traceback out of the prober; a `probe_error` on a
healthy platform (naming the journey's file and line), the target's failure when the target
failed first in the same step.

The journeys here are written for these tests (not the bundled packs): each misbehaves on
purpose, which no pack does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober import Journey, StepContext
from prober.artifacts import ArtifactStore
from prober.drivers.browser import BrowserDriver
from prober.result import JourneyResult, Status
from prober.runner import Runner
from tests.graphs import create
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess
from tests.targets import sandbox_target

WF = "workflow-service"


@pytest.fixture
def workflow(api: httpx.Client) -> Iterator[dict[str, Any]]:
    wf = create(api, "journey-code-fixture")
    yield wf
    api.delete(f"/api/workflows/{wf['id']}")


def journey(channel: str = "api", *, timeout: str = "5s") -> Journey:
    return Journey(
        f"misbehaving_{channel}",
        cuj="misbehaving",
        service=WF,
        team="test",
        channel=channel,
        timeout=timeout,
        retries=0,
    )


def run(loop: LoopThread, runner: Runner, built: Journey, url: str) -> JourneyResult:
    return loop.run(runner.run(built, sandbox_target(url)), timeout=60)


def reads_then(wf_id: str, misbehave: Callable[[], Any]) -> Callable[[StepContext], Any]:
    async def step(ctx: StepContext) -> None:
        await ctx.api.get(f"/api/workflows/{wf_id}")  # no raise_for_status: the code goes on
        misbehave()

    return step


def _exit() -> None:
    sys.exit(3)


def _interrupt() -> None:
    raise KeyboardInterrupt


def _bug() -> None:
    known: dict[str, str] = {}
    known["run"]  # the journey's bug under test


@pytest.mark.parametrize(
    ("misbehave", "raised"),
    [(_exit, "SystemExit"), (_interrupt, "KeyboardInterrupt"), (_bug, "KeyError")],
)
def test_journey_code_on_a_healthy_platform_is_a_probe_error_with_its_place(
    misbehave: Callable[[], None],
    raised: str,
    sandbox: SandboxProcess,
    workflow: dict[str, Any],
    loop: LoopThread,
) -> None:
    built = journey()
    built.add_step("read", reads_then(workflow["id"], misbehave), service=WF)
    result = run(loop, Runner(), built, sandbox.url)
    assert result.status is Status.PROBE_ERROR, result.to_json()
    assert result.failure is not None
    assert result.failure.exception == raised
    assert result.blame_source == "prober"
    # The journey's own line, so its owner can fix it.
    assert "tests/test_journey_code_faults.py:" in result.failure.message, result.failure.message


@pytest.mark.parametrize("misbehave", [_exit, _interrupt, _bug])
def test_journey_code_after_the_target_failed_is_the_target_failure(
    misbehave: Callable[[], None],
    sandbox: SandboxProcess,
    api: httpx.Client,
    workflow: dict[str, Any],
    loop: LoopThread,
) -> None:
    api.post(
        "/_sandbox/faults", json={"service": WF, "mode": "error", "path": "/api/workflows/*"}
    ).raise_for_status()
    built = journey()
    built.add_step("read", reads_then(workflow["id"], misbehave), service=WF)
    result = run(loop, Runner(), built, sandbox.url)
    assert result.status is Status.FAILURE, result.to_json()
    assert (result.error_type, result.failed_service, result.blame_source) == (
        "server_error",
        WF,
        "platform",
    )


def test_keyboard_interrupt_in_a_browser_step_stays_in_its_run(
    sandbox: SandboxProcess, loop: LoopThread, driver: BrowserDriver, tmp_path: Path
) -> None:
    """A browser step runs in a task of its own, which asyncio would let KeyboardInterrupt
    escape from, stopping the whole event loop: it must come back as the run's result."""
    built = journey("browser")

    async def interrupted(ctx: StepContext) -> None:
        await ctx.page.goto(f"{ctx.target.base_url}/login")
        raise KeyboardInterrupt

    built.add_step("open login", interrupted, service="frontend-monolith")
    runner = Runner(browser=driver, artifacts=ArtifactStore(tmp_path / "artifacts"))
    result = run(loop, runner, built, sandbox.url)
    assert result.status is Status.PROBE_ERROR, result.to_json()
    assert result.failure is not None and result.failure.exception == "KeyboardInterrupt"
    assert loop.run(_answer()) == 42  # the event loop is still alive


async def _answer() -> int:
    return 42


def test_a_step_that_blocks_the_event_loop_is_never_a_success(
    sandbox: SandboxProcess, workflow: dict[str, Any], loop: LoopThread
) -> None:
    built = journey(timeout="1s")

    async def blocking(ctx: StepContext) -> None:
        await ctx.api.get(f"/api/workflows/{workflow['id']}")
        time.sleep(1.5)  # noqa: ASYNC251 - a blocking call the deadline cannot interrupt

    built.add_step("read", blocking, service=WF)
    result = run(loop, Runner(), built, sandbox.url)
    assert result.status is Status.PROBE_ERROR, result.to_json()
    assert result.failure is not None
    assert "blocked the event loop" in result.failure.message
    assert result.final.steps[0].duration_s >= 1.5


def test_a_cleanup_that_exits_does_not_stop_the_prober(
    sandbox: SandboxProcess, workflow: dict[str, Any], loop: LoopThread
) -> None:
    built = journey()

    async def registers(ctx: StepContext) -> None:
        await ctx.api.get(f"/api/workflows/{workflow['id']}")
        ctx.cleanup(_exit, "exits")

    built.add_step("read", registers, service=WF)
    result = run(loop, Runner(cleanup_timeout_s=3), built, sandbox.url)
    assert result.status is Status.SUCCESS, result.to_json()
    assert result.final.cleanup_failures == ("read: exits",)
