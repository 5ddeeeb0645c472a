"""The exported monitors, evaluated over time on stored runs the way Datadog evaluates them.

Every monitor of an `Export` (so every rule `slo export` writes, and nothing else) is checked
once a minute (Datadog's monitor cadence) from the start of the period to its end, on rolling
windows ending at that minute:

    burn_rate         both windows' burn rate above the threshold (SLO of one journey)
    error_budget      more than `critical`% of the 30-day budget spent
    probe_error_rate  probe_error runs / scheduled runs over the window above `critical`, per
                      journey and location (the monitor's `by {journey,location}`)
    location_local    per location, the share of `rollup` buckets of the window with a failed
                      scheduled run of the journey there (clamp_max(..., 1) by {location})
    journey_down      per `rollup` bucket, how many locations had a failed scheduled run of the
                      journey (count_nonzero ... by {location}); fires when the average over the
                      complete buckets of the last `window` (a bucket without a point is 0)
                      reaches the critical threshold, recovers below critical_recovery
    no_data           the heartbeat, by proxy: no scheduled run finished at the location for
                      HEARTBEAT_NO_DATA_MINUTES, between its first and last stored run (the store
                      keeps runs, not heartbeats; valid while journeys run more often than that)

The SLO monitors see the runs the export's corrections leave in (`spec.uncorrected`: maintenance
windows are out of the SLO, as Datadog's SLO corrections take them out); the prober's own
monitors see every run.

An alert fires at the first minute its condition holds and recovers at the first minute it no
longer does. Only the critical threshold makes an alert (Datadog's warn state notifies nobody
by default in the exported messages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prober import metrics as m
from prober.slo import spec
from prober.slo.series import Series, budget_left, burn_rate
from prober.store import StoredRun
from prober.values import parse_duration

EVALUATION_INTERVAL_S = 60.0  # Datadog evaluates monitors once a minute


@dataclass(frozen=True, slots=True)
class AlertEpisode:
    monitor: str  # the exported monitor's name
    monitor_type: str
    severity: str  # page | ticket
    service: str  # the SLO's service, or cuj-prober for the prober's own monitors
    journey: str | None  # the SLO's journey, or the group of a probe_error-rate alert
    group: str  # what Datadog would show as the alert's group
    fired_at: float
    recovered_at: float | None  # None: still firing at the end of the period

    def active(self, start: float, end: float) -> bool:
        """Firing at some moment of [start, end]."""
        return self.fired_at <= end and (self.recovered_at is None or self.recovered_at >= start)


Condition = Callable[[float], bool]


def _burn(monitor: spec.Monitor, series: Series) -> Condition:
    assert monitor.slo is not None and monitor.burn_rate is not None
    rate, slo_type, target = monitor.burn_rate, monitor.slo.slo_type, monitor.slo.target / 100
    long_s, short_s = parse_duration(rate.long_window), parse_duration(rate.short_window)

    def holds(t: float) -> bool:
        return rate.fires(
            burn_rate(series.sli(slo_type, t, long_s), target),
            burn_rate(series.sli(slo_type, t, short_s), target),
        )

    return holds


def _budget(monitor: spec.Monitor, series: Series) -> Condition:
    assert monitor.slo is not None
    slo_type, target = monitor.slo.slo_type, monitor.slo.target / 100
    timeframe = parse_duration(spec.TIMEFRAME)

    def holds(t: float) -> bool:
        left = budget_left(series.sli(slo_type, t, timeframe), target)
        return left is not None and (1 - left) * 100 > monitor.critical

    return holds


def _probe_errors(monitor: spec.Monitor, series: Series) -> Condition:
    assert monitor.probe_errors is not None
    window = parse_duration(monitor.probe_errors.window)

    def holds(t: float) -> bool:
        errors, total = series.probe_errors(t, window)
        return total > 0 and errors / total > monitor.critical

    return holds


def _silence(series: Series) -> Condition:
    window = spec.HEARTBEAT_NO_DATA_MINUTES * 60.0
    first, last = (series.times[0], series.times[-1]) if series.times else (0.0, -1.0)

    def holds(t: float) -> bool:
        return first + window <= t <= last and not series.any_run(t, window)

    return holds


def _down(rule: spec.DownRule, failures: Mapping[str, list[float]]) -> Callable[[float], float]:
    """The monitor's value at t: the average number of failing locations per bucket."""
    buckets: dict[int, set[str]] = {}
    for location, times in failures.items():
        for t in times:
            buckets.setdefault(int(t // rule.rollup_s), set()).add(location)

    def value(t: float) -> float:
        last = int(t // rule.rollup_s) - 1  # complete buckets only
        first = int((t - rule.window_s) // rule.rollup_s)
        if last < first:
            return 0.0
        counts = [len(buckets.get(k, ())) for k in range(first, last + 1)]
        return sum(counts) / len(counts)

    return value


def _episodes(
    holds: Condition, times: list[float], clears: Condition | None = None
) -> Iterable[tuple[float, float | None]]:
    """Firing from the first minute `holds`; recovered at the first minute `clears` (default:
    no longer holds)."""
    fired: float | None = None
    for t in times:
        if fired is None:
            if holds(t):
                fired = t
        elif clears(t) if clears is not None else not holds(t):
            yield fired, t
            fired = None
    if fired is not None:
        yield fired, None


def evaluation_times(start: float, end: float) -> list[float]:
    count = int((end - start) // EVALUATION_INTERVAL_S)
    return [start + (i + 1) * EVALUATION_INTERVAL_S for i in range(count)]


def evaluate(
    export: spec.Export,
    runs: Iterable[tuple[float, StoredRun]],
    *,
    start: float,
    end: float,
) -> list[AlertEpisode]:
    """Every alert the export's monitors would have raised in (start, end], oldest first.

    `runs` are (the time a run counts at, the run); runs before `start` fill the windows."""
    listed = list(runs)
    kept = {id(r) for r in spec.uncorrected((r for _, r in listed), export.maintenance)}
    by_journey: dict[str, list[tuple[float, StoredRun]]] = {}
    by_group: dict[tuple[str, str], list[tuple[float, StoredRun]]] = {}
    by_location: dict[str, list[tuple[float, StoredRun]]] = {}
    by_all_journey: dict[str, list[tuple[float, StoredRun]]] = {}
    for t, run in listed:
        by_all_journey.setdefault(run.journey, []).append((t, run))
        if id(run) in kept:
            by_journey.setdefault(run.journey, []).append((t, run))
        by_group.setdefault((run.journey, run.location), []).append((t, run))
        by_location.setdefault(m.tag_value(run.location), []).append((t, run))
    sliced = {slo.journey: slo for slo in export.slos if slo.time_slice}
    journey_series = {
        name: Series(items, quorum=sliced[name].quorum, slice_s=sliced[name].slice_s)
        if name in sliced else Series(items)
        for name, items in by_journey.items()
    }  # fmt: skip
    times = evaluation_times(start, end)
    found: list[AlertEpisode] = []

    def add(monitor: spec.Monitor, holds: Condition, service: str, journey: str | None,
            group: str, *, clears: Condition | None = None) -> None:  # fmt: skip
        for fired, recovered in _episodes(holds, times, clears):
            found.append(AlertEpisode(monitor.name, monitor.monitor_type, monitor.severity,
                                      service, journey, group, fired, recovered))  # fmt: skip

    for monitor in export.monitors:
        if monitor.slo is not None:
            series = journey_series.get(monitor.slo.journey)
            if series is None:
                continue
            make = _burn if monitor.monitor_type == "burn_rate" else _budget
            add(monitor, make(monitor, series), monitor.slo.service, monitor.slo.journey,
                f"journey:{monitor.slo.journey}")  # fmt: skip
        elif monitor.down is not None and monitor.monitor_type == "location_local":
            rule = monitor.down
            per_location: dict[str, list[float]] = {}
            for t, run in by_all_journey.get(rule.journey, []):
                if run.trigger == m.SCHEDULE_TRIGGER:
                    per_location.setdefault(run.location, [])
                    if run.status == m.FAILURE:
                        per_location[run.location].append(t)
            for location, times in sorted(per_location.items()):
                holds, clears = _down_conditions(monitor, _down(rule, {location: times}))
                add(monitor, holds, spec.PROBER_SERVICE, rule.journey,
                    f"journey:{rule.journey},location:{location}", clears=clears)  # fmt: skip
        elif monitor.down is not None:
            rule = monitor.down
            failures: dict[str, list[float]] = {}
            for t, run in by_all_journey.get(rule.journey, []):
                if run.status == m.FAILURE and run.trigger == m.SCHEDULE_TRIGGER:
                    failures.setdefault(run.location, []).append(t)
            holds, clears = _down_conditions(monitor, _down(rule, failures))
            add(monitor, holds, _service_of(monitor), rule.journey, f"journey:{rule.journey}",
                clears=clears)  # fmt: skip
        elif monitor.probe_errors is not None:
            journeys = {slo.journey for slo in export.slos}
            for (journey, location), items in sorted(by_group.items()):
                if journey in journeys:
                    add(monitor, _probe_errors(monitor, Series(items)), spec.PROBER_SERVICE,
                        journey, f"journey:{journey},location:{location}")  # fmt: skip
        elif monitor.monitor_type == "no_data":
            location = _location_of(monitor)
            if location in by_location:
                add(monitor, _silence(Series(by_location[location])), spec.PROBER_SERVICE,
                    None, f"location:{location}")  # fmt: skip
    return sorted(found, key=lambda a: (a.fired_at, a.monitor, a.group))


def _down_conditions(
    monitor: spec.Monitor, value: Callable[[float], float]
) -> tuple[Condition, Condition]:
    recovery = monitor.critical_recovery or monitor.critical
    return (lambda t: value(t) >= monitor.critical), (lambda t: value(t) < recovery)


def _service_of(monitor: spec.Monitor) -> str:
    tags: Mapping[str, str] = dict(t.split(":", 1) for t in monitor.tags)
    return tags.get("service", spec.PROBER_SERVICE)


def _location_of(monitor: spec.Monitor) -> str:
    tags: Mapping[str, str] = dict(t.split(":", 1) for t in monitor.tags)
    return tags.get("location", "")
