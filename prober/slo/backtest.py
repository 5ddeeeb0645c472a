"""`prober slo backtest`: replay stored runs through the exported alert rules and score them
against incidents.

For each candidate (the shipped rules first, then any `--rules` alternatives) the export is
built exactly as `slo export` builds it (`spec.build`), and every monitor in it is evaluated
minute by minute (`evaluate.py`). With incidents, an alert and an incident match when the alert
concerns the incident (same journey, or the journey's service; the prober's own monitors match
incidents of service `cuj-prober`) and fires at some moment between the incident's start and
its end plus `grace`. Then, per journey and overall:

    alignment        share of incidents with a matching alert (1 - false-negative share)
    false positives  alerts matching no incident
    time to detect   first matching alert's firing minus the incident's start (0 if already on)
    recovery         last matching alert's recovery minus the incident's end
    pages, tickets   alerts by the severity of their monitor

`time_scale` replays a compressed run (scripts/fault_schedule.py probes K times faster): every
time is stretched K-fold around the period's start, so the windows see the cadence they would.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prober.journey import Journey
from prober.maintenance import Maintenance
from prober.slo import spec
from prober.slo.candidates import Candidate
from prober.slo.evaluate import AlertEpisode, evaluate
from prober.slo.incidents import Incident
from prober.store import StoredRun

PROBER_ROW = spec.PROBER_SERVICE


def matches(alert: AlertEpisode, incident: Incident) -> bool:
    """Whether `alert` is about `incident` (time aside)."""
    if alert.service == spec.PROBER_SERVICE:
        return incident.service == spec.PROBER_SERVICE
    return incident.concerns(alert.journey, alert.service)


def p95(values: Sequence[float]) -> float | None:
    """Nearest-rank 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


@dataclass(frozen=True, slots=True)
class IncidentScore:
    incident: Incident
    alerts: tuple[int, ...]  # indexes into the candidate's alerts
    time_to_detect_s: float | None
    recovery_after_end_s: float | None  # None: undetected, or still firing at the end
    still_firing: bool

    @property
    def detected(self) -> bool:
        return bool(self.alerts)


@dataclass(frozen=True, slots=True)
class Summary:
    row: str  # a journey, cuj-prober, or "overall"
    incidents: int
    detected: int
    alerts: int
    false_positive_alerts: int
    pages: int
    tickets: int
    mean_time_to_detect_s: float | None
    p95_time_to_detect_s: float | None
    mean_recovery_after_end_s: float | None

    @property
    def false_negatives(self) -> int:
        return self.incidents - self.detected

    @property
    def alignment(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None

    @property
    def false_positive_rate(self) -> float | None:
        return self.false_positive_alerts / self.alerts if self.alerts else None

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "incidents": self.incidents,
            "detected": self.detected,
            "false_negatives": self.false_negatives,
            "alignment": self.alignment,
            "alerts": self.alerts,
            "false_positive_alerts": self.false_positive_alerts,
            "false_positive_rate": self.false_positive_rate,
            "pages": self.pages,
            "tickets": self.tickets,
            "mean_time_to_detect_s": self.mean_time_to_detect_s,
            "p95_time_to_detect_s": self.p95_time_to_detect_s,
            "mean_recovery_after_end_s": self.mean_recovery_after_end_s,
        }


@dataclass(frozen=True, slots=True)
class CandidateReport:
    name: str
    rules: spec.Rules
    slo_target: float | None
    start: float
    end: float
    alerts: list[AlertEpisode]
    incidents: list[IncidentScore] | None  # None: no incidents file
    rows: list[Summary] = field(default_factory=list)
    overall: Summary | None = None

    def to_json(self) -> dict[str, Any]:
        def alert(a: AlertEpisode) -> dict[str, Any]:
            return {
                "monitor": a.monitor, "monitor_type": a.monitor_type, "severity": a.severity,
                "service": a.service, "journey": a.journey, "group": a.group,
                "fired_at": a.fired_at, "recovered_at": a.recovered_at,
                "fired_after_start_s": a.fired_at - self.start,
            }  # fmt: skip

        return {
            "candidate": self.name,
            "slo_target": self.slo_target,
            "burn_rates": [
                {
                    "name": b.name,
                    "long_window": b.long_window,
                    "short_window": b.short_window,
                    "threshold": b.threshold,
                    "severity": b.severity,
                }
                for b in self.rules.burn_rates
            ],
            "start": self.start,
            "end": self.end,
            "alerts": [alert(a) for a in self.alerts],
            "incidents": None
            if self.incidents is None
            else [
                {
                    "start": s.incident.start,
                    "end": s.incident.end,
                    "journey": s.incident.journey,
                    "service": s.incident.service,
                    "label": s.incident.label,
                    "detected": s.detected,
                    "time_to_detect_s": s.time_to_detect_s,
                    "recovery_after_end_s": s.recovery_after_end_s,
                    "still_firing": s.still_firing,
                    "alerts": [self.alerts[i].monitor for i in s.alerts],
                }
                for s in self.incidents
            ],
            "rows": [r.to_json() for r in self.rows],
            "overall": None if self.overall is None else self.overall.to_json(),
        }


