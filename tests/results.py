"""Building JourneyResults for sink tests: values, as the runner would produce them."""

from __future__ import annotations

from prober.result import (
    AttemptResult,
    BlameSource,
    ErrorType,
    Failure,
    JourneyResult,
    Status,
    StepResult,
    StepStatus,
    Trigger,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def attempt(
    number: int = 1,
    error_type: ErrorType | None = None,
    *,
    service: str = "workflow-service",
    duration: float = 1.5,
    cleanup_failures: tuple[str, ...] = (),
) -> AttemptResult:
    steps = [StepResult("Sign In", "frontend-monolith", StepStatus.PASSED, 0.5)]
    failure = None
    status = Status.SUCCESS
    if error_type is not None:
        source = BlameSource.PROBER if error_type is ErrorType.PROBE_ERROR else BlameSource.ROUTE
        failure = Failure(error_type, service, f"{error_type} happened", blame_source=source)
        status = Status.PROBE_ERROR if error_type is ErrorType.PROBE_ERROR else Status.FAILURE
        steps.append(
            StepResult("open canvas", "frontend-monolith", StepStatus.FAILED, 1.0, failure)
        )
        steps.append(StepResult("run", "orchestration-engine", StepStatus.SKIPPED, 0.0))
    else:
        steps.append(StepResult("open canvas", "frontend-monolith", StepStatus.PASSED, 1.0))
    return AttemptResult(
        attempt=number,
        status=status,
        trace_id=TRACE,
        started_at=1_800_000_000.0 + number,
        duration_s=duration,
        steps=tuple(steps),
        failure=failure,
        failed_step=None if failure is None else "open canvas",
        cleanup_failures=cleanup_failures,
        span_id="00f067aa0ba902b7",
    )


def result(
    *attempts: AttemptResult,
    journey: str = "workflow_canvas_load",
    trigger: Trigger = Trigger.SCHEDULE,
    run_id: str = "abc123",
    threshold: float = 2.0,
) -> JourneyResult:
    return JourneyResult(
        journey=journey,
        cuj="workflow_canvas_load",
        service="frontend-monolith",
        team="web-platform",
        channel="browser",
        target="sandbox",
        trigger=trigger,
        run_id=run_id,
        latency_threshold_s=threshold,
        attempts=attempts or (attempt(),),
    )
