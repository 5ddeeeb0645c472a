"""`prober slo gate`: may a service deploy now? Its journeys' error-budget policies decide.

For every journey in scope and each of its two SLOs, the 30-day budget left and the burn rates
over the policy's windows come from the local store (`StoreBudgets`) or Datadog's SLO API
(`prober/slo/datadog_api.py`); the journey's `budget_policy` says what they mean.

    go (0)              no rule that blocks applies
    stop (1)            a `freeze_deploys` rule applies to at least one SLO
    cannot decide (2)   an SLO has no data, too few runs (`MIN_RUNS`, --min-runs), or the
                        backend could not be read: never a silent go

A stop outranks cannot-decide (it is a decision). `override` turns stop and cannot-decide into
go, and the reason is printed with the decision, so the log shows who deployed past the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prober.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from prober.journey import Journey
from prober.slo import spec
from prober.slo.policy import BLOCKING, PolicyRule, triggered
from prober.slo.series import budget_left, burn_rate, journey_series
from prober.store import StoredRun
from prober.values import parse_duration

GO, STOP, CANNOT_DECIDE = EXIT_OK, EXIT_FAILED, EXIT_USAGE  # the gate's exit codes
# Fewer scheduled runs than this in the window decide nothing: at a 99% target one failure in
# 30 runs is already a third of the budget, and one run says nothing. 30 is half an hour of a
# 60 s journey, or one run a day for a month. `slo gate --min-runs` and `slo status --min-runs`.
MIN_RUNS = 30


def too_few_runs(journey: str, runs: int, needed: int, where: str) -> str | None:
    """The 'cannot decide' reason when `runs` scheduled runs are fewer than `needed`."""
    if runs >= needed:
        return None
    return (f"too few runs: {runs} scheduled run(s) of {journey} {where}, {needed} needed to "
            "decide; wait for more scheduled runs (prober serve), or lower --min-runs")  # fmt: skip


class BudgetUnavailable(Exception):
    """A budget could not be read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Budget:
    budget_left: float  # fraction of the 30-day budget left
    burn: dict[str, float | None]  # policy window -> burn rate


class Budgets(Protocol):
    def budget(self, journey: Journey, slo_type: str, windows: Sequence[str]) -> Budget:
        """BudgetUnavailable when there is nothing to decide on."""


@dataclass(frozen=True, slots=True)
class Verdict:
    journey: str
    slo_type: str
    service: str
    owner: str
    budget_left: float | None
    rules: list[PolicyRule] = field(default_factory=list)
    problem: str | None = None  # why this SLO cannot be decided

    @property
    def blocks(self) -> bool:
        return any(rule.action in BLOCKING for rule in self.rules)


class StoreBudgets:
    """Budgets from stored runs, the way Datadog computes them (one series per journey)."""

    def __init__(
        self, runs: Iterable[StoredRun], *, now: float, env: str, min_runs: int = MIN_RUNS,
        quorum: spec.Quorum | None = None,
    ) -> None:  # fmt: skip
        self._runs: dict[str, list[tuple[float, StoredRun]]] = {}
        for run in runs:
            self._runs.setdefault(run.journey, []).append((run.finished_at, run))
        self._quorum = quorum
        self._now = now
        self._env = env
        self._min_runs = min_runs

    def budget(self, journey: Journey, slo_type: str, windows: Sequence[str]) -> Budget:
        items = self._runs.get(journey.name)
        series = None if items is None else journey_series(items, self._quorum, journey)
        sli = None if series is None else series.sli(slo_type, self._now,
                                                      parse_duration(spec.TIMEFRAME))  # fmt: skip
        left = None if sli is None else budget_left(sli, journey.slo_target)
        if series is None or left is None:
            raise BudgetUnavailable(
                f"no scheduled runs of {journey.name} in env {self._env} in the last "
                f"{spec.TIMEFRAME} in the local store"
            )
        runs = series.sli(spec.AVAILABILITY, self._now, parse_duration(spec.TIMEFRAME)).total
        where = f"in env {self._env} in the last {spec.TIMEFRAME} in the local store"
        few = too_few_runs(journey.name, runs, self._min_runs, where)
        if few is not None:
            raise BudgetUnavailable(few)
        burn = {
            w: burn_rate(series.sli(slo_type, self._now, parse_duration(w)), journey.slo_target)
            for w in windows
        }
        return Budget(left, burn)


def judge(journeys: Sequence[Journey], budgets: Budgets) -> list[Verdict]:
    verdicts = []
    for journey in sorted(journeys, key=lambda j: j.name):
        policy = journey.budget_policy
        owner = policy.owner or journey.team
        for slo_type in (spec.AVAILABILITY, spec.LATENCY):
            try:
                found = budgets.budget(journey, slo_type, policy.windows())
            except BudgetUnavailable as exc:
                verdicts.append(Verdict(journey.name, slo_type, journey.service, owner, None,
                                        problem=str(exc)))  # fmt: skip
                continue
            verdicts.append(Verdict(journey.name, slo_type, journey.service, owner,
                                    found.budget_left,
                                    triggered(policy, found.budget_left, found.burn)))  # fmt: skip
    return verdicts


def decision(verdicts: Sequence[Verdict]) -> int:
    if any(v.blocks for v in verdicts):
        return STOP
    if not verdicts or any(v.problem for v in verdicts):
        return CANNOT_DECIDE
    return GO


WORDS: Mapping[int, str] = {GO: "GO", STOP: "STOP", CANNOT_DECIDE: "CANNOT DECIDE"}
