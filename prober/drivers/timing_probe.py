"""Reading what the page measured during a step: one `page.evaluate` after it, bounded.

`INIT_SCRIPT` runs in the top frame of every document before the page's own scripts (added to
each context at creation) and keeps the entries that no buffer holds for later: largest
contentful paint candidates, layout shifts and long tasks, through buffered
PerformanceObservers. Navigation and resource entries come from the page's own buffers
(`performance.getEntriesByType`); the init script only raises the resource buffer from 250 to
1000 entries, so a busy single-page app does not drop a late step's requests (a page that sets
its own size afterwards keeps it).

The step's window is placed on the page's clock without asking the page at the step's start
(that would cost a round trip per step and could hang): the page reports its `performance.now()`
with the entries, and the runner's monotonic clock says how long ago the step began. The page
read its clock somewhere between the call and its answer, so the step's start is known to within
half that round trip (a millisecond or two); entries that began that close before it are kept.
A request's time from the navigation's start is the page's own number and carries no such error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from prober.page_timings import Navigation, PageTimings, RequestTiming
from prober.target import Target

# A step's collection never takes longer: a page whose script hangs must not hold the run.
COLLECT_LIMIT_S = 0.5
MAX_REQUESTS = 100  # per step: evidence, not a HAR
_KEPT = 1000  # entries per kind the init script keeps per document

INIT_SCRIPT = """(() => {
  if (window !== window.top || !('PerformanceObserver' in window)) return;
  const kept = {lcp: [], shifts: [], tasks: []};
  Object.defineProperty(window, '__cujProberTimings', {value: kept, enumerable: false});
  const keep = (list, item) => { if (list.length < KEPT) list.push(item); };
  const watch = (type, fn) => {
    try {
      new PerformanceObserver(l => l.getEntries().forEach(fn)).observe({type, buffered: true});
    } catch (e) { /* a type this browser does not know */ }
  };
  watch('largest-contentful-paint', e => keep(kept.lcp, e.startTime));
  watch('layout-shift', e => keep(kept.shifts, [e.startTime, e.value, e.hadRecentInput]));
  watch('longtask', e => keep(kept.tasks, [e.startTime, e.duration]));
  try { performance.setResourceTimingBufferSize(KEPT); } catch (e) {}
})();""".replace("KEPT", str(_KEPT))

# `a.since`: the step's start on this document's clock as the caller guessed it, less a margin;
# only entries after it leave the page.
COLLECT_SCRIPT = """(a) => {
  const now = performance.now();
  const since = now - a.elapsed_ms - a.margin_ms;
  const kept = window.__cujProberTimings || {lcp: [], shifts: [], tasks: []};
  const kinds = new Set(['script', 'fetch', 'xmlhttprequest', 'iframe']);
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    now,
    nav: nav ? [nav.name, nav.startTime, nav.responseStart, nav.responseEnd,
                nav.domContentLoadedEventEnd, nav.loadEventEnd] : null,
    resources: performance.getEntriesByType('resource')
      .filter(e => e.startTime >= since && e.responseEnd > 0 && kinds.has(e.initiatorType))
      .slice(-a.max).map(e => [e.name, e.initiatorType, e.startTime, e.responseEnd]),
    lcp: kept.lcp.filter(t => t >= since),
    shifts: kept.shifts.filter(s => s[0] >= since && !s[2]).map(s => [s[0], s[1]]),
    tasks: kept.tasks.filter(t => t[0] >= since),
  };
}"""
_MARGIN_MS = 50.0  # the page's pre-filter is this generous; the exact cut is made here
_KINDS = {"xmlhttprequest": "xhr"}


async def collect(
    page: Page,
    target: Target,
    started: float,
    clock: Callable[[], float],
    clean: Callable[[str], str] = str,
) -> PageTimings | None:
    """The page's timings of the step that began at `started` (on `clock`); None when nothing
    happened in the page during it. Raises PlaywrightError or TimeoutError when the page cannot
    tell within COLLECT_LIMIT_S (the caller counts that as the prober's own fault)."""
    try:
        async with asyncio.timeout(COLLECT_LIMIT_S):
            return await _read(page, target, started, clock, clean)
    except TimeoutError:
        raise TimeoutError(
            f"the page did not report its timings within {COLLECT_LIMIT_S:g}s (its script may "
            "be busy or hung)"
        ) from None


async def _read(
    page: Page,
    target: Target,
    started: float,
    clock: Callable[[], float],
    clean: Callable[[str], str],
) -> PageTimings | None:
    for again in (True, False):
        before = clock()
        try:
            raw = await page.evaluate(
                COLLECT_SCRIPT,
                {
                    "elapsed_ms": (before - started) * 1000,
                    "margin_ms": _MARGIN_MS,
                    "max": MAX_REQUESTS,
                },
            )
        except PlaywrightError as exc:
            # The step left a navigation under way: the new document answers instead.
            if again and "context was destroyed" in str(exc):
                continue
            raise
        after = clock()
        return timings(raw, ((before + after) / 2 - started) * 1000,
                       (after - before) * 500, target, clean)  # fmt: skip
    return None  # unreachable: the loop returns or raises


def timings(
    raw: dict[str, Any],
    elapsed_ms: float,
    uncertainty_ms: float,
    target: Target,
    clean: Callable[[str], str] = str,
) -> PageTimings | None:
    """PageTimings from COLLECT_SCRIPT's answer; the step began `elapsed_ms` before the page
    read its clock, give or take `uncertainty_ms`."""
    step_start = float(raw["now"]) - elapsed_ms  # on the current document's clock
    since = step_start - uncertainty_ms - 1.0

    def after_start(t: float) -> float:
        return t - step_start

    requests: list[RequestTiming] = []

    def add(url: str, resource: str, start: float, end: float) -> None:
        if not target.owns(url):
            return
        requests.append(
            RequestTiming(
                url=clean(_bare(url)),
                resource=resource,
                service=target.service_for_url(url),
                duration_ms=end - start,
                end_ms=after_start(end),
            )
        )

    navigation = None
    nav = raw.get("nav")
    if nav is not None and float(nav[1]) >= since:
        url, start, first_byte, end, dcl, load = nav
        navigation = Navigation(
            url=clean(_bare(str(url))),
            start_ms=after_start(float(start)),
            ttfb_ms=float(first_byte) - float(start),
            dom_content_loaded_ms=float(dcl) - float(start) if dcl else None,
            load_ms=float(load) - float(start) if load else None,
        )
        if end:
            add(str(url), "document", float(start), float(end))
    for url, kind, start, end in raw.get("resources", []):
        if float(start) >= since:
            add(str(url), _KINDS.get(kind, str(kind)), float(start), float(end))
    lcp = [float(t) for t in raw.get("lcp", []) if float(t) >= since]
    shifts = [float(v) for t, v in raw.get("shifts", []) if float(t) >= since]
    tasks = [float(d) for t, d in raw.get("tasks", []) if float(t) >= since]
    if navigation is None and not (requests or lcp or shifts or tasks):
        return None
    nav_start = 0.0 if nav is None else float(nav[1])
    return PageTimings(
        navigation=navigation,
        # LCP is a property of a document loaded in this step; from that document's start.
        lcp_ms=lcp[-1] - nav_start if lcp and navigation is not None else None,
        cls=sum(shifts),
        long_tasks=len(tasks),
        long_task_ms=sum(tasks),
        requests=tuple(requests),
    )


def _bare(url: str) -> str:
    """The URL without query or fragment (they may carry tokens and make every URL unique)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]  # never a user or password
    return f"{parts.scheme}://{host}{parts.path or '/'}"
