"""A journey's latency SLI on a page timing, instead of its steps' wall time.

    Journey(..., latency_sli=PageTiming(step="open canvas", request="/api/workflows/*"))
    Journey(..., latency_sli="lcp:open canvas")

The latency SLI is defined in one place: a run is within its SLO when it succeeded and its
latency - the SLI below, or the journey's duration when none is declared - is at most
`latency_threshold` (`JourneyResult.within_slo`). That decision is the `within_slo` tag of
`cuj.journey.runs`, which the exported latency SLO counts, and the column of the result store
that `slo status`, the backtest and the gate count: all four read the one decision.

A run whose page did not report the timing (the request was not made, the collection failed)
is judged on the step's wall time instead: that is at least as long, so a prober fault can
only make a run look slower, never hide a slow one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from prober.target import glob_regex

if TYPE_CHECKING:
    from prober.result import StepResult


class Timing(StrEnum):
    """The page's own milestones a latency SLI may use (from the navigation's start)."""

    LCP = "lcp"
    TTFB = "ttfb"
    DOM_CONTENT_LOADED = "dom_content_loaded"
    LOAD = "load"
    REQUEST = "request"  # the answer of a request matching a path glob ended


@dataclass(frozen=True, slots=True)
class PageTiming:
    """The latency SLI: a page timing of one step. Give `request` (a path glob as in the
    target's route map, `*` within a segment) for the time until the last answer to a matching
    request of the step ended, or `timing` for one of the navigation's milestones."""

    step: str
    request: str | None = None
    timing: Timing | str | None = None

    @property
    def kind(self) -> Timing:
        return Timing.REQUEST if self.request is not None else Timing(self.timing or "")

    def __str__(self) -> str:
        if self.request is not None:
            return f"request:{self.step}:{self.request}"
        return f"{self.timing}:{self.step}"

    def describe(self) -> str:
        """In words, for the SLO's description."""
        where = f"its {self.step!r} step"
        if self.request is not None:
            return f"the page's answer to {self.request} in {where} ended"
        names = {
            Timing.LCP: "largest contentful paint", Timing.TTFB: "document's first byte",
            Timing.DOM_CONTENT_LOADED: "DOMContentLoaded", Timing.LOAD: "load event",
        }  # fmt: skip
        return f"the page's {names[self.kind]} in {where} came"

    def value_s(self, steps: tuple[StepResult, ...]) -> float | None:
        """The timing in seconds from the run's steps, or None when the page did not report it."""
        step = next((s for s in steps if s.name == self.step), None)
        page = None if step is None else step.page
        if page is None:
            return None
        ms: float | None = None
        if self.request is not None:
            pattern = glob_regex(self.request)
            ends = [r.end_ms for r in page.requests if pattern.match(r.path)]
            ms = max(ends) - page.origin_ms if ends else None
        elif page.navigation is not None:
            nav = page.navigation
            ms = {
                Timing.LCP: page.lcp_ms, Timing.TTFB: nav.ttfb_ms,
                Timing.DOM_CONTENT_LOADED: nav.dom_content_loaded_ms, Timing.LOAD: nav.load_ms,
            }[self.kind]  # fmt: skip
        return None if ms is None else max(ms, 0.0) / 1000


def parse_sli(value: object) -> PageTiming:
    """A declared `latency_sli`: a PageTiming, or "<timing>:<step>" text. ValueError says
    what is wrong (the journey names the field)."""
    if isinstance(value, str):
        timing, sep, step = value.partition(":")
        if not sep or not step.strip():
            raise ValueError(
                f'{value!r} is not <timing>:<step>, e.g. "lcp:open canvas"; for a request '
                'write PageTiming(step="open canvas", request="/api/workflows/*")'
            )
        value = PageTiming(step=step, timing=timing)
    if not isinstance(value, PageTiming):
        raise ValueError(f'{value!r} is not a PageTiming or "<timing>:<step>" text')
    if not isinstance(value.step, str) or not value.step.strip():
        raise ValueError("PageTiming needs the step's name")
    if (value.request is None) == (value.timing is None):
        raise ValueError("give PageTiming exactly one of request= (a path glob) and timing=")
    if value.request is not None:
        if not isinstance(value.request, str) or not value.request.startswith("/"):
            raise ValueError(f"request {value.request!r} must be a path glob starting with /")
        return value
    named = [t.value for t in Timing if t is not Timing.REQUEST]
    if value.timing not in named:
        raise ValueError(f"timing {value.timing!r} is not one of: {', '.join(named)}")
    return PageTiming(step=value.step, timing=Timing(value.timing))
