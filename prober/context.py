"""What a step receives: the page, the API client, the target, the run, shared vars, cleanup."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import httpx

from prober.errors import JourneyAssertion, ProbeError, ReportedFailure
from prober.target import Target

if TYPE_CHECKING:
    from playwright.async_api import Page

Cleanup = Callable[[], Awaitable[Any] | Any]
T = TypeVar("T")
# ctx.wait leaves this much of the step for reporting before the runner's deadline.
WAIT_MARGIN_S = 1.0
MIN_WAIT_S = 0.5


def _gave_up(exc: Exception) -> bool:
    """Whether `exc` means a wait ran out (not that something answered wrongly)."""
    if isinstance(exc, AssertionError):
        return True
    return type(exc).__name__ == "TimeoutError" and type(exc).__module__.startswith("playwright")


@dataclass(frozen=True, slots=True)
class RunInfo:
    journey: str
    run_id: str
    trace_id: str
    attempt: int
    trigger: str

    def resource_name(self, suffix: str = "") -> str:
        """`prober-<journey>-<run_id>[-suffix]`: what the sweep recognises as probe data."""
        name = f"prober-{self.journey}-{self.run_id}"
        return f"{name}-{suffix}" if suffix else name


@dataclass
class CleanupStack:
    """Teardowns registered the moment a resource exists; run last-in first-out."""

    entries: list[tuple[str, Cleanup]] = field(default_factory=list)

    def push(self, name: str, callback: Cleanup) -> None:
        self.entries.append((name, callback))


async def call_cleanup(callback: Cleanup) -> None:
    outcome = callback()
    if inspect.isawaitable(outcome):
        await outcome


class StepContext:
    def __init__(
        self,
        *,
        target: Target,
        run: RunInfo,
        api: httpx.AsyncClient,
        cleanups: CleanupStack,
        page: Page | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.run = run
        self.api = api
        self.vars: dict[str, Any] = {}
        self._cleanups = cleanups
        self._page = page
        self.step_name: str | None = None
        self.annotations: dict[str, Any] = {}
        self.deadline: float | None = None  # monotonic time the current step must end by
        self._clock = clock

    @property
    def remaining_s(self) -> float:
        """Seconds left before the current step's deadline: budget waits from this."""
        if self.deadline is None:
            return float("inf")
        return max(0.0, self.deadline - self._clock())

    async def wait(self, what: str, check: Callable[[float], Awaitable[T]], *, cap_s: float) -> T:
        """Run `check(timeout_ms)`, a wait for the target to reach a state.

        The wait is bounded by `cap_s` - how long a customer would wait before calling it
        broken - or by the step's deadline less a margin, whichever is nearer. Giving up at the
        cap is the check's own verdict (an `assertion`: the run is stuck, the canvas stays
        empty); giving up because the deadline was nearer is a `timeout`, since the journey ran
        out of time before the customer's patience did.
        """
        left_s = self.remaining_s - WAIT_MARGIN_S
        deadline_bound = left_s < cap_s
        limit_ms = max(MIN_WAIT_S, min(cap_s, left_s)) * 1000
        try:
            return await check(limit_ms)
        except Exception as exc:
            if deadline_bound and _gave_up(exc):
                raise TimeoutError(
                    f"the step's deadline came while waiting for {what}: {exc}"
                ) from exc
            raise

    def annotate(self, key: str, value: Any) -> None:
        """Report a value with the run (e.g. how many leftovers a sweep removed)."""
        self.annotations[key] = value

    @property
    def page(self) -> Page:
        if self._page is None:
            raise ProbeError("ctx.page exists only in browser journeys; this one is an api journey")
        return self._page

    def cleanup(self, callback: Cleanup, name: str | None = None) -> None:
        """Register a teardown now; it runs after success, failure, timeout or cancellation."""
        label = name or str(getattr(callback, "__name__", "cleanup"))
        self._cleanups.push(f"{self.step_name}: {label}" if self.step_name else label, callback)

    def fail(self, message: str, *, service: str | None = None) -> NoReturn:
        """The outcome is wrong although everything answered: an `assertion` failure."""
        raise JourneyAssertion(message, service=service)

    def reported_failure(self, service: str, message: str) -> NoReturn:
        """The platform reported that `service` failed (e.g. a run's error names it)."""
        raise ReportedFailure(service, message)
