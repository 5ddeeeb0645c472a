"""What the demo saw: every finished run as it happens (the live view), and afterwards, per
injected fault, the timeline an on-call engineer would want.

A run belongs to a fault when it overlapped the fault's window (started before it was cleared,
finished after it was injected). A journey that failed during the window has recovered at its
first success that started after the fault was cleared; the fault has recovered when every such
journey has.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from prober.reports.console import failure_details, summary_line, why_blamed
from prober.result import JourneyResult, Status

NOT_YET = "not seen before the demo ended"


@dataclass
class Fault:
    """One fault the demo injects through the sandbox's fault API, and when it was active."""

    kind: str  # "hard outage" | "silent failure"
    description: str
    spec: dict[str, Any]  # the body of POST /_sandbox/faults
    injected_at: float | None = None
    cleared_at: float | None = None
    fault_id: str | None = None

    def overlaps(self, result: JourneyResult, finished_at: float) -> bool:
        if self.injected_at is None:
            return False
        end = time.time() if self.cleared_at is None else self.cleared_at
        return result.started_at < end and finished_at > self.injected_at


@dataclass(frozen=True, slots=True)
class Seen:
    result: JourneyResult
    finished_at: float


@dataclass
class Recorder:
    """A result sink (see prober.sinks): keeps every run and prints it as it finishes."""

    out: IO[str]
    name: str = "demo"
    began: float = field(default_factory=time.time)
    seen: list[Seen] = field(default_factory=list)
    _failing: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.console = Console(file=self.out, highlight=False)
        if not self.console.is_terminal:
            self.console.width = 160  # CI logs: no wrapping of trace ids and paths

    def offset(self, when: float) -> str:
        return f"+{when - self.began:5.1f}s"

    def say(self, when: float, message: str, style: str = "") -> None:
        text = Text(f"{self.offset(when)}  ", style="dim")
        text.append(message, style=style)
        self.console.print(text)

    def emit(self, result: JourneyResult) -> None:
        now = time.time()
        self.seen.append(Seen(result, now))
        line = Text(f"{self.offset(now)}  ", style="dim")
        line.append_text(summary_line(result))
        key = result.journey
        if result.status is Status.FAILURE:
            line.append(f"  {result.error_type}, blame {result.failed_service}", style="bold red")
            self.console.print(line)
            if key not in self._failing:  # the first failure of a streak, in full
                self.console.print(failure_details(result))
            self._failing.add(key)
            return
        if result.status is Status.SUCCESS and key in self._failing:
            line.append("  recovered", style="bold green")
            self._failing.discard(key)
        self.console.print(line)

    def close(self) -> None:
        self.console.file.flush()

    # --- what the story waits for --------------------------------------------------------------

    def failed_during(self, fault: Fault) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.result.status is Status.FAILURE and fault.overlaps(s.result, s.finished_at)
        ]

    def recoveries(self, fault: Fault) -> dict[str, Seen | None]:
        """Each journey that failed during `fault` -> its first success started after it was
        cleared (None: not yet)."""
        recovered: dict[str, Seen | None] = {}
        for failed in self.failed_during(fault):
            recovered.setdefault(failed.result.journey, None)
        if fault.cleared_at is None:
            return recovered
        for journey in recovered:
            recovered[journey] = next(
                (
                    s
                    for s in self.seen
                    if s.result.journey == journey
                    and s.result.status is Status.SUCCESS
                    and s.result.started_at >= fault.cleared_at
                ),
                None,
            )
        return recovered


@dataclass(frozen=True, slots=True)
class FaultStory:
    fault: Fault
    first_failure: Seen | None
    failed: dict[str, Counter[str]]  # journey -> "error_type on service" -> runs
    recovered: dict[str, Seen | None]
    stayed_green: list[str]
    platform_answers: Counter[str]  # "2xx" | "4xx" | "5xx" -> requests the platform answered

    @property
    def recovered_at(self) -> float | None:
        if not self.recovered or any(s is None for s in self.recovered.values()):
            return None
        return max(s.finished_at for s in self.recovered.values() if s is not None)

    def to_json(self) -> dict[str, Any]:
        first = self.first_failure
        return {
            "kind": self.fault.kind,
            "fault": self.fault.spec,
            "injected_at": self.fault.injected_at,
            "cleared_at": self.fault.cleared_at,
            "first_failure": None
            if first is None
            else {
                "at": first.finished_at,
                "journey": first.result.journey,
                "error_type": str(first.result.error_type),
                "failed_service": first.result.failed_service,
                "blame_source": str(first.result.blame_source),
                "evidence": None if first.result.failure is None else first.result.failure.evidence,
                "trace_id": first.result.trace_id,
                "run_id": first.result.run_id,
            },
            "failed": {journey: dict(verdicts) for journey, verdicts in self.failed.items()},
            "recovered": {
                journey: None if s is None else s.finished_at
                for journey, s in self.recovered.items()
            },
            "recovered_at": self.recovered_at,
            "stayed_green": self.stayed_green,
            "platform_answers": dict(self.platform_answers),
        }


