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
from prober.slo import spec
from prober.slo.blame import blame
from prober.slo.gate import MIN_RUNS, too_few_runs
from prober.slo.policy import triggered
from prober.slo.series import Sli, budget_left, burn_rate, counted, journey_series
from prober.store import StoredRun
from prober.values import parse_duration

SHOWN_WINDOWS = ("5m", "1h", "6h", "24h")


@dataclass(frozen=True, slots=True)
class SloStatus:
    slo_type: str
    sli: Sli
    budget_left: float | None  # fraction of the window's error budget left (< 0: overspent)
    burn: dict[str, float | None]  # window -> burn rate (None: no runs in that window)
    firing: list[str] = field(default_factory=list)  # the exported alerts that would fire
    policy: list[str] = field(default_factory=list)  # the policy rules that apply now


@dataclass(frozen=True, slots=True)
class JourneyStatus:
    journey: str
    target: str
    slo_target: float
    window: str
    first_attempt: Sli
    slos: dict[str, SloStatus]
    # Why the budget is not judged: fewer scheduled runs than the gate needs (None: enough).
    too_few_runs: str | None = None
    # Several locations: whose problem the latest failures are (prober/slo/blame.py).
    blame: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "target": self.target,
            "slo_target": self.slo_target,
            "window": self.window,
            "first_attempt_sli": self.first_attempt.ratio,
            "too_few_runs": self.too_few_runs,
            "blame": self.blame,
            **{
                slo_type: {
                    "sli": s.sli.ratio,
                    "good": s.sli.good,
                    "total": s.sli.total,
                    "error_budget_left": s.budget_left,
                    "burn_rates": {w: s.burn[w] for w in SHOWN_WINDOWS},
                    "firing": s.firing,
                    "policy_actions": s.policy,
                }
                for slo_type, s in self.slos.items()
            },
        }


def compute(
    runs: Iterable[StoredRun],
    journeys: Mapping[str, Journey],
    *,
    now: float,
    window: str,
    window_s: float,
    min_runs: int = MIN_RUNS,
    quorum: spec.Quorum | None = None,
) -> list[JourneyStatus]:
    """Per (journey, target): the SLIs over `window_s`, burn rates over the shipped rules' and
    the policy's windows (each within `window_s` too), the alerts and policy rules that apply.
    With fewer than `min_runs` scheduled runs the budget left is None and no policy rule
    applies (`too_few_runs` says why): as `slo gate`, it decides nothing on too little data."""
    rules = spec.SHIPPED
    by_pair: dict[tuple[str, str], list[StoredRun]] = {}
    for run in runs:
        if run.journey in journeys and now - window_s < run.finished_at <= now:
            by_pair.setdefault((run.journey, run.target), []).append(run)
    statuses = []
    for (name, target), pair_runs in sorted(by_pair.items()):
        journey = journeys[name]
        series = journey_series(((r.finished_at, r) for r in pair_runs), quorum, journey)
        count = series.sli(spec.AVAILABILITY, now, window_s).total
        if not count:
            continue  # only prober faults or unscheduled runs
        few = too_few_runs(name, count, min_runs, f"on {target} in the last {window}")
        windows = {*SHOWN_WINDOWS, *journey.budget_policy.windows()}
        for rate in rules.burn_rates:
            windows |= {rate.long_window, rate.short_window}
        slos = {}
        for slo_type in (spec.AVAILABILITY, spec.LATENCY):
            burn = {
                label: burn_rate(
                    series.sli(slo_type, now, min(parse_duration(label), window_s)),
                    journey.slo_target,
                )
                for label in sorted(windows)
            }
            sli = series.sli(slo_type, now, window_s)
            left = None if few else budget_left(sli, journey.slo_target)
            slos[slo_type] = SloStatus(
                slo_type,
                sli,
                left,
                burn,
                [
                    f"{r.name}_burn ({r.severity})"
                    for r in rules.burn_rates
                    if r.fires(burn[r.long_window], burn[r.short_window])
                ],
                []
                if few
                else [
                    rule.describe(journey.service)
                    for rule in triggered(journey.budget_policy, left, burn)
                ],
            )
        scheduled = [r for r in pair_runs if counted(r)]
        first = Sli(sum(r.first_attempt_status == m.SUCCESS for r in scheduled), len(scheduled))
        blamed = None if quorum is None else blame(pair_runs, journey, quorum, now)
        statuses.append(
            JourneyStatus(name, target, journey.slo_target, window, first, slos, too_few_runs=few,
                          blame=None if blamed is None else blamed.describe(journey.service))
        )  # fmt: skip
    return statuses
