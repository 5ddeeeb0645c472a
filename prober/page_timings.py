"""What the page itself measured during one browser step: frozen values the result carries.

Collected after the step from the page's own Performance API (prober/drivers/timing_probe.py),
so they hold none of the prober's time around Playwright's calls. Every time is in
milliseconds: a navigation's phases from the navigation's start, as the page reports them
(the Web Vitals definitions); `start_ms` and a request's `end_ms` from the step's start, on the
page's clock. Only what started inside the step's window is kept; of a step that navigated
twice, the last document's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Navigation:
    """The document load the step made."""

    url: str  # scheme, host and path: no query or fragment
    start_ms: float  # when the navigation began, after the step's start
    ttfb_ms: float  # first byte of the document's answer (responseStart)
    dom_content_loaded_ms: float | None  # None: the event had not ended when collected
    load_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "start_ms": _ms(self.start_ms),
            "ttfb_ms": _ms(self.ttfb_ms),
            "dom_content_loaded_ms": _ms(self.dom_content_loaded_ms),
            "load_ms": _ms(self.load_ms),
        }


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One request to the target's origins that the step's page made and saw answered."""

    url: str  # scheme, host and path: no query or fragment
    resource: str  # document | script | fetch | xhr | iframe
    service: str | None  # the target's route map owner of the path
    duration_ms: float  # request start to the answer's last byte
    end_ms: float  # the answer's last byte, after the step's start

    @property
    def path(self) -> str:
        rest = self.url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "resource": self.resource,
            "service": self.service,
            "duration_ms": _ms(self.duration_ms),
            "end_ms": _ms(self.end_ms),
        }


@dataclass(frozen=True, slots=True)
class PageTimings:
    navigation: Navigation | None = None
    lcp_ms: float | None = None  # largest contentful paint, from the navigation's start
    cls: float = 0.0  # layout shifts without recent input, summed over the step
    long_tasks: int = 0
    long_task_ms: float = 0.0
    requests: tuple[RequestTiming, ...] = field(default_factory=tuple)

    @property
    def origin_ms(self) -> float:
        """Where the page's own clock starts for this step: the navigation it made, else the
        step's start. A request's time to its answer is measured from here."""
        return 0.0 if self.navigation is None else self.navigation.start_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "navigation": None if self.navigation is None else self.navigation.to_json(),
            "lcp_ms": _ms(self.lcp_ms),
            "cls": round(self.cls, 4),
            "long_tasks": self.long_tasks,
            "long_task_ms": _ms(self.long_task_ms),
            "requests": [r.to_json() for r in self.requests],
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
