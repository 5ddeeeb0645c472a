"""The live table of `prober run` / `prober smoke`: each step's status and duration as it happens.

On a terminal the table redraws in place (rich `Live`); elsewhere (CI logs, pipes) each finished
run prints once, so logs stay readable. A failed run is followed by what an on-call engineer
needs first: the error type, the service to blame, the trace id and the artifact paths.

A retried run shows each attempt as it happens: the table numbers the attempt once there is a
second one and keeps the earlier attempts' failed steps above the current attempt's steps; in a
log, a line says that an attempt failed and the next one starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from prober.journey import Journey, Step
from prober.result import BlameSource, JourneyResult, Status, StepResult, StepStatus
from prober.target import Target
from prober.trace_links import trace_ref, trace_url

MAX_ROWS = 30
_STYLE: dict[str, str] = {
    "running": "yellow",
    StepStatus.PASSED: "green",
    StepStatus.FAILED: "bold red",
    StepStatus.SKIPPED: "dim",
    Status.SUCCESS: "green",
    Status.FAILURE: "bold red",
    Status.PROBE_ERROR: "magenta",
}


@dataclass(frozen=True, slots=True)
class _StepState:
    service: str
    status: str
    duration_s: float | None
    error_type: str | None = None


@dataclass
class _Row:
    journey: str
    target: str
    round: int
    attempt: int = 1
    steps: dict[str, _StepState] = field(default_factory=dict)
    # Failed steps of the earlier attempts: (attempt, step name, state).
    earlier: list[tuple[int, str, _StepState]] = field(default_factory=list)
    result: JourneyResult | None = None


class ConsoleReport:
    """A StepListener plus run start/finish hooks, drawing one table for all runs."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        force_terminal: bool | None = None,
        width: int | None = None,
        site: str | None = None,
    ):
        """`site`: the Datadog site, for trace links (None: bare trace ids)."""
        self.site = site
        self.console = Console(
            file=stream, force_terminal=force_terminal, highlight=False, width=width
        )
        if not self.console.is_terminal:
            self.console.width = 160  # CI logs: no wrapping of trace ids and paths
        self._rows: dict[str, _Row] = {}
        self._live: Live | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ConsoleReport:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, auto_refresh=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.__exit__(None, None, None)
            self._live = None
            for row in self._rows.values():
                if row.result is not None and row.result.status is not Status.SUCCESS:
                    self.console.print(failure_details(row.result, self.site))

    def run_started(self, run_id: str, journey: Journey, target: Target, round_: int) -> None:
        self._rows[run_id] = _Row(journey.name, target.name, round_)
        # `run --every` can go on for hours: the table keeps the latest runs, not all of them.
        finished = [key for key, row in self._rows.items() if row.result is not None]
        for key in finished[: max(0, len(self._rows) - MAX_ROWS)]:
            del self._rows[key]
        self._redraw()

    def run_finished(self, result: JourneyResult) -> None:
        row = self._rows.get(result.run_id)
        if row is not None:
            row.result = result
        if self._live is None:
            self.console.print(summary_line(result, self.site))
            self.console.print(_step_table(result.steps))
            if result.status is not Status.SUCCESS:
                self.console.print(failure_details(result, self.site))
        self._redraw()

    # --- StepListener -------------------------------------------------------------------------

    def step_started(self, run_id: str, attempt: int, step: Step) -> None:
        self._set_step(run_id, attempt, step.name, _StepState(step.service, "running", None))

    def step_finished(self, run_id: str, attempt: int, result: StepResult) -> None:
        duration = None if result.status is StepStatus.SKIPPED else result.duration_s
        error = None if result.failure is None else str(result.failure.error_type)
        state = _StepState(result.service, str(result.status), duration, error)
        self._set_step(run_id, attempt, result.name, state)

    def _set_step(self, run_id: str, attempt: int, name: str, state: _StepState) -> None:
        row = self._rows.get(run_id)
        if row is None:
            return
        if attempt != row.attempt:  # a retry: keep what failed, start a fresh list of steps
            failed = [(n, s) for n, s in row.steps.items() if s.status == StepStatus.FAILED]
            row.earlier += [(row.attempt, n, s) for n, s in failed]
            if self._live is None:
                self.console.print(_retry_line(row, attempt, failed))
            row.attempt, row.steps = attempt, {}
        row.steps[name] = state
        self._redraw()

    # --- drawing ------------------------------------------------------------------------------

    def _redraw(self) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def _render(self) -> Table:
        table = Table(title="cuj-prober", expand=False)
        for column in ("journey", "target", "#", "attempt", "step", "service", "status", "s"):
            table.add_column(column, justify="right" if column in ("#", "s") else "left")
        for row in self._rows.values():
            status = "running" if row.result is None else str(row.result.status)
            table.add_row(
                Text(row.journey, style="bold"),
                row.target,
                str(row.round),
                str(row.attempt),
                "",
                "",
                Text(status, style=_STYLE.get(status, "")),
                "" if row.result is None else f"{row.result.duration_s:.2f}",
            )
            retried = row.attempt > 1
            steps = [(a, n, s, True) for a, n, s in row.earlier]
            steps += [(row.attempt, n, s, False) for n, s in row.steps.items()]
            for attempt, name, state, earlier in steps:
                shown = state.status
                if state.error_type is not None:
                    shown = f"{state.status}: {state.error_type}"
                table.add_row(
                    "",
                    "",
                    "",
                    str(attempt) if retried else "",
                    Text(name, style="dim" if earlier else ""),
                    state.service,
                    Text(shown, style=_STYLE.get(state.status, "")),
                    "" if state.duration_s is None else f"{state.duration_s:.2f}",
                )
        return table


