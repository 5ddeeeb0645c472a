"""`prober slo status`: the SLOs as the exported Datadog objects would compute them, from the
local result store: SLI over the window, error budget left, burn rates, alerts that would fire.

Same rules as the export: scheduled runs only, prober faults (`probe_error`) left out. A run
counts at its finish time (when its metric was sent). Time is a parameter (`now`), so tests
use a frozen clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prober import metrics as m
from prober.journey import Journey
from prober.slo.spec import AVAILABILITY, BURN_RATES, LATENCY, BurnRate
from prober.store import StoredRun

SHOWN_WINDOWS = ("5m", "1h", "6h", "24h")
WINDOW_SECONDS = {"5m": 300.0, "30m": 1800.0, "1h": 3600.0, "2h": 7200.0, "6h": 21600.0,
                  "24h": 86400.0}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sli:
    good: int
    total: int

    @property
    def ratio(self) -> float | None:
        return None if self.total == 0 else self.good / self.total


@dataclass(frozen=True, slots=True)
class SloStatus:
    slo_type: str
    sli: Sli
    budget_left: float | None  # fraction of the window's error budget left (< 0: overspent)
    burn: dict[str, float | None]  # window -> burn rate (None: no runs in that window)
    firing: list[str] = field(default_factory=list)  # the exported alerts that would fire


@dataclass(frozen=True, slots=True)
class JourneyStatus:
    journey: str
    target: str
    slo_target: float
    window: str
    first_attempt: Sli
    slos: dict[str, SloStatus]

    def to_json(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "target": self.target,
            "slo_target": self.slo_target,
            "window": self.window,
            "first_attempt_sli": self.first_attempt.ratio,
            **{
                slo_type: {
                    "sli": s.sli.ratio,
                    "good": s.sli.good,
                    "total": s.sli.total,
                    "error_budget_left": s.budget_left,
                    "burn_rates": {w: s.burn[w] for w in SHOWN_WINDOWS},
                    "firing": s.firing,
                }
                for slo_type, s in self.slos.items()
            },
        }


def _counted(run: StoredRun) -> bool:
    return run.trigger == m.SCHEDULE_TRIGGER and run.status != m.PROBE_ERROR


def _good(run: StoredRun, slo_type: str) -> bool:
    success = run.status == m.SUCCESS
    return success and (slo_type == AVAILABILITY or run.within_slo)


def _sli(runs: list[StoredRun], slo_type: str) -> Sli:
    return Sli(sum(_good(r, slo_type) for r in runs), len(runs))


def burn_rate(sli: Sli, slo_target: float) -> float | None:
    """How fast the budget burns: the error rate over the allowed error rate (1 = on budget)."""
    if sli.total == 0:
        return None
    return ((sli.total - sli.good) / sli.total) / (1 - slo_target)


def budget_left(sli: Sli, slo_target: float) -> float | None:
    if sli.total == 0:
        return None
    return 1 - (sli.total - sli.good) / ((1 - slo_target) * sli.total)


def _fires(rate: BurnRate, burn: Mapping[str, float | None]) -> bool:
    long, short = burn[rate.long_window], burn[rate.short_window]
    if long is None or short is None:
        return False
    return long > rate.threshold and short > rate.threshold


def compute(
    runs: Iterable[StoredRun],
    journeys: Mapping[str, Journey],
    *,
    now: float,
    window: str,
    window_s: float,
) -> list[JourneyStatus]:
    by_pair: dict[tuple[str, str], list[StoredRun]] = {}
    for run in runs:
        if run.journey in journeys and _counted(run) and now - window_s < run.finished_at <= now:
            by_pair.setdefault((run.journey, run.target), []).append(run)
    statuses = []
    for (name, target), pair_runs in sorted(by_pair.items()):
        journey = journeys[name]
        slos = {}
        for slo_type in (AVAILABILITY, LATENCY):
            burn = {
                label: burn_rate(
                    _sli([r for r in pair_runs if now - seconds < r.finished_at], slo_type),
                    journey.slo_target,
                )
                for label, seconds in WINDOW_SECONDS.items()
            }
            sli = _sli(pair_runs, slo_type)
            slos[slo_type] = SloStatus(
                slo_type,
                sli,
                budget_left(sli, journey.slo_target),
                burn,
                [f"{r.name}_burn ({r.severity})" for r in BURN_RATES if _fires(r, burn)],
            )
        first = Sli(sum(r.first_attempt_status == m.SUCCESS for r in pair_runs), len(pair_runs))
        statuses.append(JourneyStatus(name, target, journey.slo_target, window, first, slos))
    return statuses
