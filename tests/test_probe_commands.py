"""`prober run`, `prober smoke`, `list`, `validate` as child processes against the sandbox."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prober.store import ResultStore
from tests.background_agent import BackgroundAgent
from tests.prober_cli import prober, prober_env
from tests.sandbox_process import SandboxProcess

RUN_JSON_KEYS = {"journey", "target", "status", "error_type", "failed_step", "failed_service",
               "duration_s", "within_slo", "trigger", "run_id", "trace_id", "attempts",
               "artifacts", "steps"}  # fmt: skip
STEP_KEYS = {"name", "service", "status", "duration_s", "error"}
API_JOURNEYS = ["workflow_crud_api", "workflow_run_api"]
ENGINE_DOWN = {"service": "orchestration-engine", "mode": "error", "status": 500}


@pytest.fixture
def agent() -> Iterator[BackgroundAgent]:
    with BackgroundAgent() as listening:
        yield listening


@pytest.fixture
def env(sandbox: SandboxProcess, tmp_path: Path, agent: BackgroundAgent) -> dict[str, str]:
    return prober_env(sandbox.url, tmp_path, agent.url)


def test_run_json_prints_one_object_per_run_with_the_design_keys(
    env: dict[str, str], agent: BackgroundAgent, tmp_path: Path
) -> None:
    done = prober("run", "workflow_*_api", "--json", "--repeat", "2", env=env)
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(runs) == 4  # two journeys matched by the glob, two rounds
    assert sorted(r["journey"] for r in runs) == sorted(API_JOURNEYS * 2)
    for run in runs:
        assert set(run) >= RUN_JSON_KEYS
        assert run["status"] == "success" and run["trigger"] == "manual"
        assert run["steps"] and all(set(step) >= STEP_KEYS for step in run["steps"])
    assert len({r["run_id"] for r in runs}) == 4
    # Stored before emitted, and every metric point says trigger:manual.
    stored = ResultStore(tmp_path / "results.db").runs()
    assert {s.run_id for s in stored} == {r["run_id"] for r in runs}
    points = agent.points("cuj.journey.runs")
    assert len(points) == 4
    assert {p.tag("trigger") for p in points} == {"manual"}


def test_run_shows_the_failing_step_service_and_trace(
    env: dict[str, str], api: httpx.Client
) -> None:
    api.post("/_sandbox/faults", json=ENGINE_DOWN).raise_for_status()
    done = prober("run", "workflow_run_api", env=env)
    assert done.returncode == 1, done.stderr
    run = ResultStore(Path(env["PROBER_STORE__PATH"])).runs()[0]
    assert run.status == "failure" and run.failed_service == "orchestration-engine"
    for expected in ("server_error", "run workflow", "orchestration-engine", run.trace_id,
                     run.run_id, "failed"):  # fmt: skip
        assert expected in done.stdout


def test_an_unknown_journey_lists_the_known_ones(env: dict[str, str]) -> None:
    done = prober("run", "workflow_nope", env=env)
    assert done.returncode == 2
    assert "no journey matches 'workflow_nope'" in done.stderr
    assert "workflow_canvas_load" in done.stderr and "Traceback" not in done.stderr
    done = prober("smoke", "--target", "prod", env=env)
    assert done.returncode == 2 and "no target 'prod'; configured targets: sandbox" in done.stderr


def _junit(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_smoke_passes_with_junit(env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    done = prober("smoke", "workflow_canvas_load", *API_JOURNEYS, "--junit", str(report), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    cases = _junit(report)
    assert sorted(cases) == sorted(["workflow_canvas_load", *API_JOURNEYS])
    for name, case in cases.items():
        assert case.find("failure") is None and case.find("error") is None, name
        out = case.findtext("system-out") or ""
        assert "step 'ensure fixture' [workflow-service] passed" in out or "step 'sweep" in out
        assert float(case.get("time", "0")) > 0
    stored = ResultStore(tmp_path / "results.db").runs()
    assert {s.trigger for s in stored} == {"ci"}


def test_smoke_fails_with_a_junit_failure_and_a_github_annotation(
    env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    api.post("/_sandbox/faults", json=ENGINE_DOWN).raise_for_status()
    report = tmp_path / "junit.xml"
    done = prober(
        "smoke", *API_JOURNEYS, "--junit", str(report), env={**env, "GITHUB_ACTIONS": "true"}
    )
    assert done.returncode == 1, done.stdout + done.stderr
    cases = _junit(report)
    assert cases["workflow_crud_api"].find("failure") is None
    failure = cases["workflow_run_api"].find("failure")
    assert failure is not None
    run = next(r for r in ResultStore(tmp_path / "results.db").runs() if r.status == "failure")
    assert failure.get("type") == "server_error"
    message = failure.get("message", "")
    assert "'run workflow'" in message and "orchestration-engine" in message
    assert run.trace_id in message
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error title=CUJ workflow_run_api failure on sandbox::")
    assert run.trace_id in annotations[0]


def test_smoke_with_only_prober_faults_exits_3(env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    broken = {**env, "PROBER_BROWSER__EXECUTABLE_PATH": "/bin/false"}  # a "browser" that dies
    done = prober("smoke", "workflow_canvas_load", "--junit", str(report), env=broken)
    assert done.returncode == 3, done.stdout + done.stderr
    error = _junit(report)["workflow_canvas_load"].find("error")
    assert error is not None and error.get("type") == "probe_error"
    assert "would not start" in (error.text or "")


def test_smoke_with_a_bad_config_exits_2_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "junit.xml"
    done = prober("smoke", "--junit", str(report), env={**env, "PROBER_SERVE__JITTER": "2"})
    assert done.returncode == 2
    assert "PROBER_SERVE__JITTER (environment) serve.jitter" in done.stderr
    assert not report.exists() and not (tmp_path / "results.db").exists()


def test_list_shows_every_journey(env: dict[str, str]) -> None:
    done = prober("list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["journey"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert len(rows) == 5
    assert rows["workflow_run_api"]["channel"] == "api"
    assert rows["workflow_run_api"]["service"] == "orchestration-engine"
    assert rows["workflow_canvas_load"]["slo_target"] == 0.995
    assert rows["workflow_canvas_load"]["interval"] == "60s"


def test_artifacts_that_cannot_be_written_leave_the_verdict_and_the_next_run_alone(
    env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    # Artifacts of a failed run cannot be written (the journey's folder is a file). That is the
    # prober's own fault: logged and counted, while the verdict stays the target's outage and
    # the next round still runs.
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "workflow_run_api").write_text("")
    api.post("/_sandbox/faults", json=ENGINE_DOWN).raise_for_status()
    done = prober("run", "workflow_run_api", "--json", "--repeat", "2", env=env)
    assert done.returncode == 1, done.stderr
    runs = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(runs) == 2
    for run in runs:
        assert (run["status"], run["error_type"]) == ("failure", "server_error")
        assert run["failed_service"] == "orchestration-engine"
        assert [e["kind"] for e in run["attempts"][0]["internal_errors"]] == ["artifacts"]
    assert "NotADirectoryError" in done.stderr and "the verdict stands" in done.stderr
    assert "Traceback" not in done.stderr
    assert {r.status for r in ResultStore(tmp_path / "results.db").runs()} == {"failure"}


def test_run_does_not_retry_unless_asked_and_shows_each_attempt(
    env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    api.post("/_sandbox/faults", json=ENGINE_DOWN).raise_for_status()
    once = prober("run", "workflow_run_api", "--json", env=env)  # the journey declares 1 retry
    assert once.returncode == 1, once.stderr
    [run] = [json.loads(line) for line in once.stdout.splitlines()]
    assert len(run["attempts"]) == 1
    twice = prober("run", "workflow_run_api", "--retries", "1", env=env)
    assert twice.returncode == 1, twice.stderr
    # Not a terminal: a line as attempt 2 starts, then the run with both attempts' failures.
    retry = "workflow_run_api on sandbox: attempt 1 failed in 'run workflow' [orchestration-engine]"
    assert retry in twice.stdout, twice.stdout
    assert twice.stdout.index(retry) < twice.stdout.index("2 attempt(s)")
    assert "attempt 1    server_error in step 'run workflow'" in twice.stdout
    stored = sorted(r.attempts for r in ResultStore(tmp_path / "results.db").runs())
    assert stored == [1, 2]
    bad = prober("run", "workflow_run_api", "--retries", "9", env=env)
    assert bad.returncode == 2 and "9 is not in 0..5" in bad.stderr


def test_paths_that_cannot_be_written_stop_the_command_before_it_runs(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    garbage = tmp_path / "garbage.db"  # a file, not a SQLite database (a folder: validate)
    garbage.write_text("not a database\n" * 100)
    cases = [
        (["smoke", *API_JOURNEYS, "--junit", str(blocker / "junit.xml")], {},
         f"{blocker / 'junit.xml'}: cannot write it ({blocker}: it is a file, not a folder); "
         "give --junit a path this user can write"),
        (["run", "workflow_run_api"], {"PROBER_ARTIFACTS__PATH": str(blocker / "artifacts")},
         f"{blocker / 'artifacts'}: cannot use this folder ("),
        (["smoke", "workflow_run_api"], {"PROBER_STORE__PATH": str(garbage)},
         f"{garbage}: not a usable result store (file is not a database)"),
        (["slo", "export", "--format", "terraform", "--out", str(blocker / "tf")], {},
         f"{blocker / 'tf'}: cannot use this folder ({blocker} is a file, not a folder)"),
    ]  # fmt: skip
    for args, extra, message in cases:
        done = prober(*args, env={**env, **extra})
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith(f"prober: {message}"), (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
        assert done.stdout == ""  # nothing ran
    assert not (tmp_path / "results.db").exists()