def tell(recorder: Recorder, fault: Fault, requests: list[dict[str, Any]]) -> FaultStory:
    failed_runs = recorder.failed_during(fault)
    failed: dict[str, Counter[str]] = {}
    for seen in failed_runs:
        verdict = f"{seen.result.error_type} on {seen.result.failed_service}"
        failed.setdefault(seen.result.journey, Counter())[verdict] += 1
    ran = {s.result.journey for s in recorder.seen if fault.overlaps(s.result, s.finished_at)}
    answers: Counter[str] = Counter()
    end = fault.cleared_at or time.time()
    for entry in requests:
        status = entry.get("status")
        if (
            isinstance(status, int)
            and fault.injected_at is not None
            and fault.injected_at <= float(entry.get("ts", 0)) <= end
            and not str(entry.get("path", "")).startswith("/_sandbox")
        ):
            answers[f"{status // 100}xx"] += 1
    return FaultStory(
        fault,
        min(failed_runs, key=lambda s: s.finished_at, default=None),
        failed,
        recorder.recoveries(fault),
        sorted(ran - set(failed)),
        answers,
    )


def read_requests(path: Path) -> list[dict[str, Any]]:
    """The sandbox's request log (one JSON object per line); empty when there is none."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def clock(when: float) -> str:
    return datetime.fromtimestamp(when).strftime("%H:%M:%S")


def render(recorder: Recorder, stories: list[FaultStory], requests: list[dict[str, Any]]) -> None:
    console = recorder.console
    console.rule("timeline")
    for story in stories:
        fault = story.fault
        if fault.injected_at is None:
            continue

        def at(when: float | None) -> str:
            if when is None:
                return NOT_YET
            return f"{recorder.offset(when).strip()} ({clock(when)})"

        console.print(Text(f"{fault.kind}: {fault.description}", style="bold"))
        console.print(
            f"  fault injected at    {at(fault.injected_at)}   "
            f"POST /_sandbox/faults {json.dumps(fault.spec)}"
        )
        first = story.first_failure
        if first is None:
            console.print("  first failing run    none: no journey of this demo noticed it")
        else:
            result, failure = first.result, first.result.failure
            delay = first.finished_at - fault.injected_at
            console.print(
                f"  first failing run    {at(first.finished_at)}, {delay:.1f}s after "
                f"the fault: {result.journey} (run {result.run_id})"
            )
            console.print(
                f"  error_type           {result.error_type}, in step {result.failed_step!r}"
            )
            if failure is not None:
                console.print(f"  blamed service       {failure.service}")
                console.print(f"  why                  {why_blamed(failure.blame_source)}")
                if failure.evidence:
                    console.print(f"  evidence             {failure.evidence}")
            carried = sum(
                result.trace_id in str(e.get("headers", {}).get("traceparent", ""))
                for e in requests
            )
            console.print(
                f"  trace id             {result.trace_id}  (in the traceparent of {carried} "
                "platform request(s): the run's trace in APM)"
            )
        for journey, verdicts in sorted(story.failed.items()):
            shown = ", ".join(f"{n} x {verdict}" for verdict, n in verdicts.most_common())
            console.print(f"  failing              {journey}: {shown}")
        if story.stayed_green:
            console.print(f"  stayed green         {', '.join(story.stayed_green)}")
        console.print(f"  fault cleared at     {at(fault.cleared_at)}")
        recovered_at = story.recovered_at
        if story.recovered:
            console.print(
                f"  recovery at          {at(recovered_at)}"
                + (
                    ""
                    if recovered_at is None or fault.cleared_at is None
                    else f", {recovered_at - fault.cleared_at:.1f}s after the fault was "
                    "cleared (every failing journey succeeded again)"
                )
            )
        answers = story.platform_answers
        shown = ", ".join(f"{answers[k]} {k}" for k in sorted(answers)) or "none"
        console.print(
            f"  platform answers     {shown} while the fault was active"
            + _health_check_note(answers)
        )
        console.print()


def _health_check_note(answers: Counter[str]) -> str:
    if answers and not answers.get("5xx"):
        return ": no 5xx, so an error-rate alert or a health check saw nothing"
    if answers.get("5xx"):
        return ": the 5xx come from the edge or the engine, not from the service at fault"
    return ""
