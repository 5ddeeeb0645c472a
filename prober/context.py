"""What a step receives: the page, the API client, the target, the run, shared vars, cleanup."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from prober.errors import JourneyAssertion, ProbeError, ReportedFailure
from prober.target import Target

if TYPE_CHECKING:
    from playwright.async_api import Page

Cleanup = Callable[[], Awaitable[Any] | Any]


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
    ) -> None:
        self.target = target
        self.run = run
        self.api = api
        self.vars: dict[str, Any] = {}
        self._cleanups = cleanups
        self._page = page
        self.step_name: str | None = None

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
