"""The exported monitors, evaluated over time on stored runs the way Datadog evaluates them.

Every monitor of an `Export` (so every rule `slo export` writes, and nothing else) is checked
once a minute (Datadog's monitor cadence) from the start of the period to its end, on rolling
windows ending at that minute:

    burn_rate         both windows' burn rate above the threshold (SLO of one journey)
    error_budget      more than `critical`% of the 30-day budget spent
    probe_error_rate  probe_error runs / scheduled runs over the window above `critical`, per
                      journey and location (the monitor's `by {journey,location}`)
    journey_down      per `rollup` bucket, how many locations had a failed scheduled run of the
                      journey (count_nonzero ... by {location}), made the rule's bucket value
                      (`spec.DownRule`: the count, or 1 when it reaches N); fires when the sum
                      over the complete buckets of the last `window` (a bucket without a point
                      adds nothing) reaches the critical threshold, recovers below
                      critical_recovery
    location_failing  the same per location, of that location's own failures (clamp_max(...,
                      1) by {location}); it notifies nobody and makes no alert here
    location_local    the composite "location_failing AND NOT journey_down", per location
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
    """The monitor's value at t: the sum of the bucket values of the window's complete
    buckets (`spec.DownRule.bucket_value` of the number of failing locations)."""
    buckets: dict[int, set[str]] = {}
    for location, times in failures.items():
        for t in times:
            buckets.setdefault(int(t // rule.rollup_s), set()).add(location)

    def value(t: float) -> float:
        last = int(t // rule.rollup_s) - 1  # complete buckets only
        first = int((t - rule.window_s) // rule.rollup_s)
        return float(sum(rule.bucket_value(len(buckets.get(k, ())))
                         for k in range(first, last + 1)))  # fmt: skip

    return value


def _states(holds: Condition, times: list[float], clears: Condition | None = None) -> list[bool]:
    """Whether the monitor is firing at each time: from the first time `holds` until the first
    time `clears` (default: no longer holds)."""
    firing, found = False, []
    for t in times:
        firing = holds(t) if not firing else not (clears(t) if clears else not holds(t))
        found.append(firing)
    return found


def _episodes(states: list[bool], times: list[float]) -> Iterable[tuple[float, float | None]]:
    fired: float | None = None
    for t, firing in zip(times, states, strict=True):
        if firing and fired is None:
            fired = t
        elif not firing and fired is not None:
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

    def emit(monitor: spec.Monitor, states: list[bool], service: str, journey: str | None,
             group: str) -> None:  # fmt: skip
        for fired, recovered in _episodes(states, times):
            found.append(AlertEpisode(monitor.name, monitor.monitor_type, monitor.severity,
                                      service, journey, group, fired, recovered))  # fmt: skip

    def add(monitor: spec.Monitor, holds: Condition, service: str, journey: str | None,
            group: str, *, clears: Condition | None = None) -> None:  # fmt: skip
        emit(monitor, _states(holds, times, clears), service, journey, group)

    downs = _down_states(export, by_all_journey, times)  # the composites read them
    for monitor in export.monitors:
        if monitor.slo is not None:
            series = journey_series.get(monitor.slo.journey)
            if series is None:
                continue
            make = _burn if monitor.monitor_type == "burn_rate" else _budget
            add(monitor, make(monitor, series), monitor.slo.service, monitor.slo.journey,
                f"journey:{monitor.slo.journey}")  # fmt: skip
        elif monitor.composite_of is not None and monitor.down is not None:
            signal, excluded = (downs.get(name, {}) for name in monitor.composite_of)
            down = excluded.get("", [False] * len(times))
            for location, states in sorted(signal.items()):
                emit(monitor, [a and not b for a, b in zip(states, down, strict=True)],
                     spec.PROBER_SERVICE, monitor.down.journey,
                     f"journey:{monitor.down.journey},location:{location}")  # fmt: skip
        elif monitor.down is not None and monitor.monitor_type == "journey_down":
            emit(monitor, downs[monitor.name][""], _service_of(monitor), monitor.down.journey,
                 f"journey:{monitor.down.journey}")  # fmt: skip
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


def _down_states(
    export: spec.Export, runs: Mapping[str, list[tuple[float, StoredRun]]], times: list[float]
) -> dict[str, dict[str, list[bool]]]:
    """Per journey-down and location_failing monitor, per group ("" or the location), whether
    it is firing at each evaluation time."""
    downs: dict[str, dict[str, list[bool]]] = {}
    for monitor in export.monitors:
        rule = monitor.down
        if rule is None or monitor.composite_of is not None:
            continue
        failures: dict[str, list[float]] = {}
        for t, run in runs.get(rule.journey, []):
            if run.trigger == m.SCHEDULE_TRIGGER:
                failures.setdefault(run.location, [])
                if run.status == m.FAILURE:
                    failures[run.location].append(t)
        groups = ({loc: {loc: ts} for loc, ts in sorted(failures.items())}
                  if monitor.monitor_type == "location_failing" else {"": failures})  # fmt: skip
        downs[monitor.name] = {
            group: _states(holds, times, clears)
            for group, fails in groups.items()
            for holds, clears in [_down_conditions(monitor, _down(rule, fails))]
        }
    return downs


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
