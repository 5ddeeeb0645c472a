"""The GitHub Action (action.yml) and the GitLab CI template: their shape, and their commands
run by bash as the runners would, against a real sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
import yaml

from tests.prober_cli import ROOT, prober_env
from tests.sandbox_process import SandboxProcess

ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
GITLAB: dict[str, Any] = yaml.safe_load((ROOT / "ci/gitlab/cuj-prober.gitlab-ci.yml").read_text())
JOB = GITLAB[".cuj-prober-smoke"]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OPTIMIZER_DOWN = {"service": "optimizer-service", "mode": "unavailable"}


def _step(name: str) -> dict[str, Any]:
    return next(s for s in ACTION["runs"]["steps"] if s["name"] == name)


def _inputs(**given: str) -> dict[str, str]:
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    unknown = set(given) - set(values)
    assert not unknown, f"not inputs of the action: {unknown}"
    return {**values, **given}


def _evaluate(text: str, inputs: dict[str, str]) -> str:
    """`${{ inputs.NAME }}` as the runner substitutes it; any other expression fails the test
    (a step must not depend on what this test cannot reproduce)."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression.startswith("inputs."), f"unsupported expression {expression!r}"
        return inputs[expression.removeprefix("inputs.")]

    return EXPRESSION.sub(one, text)


def _run_step(
    name: str, inputs: dict[str, str], environ: dict[str, str], runner: Path
) -> subprocess.CompletedProcess[str]:
    step = _step(name)
    assert step["shell"] == "bash"
    env = {**environ, **{k: _evaluate(str(v), inputs) for k, v in step.get("env", {}).items()}}
    return subprocess.run(["bash", "-e", "-c", step["run"]], env=env, cwd=runner, text=True,
                          capture_output=True, timeout=120, check=False)  # fmt: skip


@pytest.fixture
def runner(sandbox: SandboxProcess, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A GitHub runner's environment: the workspace (a copy of the repository's config, its
    journeys), the prober on PATH (as the install step leaves it), the files steps write to."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "prober.yaml").write_text((ROOT / "prober.yaml").read_text())
    (workspace / "journeys").symlink_to(ROOT / "journeys")
    agent_url = "udp://127.0.0.1:9"  # the metrics go nowhere: this test reads the report
    env = prober_env(sandbox.url, tmp_path, agent_url)
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_PATH=str(tmp_path / "path"),
        RUNNER_TEMP=str(tmp_path / "runner-temp"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
    )
    return env, workspace


def _outputs(env: dict[str, str]) -> dict[str, str]:
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_the_action_is_a_composite_with_documented_inputs_and_outputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert {"config", "journeys", "target", "env", "junit", "slo-gate-service"} <= set(
        ACTION["inputs"]
    )
    for spec in ACTION["inputs"].values():
        assert spec["description"] and "default" in spec
    names = [step["name"] for step in ACTION["runs"]["steps"]]
    assert names == ["Install cuj-prober", "Install Chromium when missing", "prober smoke",
                     "prober slo gate"]  # fmt: skip
    assert ACTION["outputs"]["exit-code"]["value"] == "${{ steps.smoke.outputs.exit-code }}"
    assert ACTION["outputs"]["junit"]["value"] == "${{ steps.smoke.outputs.junit }}"
    # Installed from the action's own checkout, then put on PATH for the later steps.
    install = _step("Install cuj-prober")["run"]
    assert 'install --quiet --disable-pip-version-check "$GITHUB_ACTION_PATH"' in install
    assert '>> "$GITHUB_PATH"' in install
    assert (
        "$GITHUB_ACTION_PATH/scripts/install-browser"
        in _step("Install Chromium when missing")["run"]
    )
    gate = _step("prober slo gate")
    assert gate["if"] == "${{ inputs.slo-gate-service != '' }}"
    assert 'prober slo gate -c "$CONFIG" --service "$SERVICE"' in gate["run"]


@pytest.mark.browser
def test_the_action_finds_chromium_and_passes_a_smoke_with_junit(
    runner: tuple[dict[str, str], Path],
) -> None:
    env, workspace = runner
    inputs = _inputs(journeys="workflow_crud_api workflow_canvas_load", junit="reports/junit.xml")
    browser = _run_step("Install Chromium when missing", inputs, env, workspace)
    assert browser.returncode == 0, browser.stdout + browser.stderr
    assert "Chromium ready" in browser.stdout
    (workspace / "reports").mkdir()
    done = _run_step("prober smoke", inputs, env, workspace)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _outputs(env) == {"exit-code": "0", "junit": "reports/junit.xml"}
    suite = ET.parse(workspace / "reports" / "junit.xml").getroot()
    cases = suite.iter("testcase")
    assert sorted(c.get("name", "") for c in cases) == [
        "workflow_canvas_load", "workflow_crud_api"]  # fmt: skip
    assert not [line for line in done.stdout.splitlines() if line.startswith("::")]


def test_the_action_fails_the_step_with_an_annotation_and_a_junit_failure(
    runner: tuple[dict[str, str], Path], api: httpx.Client
) -> None:
    env, workspace = runner
    api.post("/_sandbox/faults", json=OPTIMIZER_DOWN).raise_for_status()
    inputs = _inputs(journeys="workflow_run_api", env="staging")
    done = _run_step("prober smoke", inputs, env, workspace)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _outputs(env) == {"exit-code": "1", "junit": "cuj-prober-junit.xml"}
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1 and "optimizer-service" in annotations[0]
    suite = ET.parse(workspace / "cuj-prober-junit.xml").getroot()
    assert [s.get("name") for s in suite.iter("testsuite")] == ["cuj-prober smoke (staging)"]
    assert len(list(suite.iter("failure"))) == 1


def test_the_gitlab_template_keeps_the_junit_report_and_the_artifacts() -> None:
    assert JOB["image"]["entrypoint"] == [""]
    assert JOB["artifacts"]["when"] == "always"
    junit = JOB["artifacts"]["reports"]["junit"]
    assert f"--junit {junit}" in JOB["script"][0]
    assert junit in JOB["artifacts"]["paths"]
    artifacts = Template(JOB["variables"]["PROBER_ARTIFACTS__PATH"]).substitute(
        CI_PROJECT_DIR="/builds/p"
    )
    assert Path(artifacts).relative_to("/builds/p").as_posix() + "/" in JOB["artifacts"]["paths"]


def test_the_gitlab_script_runs_a_smoke_with_the_junit_report(
    runner: tuple[dict[str, str], Path], api: httpx.Client
) -> None:
    """The job's script as GitLab runs it: its variables (expanded against the predefined ones)
    in the environment, each line in a shell in the project folder."""
    env, workspace = runner
    api.post("/_sandbox/faults", json=OPTIMIZER_DOWN).raise_for_status()
    predefined = {"CI_PROJECT_DIR": str(workspace)}
    variables = {k: Template(str(v)).substitute(predefined) for k, v in JOB["variables"].items()}
    variables.update(CUJ_PROBER_JOURNEYS="workflow_run_api workflow_crud_api",
                     CUJ_PROBER_ENV="staging")  # fmt: skip
    job_env = {**env, **predefined, **variables}
    for line in JOB["script"]:
        done = subprocess.run(["sh", "-c", line], env=job_env, cwd=workspace, text=True,
                              capture_output=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the optimizer is down
    suite = ET.parse(workspace / JOB["artifacts"]["reports"]["junit"]).getroot()
    failures = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failures == ["workflow_run_api"]
    assert (workspace / ".prober" / "artifacts" / "workflow_run_api").is_dir()
