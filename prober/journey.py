"""Declaring a journey: one Critical User Journey and its ordered, named async steps.

    from prober import Journey, StepContext

    canvas = Journey(
        "workflow_canvas_load", cuj="workflow_canvas_load", service="frontend-monolith",
        team="web", channel="browser", interval="60s", timeout="20s",
        latency_threshold="5s", slo_target=0.995, runbook="https://...",
    )

    @canvas.step("open canvas", service="frontend-monolith")
    async def open_canvas(ctx: StepContext) -> None: ...

Declarations do no I/O. A mistake raises JourneyDefinitionError naming the file, the journey
and the field, at import time, so the loader reports it and skips only that module.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prober.errors import JourneyDefinitionError
from prober.latency_sli import PageTiming, parse_sli
from prober.slo.policy import DEFAULT_POLICY, BudgetPolicy, parse_policy
from prober.values import check_http_url, check_tag, parse_duration

if TYPE_CHECKING:
    from prober.context import StepContext
    from prober.kit import PackSettings, Sweep

StepFn = Callable[["StepContext"], Awaitable[None]]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_.:/-]{0,99}$")
MAX_RETRIES = 5
MAX_DESCRIPTION = 2000


class Channel(StrEnum):
    BROWSER = "browser"
    API = "api"


class Phase(StrEnum):
    """Setup and teardown steps are timed and reported, and their failures fail the run, but
    their time is not the customer's wait: it stays out of the journey's duration."""

    SETUP = "setup"
    STEP = "step"
    TEARDOWN = "teardown"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    service: str
    fn: StepFn
    timeout_s: float | None = None
    soft: bool = False  # a soft step's failure is recorded but does not skip the rest
    phase: Phase = Phase.STEP


class Journey:
    """One CUJ. Create it at module level; add steps with the `step` decorator."""

    def __init__(
        self,
        name: str,
        *,
        cuj: str,
        service: str,
        team: str,
        channel: Channel | str,
        interval: float | str = "60s",
        timeout: float | str = "20s",
        retries: int = 1,
        latency_threshold: float | str | None = None,
        slo_target: float = 0.995,
        description: str = "",
        runbook: str | None = None,
        tags: dict[str, str] | None = None,
        group: str | None = None,
        session: bool = True,
        credentials: tuple[str, ...] | list[str] | None = None,
        sweep: Sweep | None = None,
        settings: PackSettings | None = None,
        waits: tuple[str, ...] | list[str] = (),
        budget_policy: BudgetPolicy | dict[str, Any] | None = None,
        latency_sli: PageTiming | str | None = None,
    ) -> None:
        self.source = _caller_file()
        self._declared: dict[str, Any] = {
            "cuj": cuj, "service": service, "team": team, "channel": channel,
            "interval": interval, "timeout": timeout, "retries": retries,
            "latency_threshold": latency_threshold, "slo_target": slo_target,
            "description": description, "runbook": runbook, "tags": tags,
            "group": group, "session": session, "credentials": credentials, "sweep": sweep,
            "settings": settings,
            "waits": waits, "budget_policy": budget_policy, "latency_sli": latency_sli,
        }  # fmt: skip
        self.name = name
        self._check(_NAME.match(name) is not None, "name", f"{name!r} must match {_NAME.pattern}")
        self.cuj = cuj
        self._check(_NAME.match(cuj) is not None, "cuj", f"{cuj!r} must match {_NAME.pattern}")
        self.service = self._service("service", service)
        self.team = self._service("team", team)
        try:
            self.channel = Channel(channel)
        except ValueError:
            self._fail("channel", f"{channel!r} is not one of: browser, api")
        self.interval_s = self._duration("interval", interval)
        self.timeout_s = self._duration("timeout", timeout)
        self._check(self.timeout_s > 0, "timeout", "must be more than 0s")
        self._check(
            self.interval_s >= self.timeout_s,
            "interval",
            f"{self.interval_s:g}s is shorter than timeout {self.timeout_s:g}s; runs would "
            "overlap. Make the interval at least the timeout",
        )
        self._check(
            isinstance(retries, int) and not isinstance(retries, bool),
            "retries",
            f"{retries!r} is not a whole number",
        )
        self._check(0 <= retries <= MAX_RETRIES, "retries", f"{retries} is not in 0..{MAX_RETRIES}")
        self.retries = retries
        threshold = self.timeout_s if latency_threshold is None else latency_threshold
        self.latency_threshold_s = self._duration("latency_threshold", threshold)
        self._check(
            0 < self.latency_threshold_s <= self.timeout_s,
            "latency_threshold",
            f"{self.latency_threshold_s:g}s must be more than 0 and at most the timeout "
            f"({self.timeout_s:g}s)",
        )
        self._check(
            isinstance(slo_target, float | int) and 0.5 <= slo_target < 1,
            "slo_target",
            f"{slo_target!r} must be a fraction in [0.5, 1), e.g. 0.995",
        )
        self.slo_target = float(slo_target)
        # What `latency_threshold` judges: a page timing (prober/latency_sli.py), else the
        # journey's duration. Its step is checked once the steps are declared.
        self.latency_sli = self._latency_sli(latency_sli)
        self._metadata(description, runbook, tags)
        self.description = description
        self.runbook = runbook
        self.tags = dict(tags or {})
        # Journeys of one exclusive group never run at the same time (they share state).
        self.group = None if group is None else self._service("group", group)
        # False: the CUJ is signing in, so the browser must not start signed in.
        self._check(isinstance(session, bool), "session", f"{session!r} is not True or False")
        self.session = session
        # The target credentials the journey sends: "session" (the login) and names from the
        # target's `credentials:`; None: all of them. Others are never sent, and a journey
        # without "session" never logs in.
        self.credentials = None if credentials is None else tuple(credentials)
        for credential in self.credentials or ():
            self._check(
                isinstance(credential, str) and bool(credential.strip()),
                "credentials",
                f'{credential!r} is not a credential name ("session" or a name from the '
                "target's credentials:)",
            )
        self.sweep = sweep
        self.settings = settings
        # The pack's patience settings this journey waits with: `validate` checks each against
        # the journey's timeout (prober.kit.PackSettings.patience_problems).
        self._check(
            isinstance(waits, tuple | list), "waits", f"{waits!r} is not a list of setting names"
        )
        self.waits = tuple(waits)
        for waited in self.waits:
            declared = None if settings is None else settings.settings.get(waited)
            self._check(
                declared is not None and declared.patience,
                "waits",
                f"{waited!r} is not a patience setting of this journey's settings (declare it "
                "with Setting(Duration, ..., patience=True) in the PackSettings passed as "
                "settings=)",
            )
        # The error-budget policy (prober/slo/policy.py); none declared: the shipped default.
        self.budget_policy = DEFAULT_POLICY
        if budget_policy is not None:
            try:
                self.budget_policy = parse_policy(budget_policy)
            except ValueError as exc:
                self._fail("budget_policy", str(exc))
        self.steps: list[Step] = []

    def _latency_sli(self, declared: object) -> PageTiming | None:
        if declared is None:
            return None
        try:
            sli = parse_sli(declared)
        except ValueError as exc:
            self._fail("latency_sli", str(exc))
        self._check(
            self.channel is Channel.BROWSER,
            "latency_sli",
            "a page timing is measured by a browser; this is an api journey (leave "
            "latency_sli out: its duration is the SLI)",
        )
        return sli

    def _metadata(self, description: object, runbook: object, tags: object) -> None:
        """What exports carry into SLOs and monitors: text, a real URL, tags Datadog keeps."""
        self._check(
            isinstance(description, str) and len(description) <= MAX_DESCRIPTION,
            "description",
            f"must be text of at most {MAX_DESCRIPTION} characters (it goes into every SLO "
            "and monitor)",
        )
        if runbook is not None:
            try:
                check_http_url(runbook)
            except ValueError as exc:
                self._fail("runbook", f"{exc} (a page the on-call opens)")
        self._check(tags is None or isinstance(tags, dict), "tags", "must be a dict of tag: value")
        for key, value in (tags if isinstance(tags, dict) else {}).items():
            self._check(
                isinstance(key, str) and _NAME.match(key) is not None,
                "tags",
                f"key {key!r} must match {_NAME.pattern} (a Datadog tag key)",
            )
            try:
                check_tag(value)
            except ValueError as exc:
                self._fail("tags", f"{key}: {exc}")

    # --- declaring steps ----------------------------------------------------------------------

    def step(
        self,
        name: str,
        *,
        service: str | None = None,
        timeout: float | str | None = None,
        soft: bool = False,
    ) -> Callable[[StepFn], StepFn]:
        """Register the decorated `async def fn(ctx)` as the next step."""

        def register(fn: StepFn) -> StepFn:
            self.add_step(name, fn, service=service, timeout=timeout, soft=soft)
            return fn

        return register

    def setup(
        self, name: str, *, service: str | None = None, timeout: float | str | None = None
    ) -> Callable[[StepFn], StepFn]:
        """Register a setup step: it runs before the steps (all setups first, in order), is
        timed and reported, fails the run when it fails, but is not the customer's wait."""
        return self._phase_step(name, Phase.SETUP, service, timeout)

    def teardown(
        self, name: str, *, service: str | None = None, timeout: float | str | None = None
    ) -> Callable[[StepFn], StepFn]:
        """Register a teardown step: it runs after the steps, also when one failed (before the
        registered cleanups), is timed and reported, and fails a run that had passed."""
        return self._phase_step(name, Phase.TEARDOWN, service, timeout)

    def _phase_step(
        self, name: str, phase: Phase, service: str | None, timeout: float | str | None
    ) -> Callable[[StepFn], StepFn]:
        def register(fn: StepFn) -> StepFn:
            self.add_step(name, fn, service=service, timeout=timeout, phase=phase)
            return fn

        return register

    def add_step(
        self,
        name: str,
        fn: StepFn,
        *,
        service: str | None = None,
        timeout: float | str | None = None,
        soft: bool = False,
        phase: Phase = Phase.STEP,
    ) -> Step:
        field = f"step {name!r}"
        self._check(bool(name and name.strip()), "step", "a step needs a name")
        self._check(all(s.name != name for s in self.steps), field, "is declared twice; rename one")
        self._check(
            inspect.iscoroutinefunction(fn),
            field,
            f"{getattr(fn, '__name__', fn)} is not an async def",
        )
        step_service = self._service(f"{field} service", service or self.service)
        timeout_s = None if timeout is None else self._duration(f"{field} timeout", timeout)
        if timeout_s is not None:
            self._check(
                0 < timeout_s <= self.timeout_s,
                f"{field} timeout",
                f"{timeout_s:g}s must be more than 0 and at most the journey's {self.timeout_s:g}s",
            )
        step = Step(name, step_service, fn, timeout_s, soft, phase)
        self.steps.append(step)
        # Run order: setups, steps, teardowns, each in declaration order.
        order = list(Phase)
        self.steps.sort(key=lambda s: order.index(s.phase))
        return step

    # --- validation helpers -------------------------------------------------------------------

    def _fail(self, field: str, problem: str) -> Any:
        raise JourneyDefinitionError(
            f"{self.source}: journey {getattr(self, 'name', '?')!r}: {field}: {problem}"
        )

    def _check(self, ok: bool, field: str, problem: str) -> None:
        if not ok:
            self._fail(field, problem)

    def _service(self, field: str, value: str) -> str:
        self._check(
            isinstance(value, str) and _SERVICE.match(value) is not None,
            field,
            f"{value!r} must be lower case [a-z0-9_.:/-], as Datadog tags are",
        )
        return value

    def _duration(self, field: str, value: float | str) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            return float(self._fail(field, str(exc)))

    def replace(self, **changes: Any) -> Journey:
        """A copy with some declared fields changed (config overrides), validated again."""
        unknown = set(changes) - set(self._declared)
        if unknown:
            self._fail(", ".join(sorted(unknown)), "cannot be overridden; it is not a field")
        declared = {**self._declared, **changes}
        if "timeout" in changes and "latency_threshold" not in changes:
            threshold = self._declared["latency_threshold"]
            if threshold is not None and parse_duration(threshold) > parse_duration(
                changes["timeout"]
            ):
                declared["latency_threshold"] = changes["timeout"]
        copy = Journey(self.name, **declared)
        copy.source = self.source
        copy.steps = list(self.steps)
        return copy

    def validate_complete(self) -> None:
        """Checks that need the whole module: called by the loader after import."""
        self._check(
            any(s.phase is Phase.STEP for s in self.steps),
            "steps",
            "the journey declares no steps (setup and teardown steps alone measure nothing)",
        )
        if self.latency_sli is not None:
            steps = [s.name for s in self.steps if s.phase is Phase.STEP]
            self._check(
                self.latency_sli.step in steps,
                "latency_sli",
                f"step {self.latency_sli.step!r} is not one of the journey's steps "
                f"({', '.join(map(repr, steps))}); setup and teardown steps are not the "
                "customer's wait",
            )

    def __repr__(self) -> str:
        return f"Journey({self.name!r}, channel={self.channel}, steps={len(self.steps)})"


def _caller_file() -> str:
    frame = sys._getframe(2)
    return frame.f_code.co_filename
