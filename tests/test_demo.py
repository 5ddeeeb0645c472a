"""`prober demo --quick`, as CI and a newcomer run it: a real sandbox, real Chromium, a real UDP
receiver, real faults. The story must hold: the outage is blamed on the optimizer, the stuck
runs on the engine, both recover, and the receiver got every metric the run exercised."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from prober import metrics as m
from prober.commands.demo import contract
from prober.commands.demo_receiver import EVENT
from prober.dogstatsd_wire import decode_line
from tests.prober_cli import CONFIG, prober

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any], Path]:
    """One quick demo for every test of this module, run from an empty folder (the demo writes
    .prober/demo/ under the working directory)."""
    cwd = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    # An agent address in the shell must not take the demo's metrics from its receiver.
    env["DD_AGENT_HOST"] = "192.0.2.1"
    done = prober("demo", "--quick", "-c", str(CONFIG), env=env, cwd=cwd, timeout=150)
    story_path = cwd / ".prober" / "demo" / "story.json"
    assert story_path.exists(), done.stdout + done.stderr
    return done.returncode, done.stdout, json.loads(story_path.read_text()), cwd


def _fault(story: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(f for f in story["faults"] if f["kind"] == kind)


def test_the_story_holds_and_exits_0(demo: tuple[int, str, dict[str, Any], Path]) -> None:
    code, stdout, story, _ = demo
    assert code == 0, stdout
    assert story["held"] is True
    assert story["quick"] is True
    assert set(story["journeys"]) == {"workflow_run_api", "workflow_run_browser",
                                      "workflow_crud_api"}  # fmt: skip


def test_the_outage_is_a_dependency_error_of_the_optimizer(
    demo: tuple[int, str, dict[str, Any], Path],
) -> None:
    _, stdout, story, _ = demo
    outage = _fault(story, "hard outage")
    assert outage["fault"] == {"service": "optimizer-service", "mode": "unavailable"}
    assert outage["failed"]["workflow_run_api"] == {
        "dependency_error on optimizer-service": sum(outage["failed"]["workflow_run_api"].values())
    }
    first = outage["first_failure"]
    assert first["at"] >= outage["injected_at"]
    assert first["trace_id"] and first["blame_source"] in ("platform", "route", "author")
    assert "workflow_crud_api" in outage["stayed_green"]  # the outage hits one CUJ, not all
    assert outage["platform_answers"].get("5xx", 0) >= 1
    assert outage["recovered_at"] > outage["cleared_at"]
    assert "blamed service       optimizer-service" in stdout


def test_the_stuck_runs_are_an_assertion_of_the_engine_that_no_status_code_shows(
    demo: tuple[int, str, dict[str, Any], Path],
) -> None:
    _, stdout, story, _ = demo
    silent = _fault(story, "silent failure")
    assert silent["fault"]["variant"] == "stuck"
    verdicts = silent["failed"]["workflow_run_api"]
    assert verdicts == {"assertion on orchestration-engine": sum(verdicts.values())}
    assert silent["first_failure"]["at"] >= silent["injected_at"]
    # Every answer of the platform was fine while runs were stuck: only the journey noticed.
    assert silent["platform_answers"].get("5xx", 0) == 0
    assert silent["platform_answers"]["2xx"] > 0
    assert silent["recovered_at"] > silent["cleared_at"]
    assert "no 5xx, so an error-rate alert or a health check saw nothing" in stdout


def test_the_receiver_got_every_metric_the_run_exercised(
    demo: tuple[int, str, dict[str, Any], Path],
) -> None:
    _, stdout, story, _ = demo
    got = story["datagrams"]
    # Finished runs, failing/recovered events, serve's heartbeat, the CRUD journey's sweep.
    exercised = [m.RUNS, m.DURATION, m.STEP_DURATION, m.ATTEMPTS, m.CAN_COMPLETE, EVENT,
                 m.HEARTBEAT, m.LEFTOVERS]  # fmt: skip
    for key in exercised:
        assert got.get(key, {}).get("count", 0) > 0, f"no {key} datagram: {sorted(got)}"
        point = decode_line(got[key]["example"])
        assert (point.kind == "event") if key == EVENT else (point.name == key)
    assert "undecodable" not in got
    # Runs were counted at the receiver as they finished (the same number the store holds).
    assert got[m.RUNS]["count"] == story["runs"]
    for key in exercised:
        assert key in stdout


def test_the_summary_lists_the_whole_metric_contract() -> None:
    declared = {v for k, v in vars(m).items() if k.isupper() and str(v).startswith("cuj.")}
    assert declared <= set(contract())


def test_slo_status_and_terraform_are_written(demo: tuple[int, str, dict[str, Any], Path]) -> None:
    _, stdout, story, cwd = demo
    assert "$ prober slo status --window" in stdout
    assert "fast_burn (page)" in stdout  # the outage burnt the run journeys' budget
    terraform = cwd / story["terraform"]
    assert (terraform / "main.tf").is_file()
    assert (terraform / "modules" / "datadog_cuj_slo" / "main.tf").is_file()
