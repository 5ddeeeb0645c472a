"""What a run produced: frozen values that sinks read and never change.

`runner.run()` returns a `JourneyResult` for every run, failing or not; the closed sets below are
metric tags and SLO filters (docs/verdicts.md, prober/metrics.py), so adding a member is a
contract change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prober.page_timings import PageTimings

if TYPE_CHECKING:
    from prober.latency_sli import PageTiming


class Status(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    PROBE_ERROR = "probe_error"


class StepStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class ErrorType(StrEnum):
    """Why a run failed. Every member but PROBE_ERROR counts against the journey's SLO."""

    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    DEPENDENCY_ERROR = "dependency_error"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    ASSERTION = "assertion"
    PROBE_ERROR = "probe_error"

    @property
    def counts_against_slo(self) -> bool:
        return self is not ErrorType.PROBE_ERROR


class BlameSource(StrEnum):
    """Where `failed_service` came from, strongest first; a closed set (it is reported)."""

    AUTHOR = "author"  # the journey named the service (ctx.fail(..., service=))
    PLATFORM = "platform"  # the response named it (service header, error body)
    ROUTE = "route"  # the target's route map owns the failing URL
    STEP = "step"  # nothing better: the failing step's declared service
    PROBER = "prober"  # a probe_error: the prober blames itself


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    CI = "ci"


@dataclass(frozen=True, slots=True)
class Failure:
    error_type: ErrorType
    service: str
    message: str
    # The evidence the classifier used, for humans: "GET /api/workflows/wf_1 -> 503 (edge-gateway)".
    evidence: str | None = None
    exception: str | None = None  # the exception's type name, when there was one
    blame_source: BlameSource = BlameSource.STEP

    def to_json(self) -> dict[str, Any]:
        return {
            "error_type": str(self.error_type),
            "service": self.service,
            "blame_source": str(self.blame_source),
            "message": self.message,
            "evidence": self.evidence,
            "exception": self.exception,
        }


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    service: str
    status: StepStatus
    duration_s: float
    failure: Failure | None = None
    # "setup" and "teardown" steps are reported but are not the customer's wait (duration_s
    # of the attempt leaves them out); "step" is a journey step proper.
    phase: str = "step"
    # What the page itself measured during a browser step (None: not a browser step, the page
    # did nothing, or it could not tell - an internal error, never a verdict).
    page: PageTimings | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "phase": self.phase,
            "status": str(self.status),
            "duration_s": round(self.duration_s, 6),
            "error": None if self.failure is None else self.failure.to_json(),
            "page": None if self.page is None else self.page.to_json(),
        }


@dataclass(frozen=True, slots=True)
class AttemptResult:
    attempt: int
    status: Status
    trace_id: str
    started_at: float  # wall clock, seconds since the epoch
    duration_s: float
    steps: tuple[StepResult, ...]
    failure: Failure | None = None
    failed_step: str | None = None
    artifacts: tuple[str, ...] = ()
    cleanup_failures: tuple[str, ...] = ()
    annotations: tuple[tuple[str, Any], ...] = ()
    span_id: str = ""  # the attempt's root span, beside trace_id in logs
    # The prober's own faults that did not change the verdict (artifacts not written...):
    # (kind, detail), counted as cuj.prober.internal_errors.
    internal_errors: tuple[tuple[str, str], ...] = ()

    @property
    def error_type(self) -> ErrorType | None:
        return None if self.failure is None else self.failure.error_type

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "status": str(self.status),
            "error_type": _tag(self.error_type),
            "failed_step": self.failed_step,
            "failed_service": None if self.failure is None else self.failure.service,
            "blame_source": None if self.failure is None else str(self.failure.blame_source),
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 6),
            "artifacts": list(self.artifacts),
            "cleanup_failures": list(self.cleanup_failures),
            "annotations": dict(self.annotations),
            "internal_errors": [{"kind": k, "detail": d} for k, d in self.internal_errors],
        }


@dataclass(frozen=True, slots=True)
class JourneyResult:
    """One finished run: the final attempt decides; every attempt is kept."""

    journey: str
    cuj: str
    service: str
    team: str
    channel: str
    target: str
    trigger: Trigger
    run_id: str
    latency_threshold_s: float
    attempts: tuple[AttemptResult, ...] = field(default_factory=tuple)
    # The journey's declared latency SLI (prober/latency_sli.py); None: its duration.
    latency_sli: PageTiming | None = None
    # A failed scheduled run as the other locations' stores see it (`slo.stores`,
    # prober/slo/blame.py): "failing from eu-west1 only; ..." or None.
    locations: str | None = None

    @property
    def final(self) -> AttemptResult:
        return self.attempts[-1]

    @property
    def status(self) -> Status:
        return self.final.status

    @property
    def failure(self) -> Failure | None:
        return self.final.failure

    @property
    def error_type(self) -> ErrorType | None:
        return self.final.error_type

    @property
    def failed_step(self) -> str | None:
        return self.final.failed_step

    @property
    def failed_service(self) -> str | None:
        return None if self.final.failure is None else self.final.failure.service

    @property
    def blame_source(self) -> BlameSource | None:
        return None if self.final.failure is None else self.final.failure.blame_source

    @property
    def trace_id(self) -> str:
        return self.final.trace_id

    @property
    def steps(self) -> tuple[StepResult, ...]:
        return self.final.steps

    @property
    def duration_s(self) -> float:
        """The final attempt's duration: what one customer attempt took."""
        return self.final.duration_s

    @property
    def started_at(self) -> float:
        return self.attempts[0].started_at

    @property
    def latency_s(self) -> float:
        """What the latency SLI judges: the declared page timing of the final attempt, else
        (none declared, or the page did not report it) the steps' wall time - of the whole
        journey, or of the SLI's step when the page did not report its timing."""
        if self.latency_sli is None:
            return self.duration_s
        value = self.latency_sli.value_s(self.steps)
        if value is not None:
            return value
        step = next((s for s in self.steps if s.name == self.latency_sli.step), None)
        return self.duration_s if step is None else step.duration_s

    @property
    def within_slo(self) -> bool:
        """The latency SLI's one definition: succeeded, and `latency_s` within the threshold."""
        return self.status is Status.SUCCESS and self.latency_s <= self.latency_threshold_s

    @property
    def artifacts(self) -> tuple[str, ...]:
        return tuple(path for attempt in self.attempts for path in attempt.artifacts)

    def to_json(self) -> dict[str, Any]:
        """The keys of `prober run --json`, JSON-ready."""
        return {
            "journey": self.journey,
            "cuj": self.cuj,
            "service": self.service,
            "team": self.team,
            "channel": self.channel,
            "target": self.target,
            "trigger": str(self.trigger),
            "status": str(self.status),
            "error_type": _tag(self.error_type),
            "failed_step": self.failed_step,
            "failed_service": self.failed_service,
            "blame_source": None if self.blame_source is None else str(self.blame_source),
            "evidence": None if self.failure is None else self.failure.evidence,
            "locations": self.locations,
            "error": None if self.failure is None else self.failure.message,
            "duration_s": round(self.duration_s, 6),
            "within_slo": self.within_slo,
            "latency_s": round(self.latency_s, 6),
            "latency_sli": "duration" if self.latency_sli is None else str(self.latency_sli),
            "run_id": self.run_id,
            "trace_id": self.trace_id,
            "started_at": self.started_at,
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "artifacts": list(self.artifacts),
            "annotations": dict(self.final.annotations),
            "steps": [step.to_json() for step in self.steps],
        }


def _tag(error_type: ErrorType | None) -> str | None:
    return None if error_type is None else str(error_type)