def _score(
    incident: Incident, alerts: Sequence[AlertEpisode], indexes: Sequence[int], grace_s: float
) -> IncidentScore:
    hit = tuple(
        i for i in indexes
        if matches(alerts[i], incident) and alerts[i].active(incident.start, incident.end + grace_s)
    )  # fmt: skip
    if not hit:
        return IncidentScore(incident, (), None, None, False)
    detect = max(0.0, min(alerts[i].fired_at for i in hit) - incident.start)
    recoveries = [alerts[i].recovered_at for i in hit]
    still = any(r is None for r in recoveries)
    recovery = None if still else max(r for r in recoveries if r is not None) - incident.end
    return IncidentScore(incident, hit, detect, recovery, still)


def _summary(
    row: str,
    alerts: Sequence[AlertEpisode],
    indexes: Sequence[int],
    incidents: Sequence[Incident],
    grace_s: float,
) -> tuple[Summary, list[IncidentScore]]:
    scores = [_score(inc, alerts, indexes, grace_s) for inc in incidents]
    matched = {i for s in scores for i in s.alerts}
    detected = [s for s in scores if s.detected]
    ttd = [s.time_to_detect_s for s in detected if s.time_to_detect_s is not None]
    recovery = [s.recovery_after_end_s for s in detected if s.recovery_after_end_s is not None]
    summary = Summary(
        row=row,
        incidents=len(scores),
        detected=len(detected),
        alerts=len(indexes),
        false_positive_alerts=sum(i not in matched for i in indexes),
        pages=sum(alerts[i].severity == "page" for i in indexes),
        tickets=sum(alerts[i].severity == "ticket" for i in indexes),
        mean_time_to_detect_s=_mean(ttd),
        p95_time_to_detect_s=p95(ttd),
        mean_recovery_after_end_s=_mean(recovery),
    )
    return summary, scores


def _row_of(alert: AlertEpisode) -> str:
    return PROBER_ROW if alert.service == spec.PROBER_SERVICE else str(alert.journey)


def _concerns_row(incident: Incident, row: str, service: str) -> bool:
    if row == PROBER_ROW:
        return incident.service == spec.PROBER_SERVICE
    return incident.concerns(row, service)


def score(
    candidate: Candidate,
    export: spec.Export,
    alerts: list[AlertEpisode],
    incidents: Sequence[Incident] | None,
    *,
    start: float,
    end: float,
    grace_s: float,
) -> CandidateReport:
    if incidents is None:
        incidents_used: Sequence[Incident] = []
    else:
        incidents_used = incidents
    services = {slo.journey: slo.service for slo in export.slos}
    rows = []
    for row in [*sorted(services), PROBER_ROW]:
        indexes = [i for i, a in enumerate(alerts) if _row_of(a) == row]
        mine = [inc for inc in incidents_used
                if _concerns_row(inc, row, services.get(row, PROBER_ROW))]  # fmt: skip
        if indexes or mine or row != PROBER_ROW:
            rows.append(_summary(row, alerts, indexes, mine, grace_s)[0])
    overall, scores = _summary("overall", alerts, range(len(alerts)), incidents_used, grace_s)
    return CandidateReport(
        candidate.name, candidate.rules, candidate.slo_target, start, end, alerts,
        None if incidents is None else scores, rows, overall,
    )  # fmt: skip


def backtest(
    journeys: Sequence[Journey],
    runs: Sequence[StoredRun],
    *,
    env: str,
    start: float,
    end: float,
    candidates: Sequence[Candidate],
    incidents: Sequence[Incident] | None = None,
    time_scale: float = 1.0,
    grace_s: float = 0.0,
    maintenance: Maintenance | None = None,
    quorum: spec.Quorum | None = None,
) -> list[CandidateReport]:
    """One report per candidate. `runs` should reach 30 days before `start` (the error-budget
    window); `start`, `end`, run and incident times are real times, stretched by `time_scale`.
    SloError when a candidate's rules cannot be exported for a journey."""

    def stretch(t: float) -> float:
        return start + (t - start) * time_scale

    timed = [(stretch(r.finished_at), r) for r in runs]
    scaled = None
    if incidents is not None:
        scaled = [
            Incident(stretch(i.start), stretch(i.end), i.journey, i.service, i.label)
            for i in incidents
        ]
    locations = sorted({r.location for r in runs}) or ["none"]
    reports = []
    for candidate in candidates:
        # Compressed runs: the journeys' intervals are stretched too (journey-down rollups).
        chosen = [j if time_scale == 1 else j.replace(interval=f"{j.interval_s * time_scale:g}s")
                  for j in journeys]  # fmt: skip
        if candidate.slo_target is not None:
            chosen = [j.replace(slo_target=candidate.slo_target) for j in chosen]
        export = spec.build(chosen, env, locations, rules=candidate.rules, maintenance=maintenance,
                            quorum=quorum)  # fmt: skip
        alerts = evaluate(export, timed, start=start, end=stretch(end))
        reports.append(
            score(candidate, export, alerts, scaled, start=start, end=stretch(end), grace_s=grace_s)
        )
    return reports
