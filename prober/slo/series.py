"""The SLO arithmetic Datadog does, on stored runs: rolling-window sums of `as_count()` points.

A run is one count of `cuj.journey.runs` at its finish time (when the sink sent it). A window
of W seconds ending at t holds the runs with t - W < finished_at <= t. Only scheduled runs are
in a series; the SLOs' denominator leaves out `probe_error`, which the probe_error-rate monitor
counts instead, and the latency SLO's holds successful runs only (`spec.queries`). Prefix sums
make every window two bisections, so a backtest can evaluate every
minute of a month.

A quorum SLI (`spec.Quorum`, several locations) counts time slices instead of runs, as a
Datadog time-slice SLO does: a complete slice of `slice_s` seconds is bad when scheduled runs
failed (status `failure`) from at least `quorum` distinct locations in it, good otherwise (no
data is good, as Datadog counts it). Slices count from the first slice holding a run, so a
young store is not padded with a month of good slices.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

from prober import metrics as m
from prober.journey import Journey
from prober.slo.spec import AVAILABILITY, LATENCY, Quorum
from prober.store import StoredRun


@dataclass(frozen=True, slots=True)
class Sli:
    good: int
    total: int

    @property
    def ratio(self) -> float | None:
        return None if self.total == 0 else self.good / self.total


def counted(run: StoredRun, slo_type: str = AVAILABILITY) -> bool:
    """In the SLO's denominator: scheduled and not the prober's own fault; for latency also
    successful (a failed run spends the availability budget only: `spec.queries`)."""
    scheduled = run.trigger == m.SCHEDULE_TRIGGER and run.status != m.PROBE_ERROR
    return scheduled and (slo_type == AVAILABILITY or run.status == m.SUCCESS)


def good(run: StoredRun, slo_type: str) -> bool:
    success = run.status == m.SUCCESS
    return success and (slo_type == AVAILABILITY or run.within_slo)


def burn_rate(sli: Sli, slo_target: float) -> float | None:
    """How fast the budget burns: the error rate over the allowed error rate (1 = on budget)."""
    if sli.total == 0:
        return None
    return ((sli.total - sli.good) / sli.total) / (1 - slo_target)


def budget_left(sli: Sli, slo_target: float) -> float | None:
    """Fraction of the window's error budget left (< 0: overspent); None without runs."""
    if sli.total == 0:
        return None
    return 1 - (sli.total - sli.good) / ((1 - slo_target) * sli.total)


def _prefix(flags: Iterable[bool]) -> list[int]:
    return [0, *accumulate(int(f) for f in flags)]


class Series:
    """The scheduled runs of one group (a journey, or a journey at a location), oldest first,
    given with the times they count at (a backtest may stretch them)."""

    def __init__(
        self, runs: Iterable[tuple[float, StoredRun]], *, quorum: int = 0, slice_s: int = 0
    ) -> None:
        ordered = sorted((r for r in runs if r[1].trigger == m.SCHEDULE_TRIGGER),
                         key=lambda r: r[0])  # fmt: skip
        self.times = [t for t, _ in ordered]
        self.quorum, self.slice_s = quorum, slice_s
        failing: dict[int, set[str]] = {}
        if quorum:
            for t, run in ordered:
                if run.status == m.FAILURE:
                    failing.setdefault(int(t // slice_s), set()).add(run.location)
        self._bad_slices = sorted(k for k, where in failing.items() if len(where) >= quorum)
        self._first_slice = int(self.times[0] // slice_s) if quorum and self.times else None
        self._counted = {
            slo_type: _prefix(counted(r, slo_type) for _, r in ordered)
            for slo_type in (AVAILABILITY, LATENCY)
        }
        self._good = {
            slo_type: _prefix(counted(r, slo_type) and good(r, slo_type) for _, r in ordered)
            for slo_type in (AVAILABILITY, LATENCY)
        }
        self._probe = _prefix(r.status == m.PROBE_ERROR for _, r in ordered)

    def _span(self, end: float, window_s: float) -> tuple[int, int]:
        return bisect_right(self.times, end - window_s), bisect_right(self.times, end)

    def sli(self, slo_type: str, end: float, window_s: float) -> Sli:
        if self.quorum and slo_type == AVAILABILITY:
            return self._slices(end, window_s)
        lo, hi = self._span(end, window_s)
        good_runs = self._good[slo_type][hi] - self._good[slo_type][lo]
        return Sli(good_runs, self._counted[slo_type][hi] - self._counted[slo_type][lo])

    def _slices(self, end: float, window_s: float) -> Sli:
        """Good and all complete slices in (end - window_s, end], from the first run's."""
        if self._first_slice is None:
            return Sli(0, 0)
        first = max(self._first_slice, -int(-(end - window_s) // self.slice_s))
        last = int(end // self.slice_s) - 1  # the slice holding `end` is not complete
        if last < first:
            return Sli(0, 0)
        bad = bisect_right(self._bad_slices, last) - bisect_left(self._bad_slices, first)
        total = last - first + 1
        return Sli(total - bad, total)

    def probe_errors(self, end: float, window_s: float) -> tuple[int, int]:
        """(probe_error runs, all scheduled runs) in the window."""
        lo, hi = self._span(end, window_s)
        return self._probe[hi] - self._probe[lo], hi - lo

    def any_run(self, end: float, window_s: float) -> bool:
        lo, hi = self._span(end, window_s)
        return hi > lo


def journey_series(
    runs: Iterable[tuple[float, StoredRun]], quorum: Quorum | None, journey: Journey | None
) -> Series:
    """The series of one journey's runs with the SLI the export writes for it: the quorum SLI
    when it is probed from several locations (`quorum`), the run-based one otherwise."""
    if quorum is None or journey is None:
        return Series(runs)
    return Series(runs, quorum=quorum.min_locations, slice_s=quorum.slice_s(journey))
