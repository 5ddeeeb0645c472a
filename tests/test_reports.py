"""What people and CI read: the console table, JUnit XML and GitHub annotations."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from rich.console import Console

from prober.reports import github, junit
from prober.reports.console import MAX_ROWS, ConsoleReport, failure_details
from prober.result import ErrorType, Failure, StepResult, StepStatus
from tests.journeys_for_tests import api_read
from tests.results import TRACE, attempt, result
from tests.targets import sandbox_target

TARGET = sandbox_target("http://127.0.0.1:1")


def test_the_live_table_draws_steps_as_they_happen_and_explains_a_failure() -> None:
    out = io.StringIO()
    journey = api_read("wf_1")
    failed = result(attempt(error_type=ErrorType.DEPENDENCY_ERROR, service="optimizer-service"),
                    run_id="run42")  # fmt: skip
    with ConsoleReport(out, force_terminal=True, width=160) as report:
        report.run_started("run42", journey, TARGET, 1)
        report.step_started("run42", 1, journey.steps[0])
        assert "running" in out.getvalue()  # drawn before the step finished
        report.step_finished(
            "run42", 1, StepResult("read workflow", "workflow-service", StepStatus.FAILED, 0.25)
        )
        report.run_finished(failed)
    text = out.getvalue()
    assert "read workflow" in text and "0.25" in text
    for expected in ("dependency_error", "optimizer-service", TRACE, "open canvas",
                     "run run42"):  # fmt: skip
        assert expected in text, expected


def _step(status: StepStatus, error: ErrorType | None = None) -> StepResult:
    failure = None if error is None else Failure(error, "workflow-service", "no answer in 5s")
    return StepResult("read workflow", "workflow-service", status, 5.0, failure)


def test_each_attempt_shows_as_it_happens_and_earlier_failures_stay_visible() -> None:
    journey = api_read("wf_1")
    step = journey.steps[0]
    retried = result(attempt(1, ErrorType.TIMEOUT), attempt(2), run_id="run7")
    # A terminal: the redrawn table numbers the attempts and keeps attempt 1's failed step.
    out = io.StringIO()
    with ConsoleReport(out, force_terminal=True, width=160) as report:
        report.run_started("run7", journey, TARGET, 1)
        report.step_started("run7", 1, step)
        report.step_finished("run7", 1, _step(StepStatus.FAILED, ErrorType.TIMEOUT))
        report.step_started("run7", 2, step)
        frame = report._render()
        report.step_finished("run7", 2, _step(StepStatus.PASSED))
        report.run_finished(retried)
        final = report._render()
    for drawn, now in ((frame, "running"), (final, "passed")):
        text = _plain(drawn)
        lines = [line for line in text.splitlines() if "read workflow" in line]
        assert len(lines) == 2, text
        assert "│ 1 " in lines[0] and "failed: timeout" in lines[0]
        assert "│ 2 " in lines[1] and now in lines[1]
    # A log (no terminal): a line when attempt 2 starts, before the run is over.
    log = io.StringIO()
    report = ConsoleReport(log, force_terminal=False)
    report.run_started("run8", journey, TARGET, 1)
    report.step_finished("run8", 1, _step(StepStatus.FAILED, ErrorType.TIMEOUT))
    report.step_started("run8", 2, step)
    assert log.getvalue().strip() == (
        "api_read_workflow on sandbox: attempt 1 failed in 'read workflow' [workflow-service] "
        "timeout; attempt 2 starts"
    )
    # A run that failed twice lists the first attempt's failure in its details too.
    report.run_finished(result(attempt(1, ErrorType.TIMEOUT), attempt(2, ErrorType.TIMEOUT),
                               run_id="run8"))  # fmt: skip
    assert "attempt 1    timeout in step 'open canvas'" in log.getvalue()


def _plain(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=160, force_terminal=False).print(renderable)
    return out.getvalue()


def test_the_table_keeps_only_recent_runs() -> None:
    report = ConsoleReport(io.StringIO(), force_terminal=False)
    journey = api_read("wf_1")
    for i in range(MAX_ROWS + 20):
        report.run_started(f"r{i}", journey, TARGET, i)
        report.run_finished(result(run_id=f"r{i}"))
    report.run_started("last", journey, TARGET, 99)
    assert len(report._rows) <= MAX_ROWS + 1 and "last" in report._rows


def test_junit_separates_failures_from_prober_errors() -> None:
    ok = result(run_id="ok1", journey="a_journey")
    failed = result(attempt(error_type=ErrorType.TIMEOUT), run_id="bad1", journey="b_journey")
    broken = result(attempt(error_type=ErrorType.PROBE_ERROR), run_id="pe1", journey="c_journey")
    root = ET.fromstring(junit.render([ok, failed, broken], "smoke (prod)", now=0))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["a_journey"].find("failure") is None
    failure = cases["b_journey"].find("failure")
    assert failure is not None and failure.get("type") == "timeout"
    assert failure.get("message") == (
        f"timeout in step 'open canvas', blame workflow-service [route] (trace {TRACE}, run bad1)"
    )
    assert cases["c_journey"].find("error") is not None
    out = cases["a_journey"].findtext("system-out") or ""
    assert "step 'Sign In' [frontend-monolith] passed 0.500s" in out


def test_github_annotations_escape_what_would_break_the_command() -> None:
    failed = result(attempt(error_type=ErrorType.ASSERTION), journey="workflow_run_api")
    line = github.annotation(failed)
    assert line is not None and line.startswith(
        "::error title=CUJ workflow_run_api failure on sandbox::"
    )
    assert "\n" not in line
    broken = result(attempt(error_type=ErrorType.PROBE_ERROR))
    assert (github.annotation(broken) or "").startswith("::warning ")
    assert github.annotation(result()) is None
    assert github._property("a: b, 50%\n") == "a%3A b%2C 50%25%0A"
    assert github.enabled({"GITHUB_ACTIONS": "true"}) and not github.enabled({})


def test_every_report_says_where_the_blame_came_from() -> None:
    failed = result(attempt(error_type=ErrorType.SERVER_ERROR), run_id="bad2")
    console = Console(record=True, width=200)
    console.print(failure_details(failed))
    assert "blame        workflow-service (route: the route map owns the failing URL)" in (
        console.export_text()
    )
    assert failed.to_json()["blame_source"] == "route"
    assert failed.to_json()["attempts"][0]["blame_source"] == "route"
    assert "[route]" in junit.failure_message(failed)