def _retry_line(row: _Row, attempt: int, failed: list[tuple[str, _StepState]]) -> Text:
    where = ", ".join(
        f"{name!r} [{state.service}]" + (f" {state.error_type}" if state.error_type else "")
        for name, state in failed
    )
    text = Text()
    text.append(f"{row.journey} ", style="bold")
    text.append(f"on {row.target}: attempt {row.attempt} ")
    text.append("failed", style=_STYLE[StepStatus.FAILED])
    text.append(f" in {where or 'its run'}; attempt {attempt} starts")
    return text


def _step_table(steps: tuple[StepResult, ...]) -> Table:
    table = Table(show_header=True, box=None, padding=(0, 2))
    for column in ("step", "service", "status", "s"):
        table.add_column(column)
    for step in steps:
        duration = "" if step.status is StepStatus.SKIPPED else f"{step.duration_s:.2f}"
        table.add_row(
            step.name,
            step.service,
            Text(str(step.status), style=_STYLE[step.status]),
            duration,
        )
    return table


def summary_line(result: JourneyResult, site: str | None = None) -> Text:
    status = str(result.status)
    text = Text()
    text.append(f"{result.journey} ", style="bold")
    text.append(f"on {result.target}: ")
    text.append(status, style=_STYLE[result.status])
    slow = "" if result.within_slo or result.status is not Status.SUCCESS else " (slow)"
    text.append(
        f" in {result.duration_s:.2f}s{slow}, {len(result.attempts)} attempt(s), "
        f"run {result.run_id}, trace {trace_ref(site, result.trace_id)}"
    )
    return text


def failure_details(result: JourneyResult, site: str | None = None) -> Group:
    failure = result.failure
    lines = [Text(f"✗ {result.journey} on {result.target} (run {result.run_id})", style="bold")]
    for earlier in result.attempts[:-1]:
        if earlier.failure is not None:
            lines.append(
                Text(
                    f"  attempt {earlier.attempt}    {earlier.failure.error_type} in step "
                    f"{earlier.failed_step!r}, blame {earlier.failure.service} "
                    f"[{earlier.failure.blame_source}], trace "
                    f"{trace_ref(site, earlier.trace_id)}: {earlier.failure.message}"
                )
            )
    if failure is not None:
        lines += [
            Text(f"  error type   {failure.error_type}"),
            Text(f"  failed step  {result.failed_step}"),
            Text(f"  blame        {failure.service} ({why_blamed(failure.blame_source)})"),
            Text(f"  trace id     {result.trace_id}"),
            *([Text(f"  trace        {url}")] if (url := trace_url(site, result.trace_id)) else []),
            Text(f"  message      {failure.message}"),
        ]
        if failure.evidence:
            lines.append(Text(f"  evidence     {failure.evidence}"))
    for path in result.artifacts:
        lines.append(Text(f"  artifact     {path}"))
    return Group(*lines)


_WHY = {
    BlameSource.AUTHOR: "author: the journey named it",
    BlameSource.PLATFORM: "platform: the response named it",
    BlameSource.ROUTE: "route: the route map owns the failing URL",
    BlameSource.STEP: "step: the step's declared service, nothing better was found",
    BlameSource.PROBER: "prober: the prober's own fault",
}


def why_blamed(source: BlameSource) -> str:
    """Where the blame came from, in words (the console's failure details, the demo's timeline)."""
    return _WHY[source]
