"""What the SLO export produces, independent of format: per journey two metric-based SLOs
(availability, latency) and their monitors; per location a heartbeat no-data monitor; per env a
probe_error-rate monitor grouped by journey and location; per SLO and maintenance window that
covers its journey a Datadog SLO correction (`uncorrected` leaves the same runs out of
`slo status`, the gate and the backtest). The tunable thresholds are `Rules`;
`slo backtest` evaluates the very `Monitor`s built here.

Queries are built from `prober.metrics` names only, so they cannot drift from what the
DogStatsD sink emits. Scheduled runs only; prober faults (`probe_error`) are left out of the
denominator, so they never spend the target's error budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from prober import metrics as m
from prober.journey import Journey
from prober.maintenance import Maintenance, Window, covered
from prober.store import StoredRun
from prober.usage_error import UsageError
from prober.values import parse_duration

PROBER_SERVICE = "cuj-prober"
TIMEFRAME = "30d"
SHORT_TIMEFRAME = "7d"
AVAILABILITY = "availability"
LATENCY = "latency"
MAX_LONG_WINDOW_H = 48  # Datadog refuses burn-rate long windows over 48 h
TIME_SLICES_S = (60, 300)  # the only time-slice intervals Datadog takes


@dataclass(frozen=True, slots=True)
class BurnRate:
    """A multi-window burn-rate alert: fires when both windows burn faster than `threshold`."""

    name: str
    long_window: str
    short_window: str
    threshold: float
    severity: str  # page | ticket

    @property
    def long_hours(self) -> float:
        return parse_duration(self.long_window) / 3600

    def fires(self, long_burn: float | None, short_burn: float | None) -> bool:
        """Datadog's condition: both windows burn faster than the threshold (no runs: no)."""
        if long_burn is None or short_burn is None:
            return False
        return long_burn > self.threshold and short_burn > self.threshold


@dataclass(frozen=True, slots=True)
class ProbeErrorRate:
    """The share of scheduled runs that ended `probe_error` over `window`, per journey and
    location: a prober that cannot measure thins the SLO silently, so it pages its owners."""

    window: str
    critical: float  # fraction of runs
    warning: float


AVERAGE = "average"  # journey-down rule families (JourneyDown.rule)
CONSECUTIVE = "consecutive"
DOWN_RULES = (AVERAGE, CONSECUTIVE)


@dataclass(frozen=True, slots=True)
class JourneyDown:
    """The fast page for a hard outage, from the journey's final scheduled runs that failed
    (status `failure`; prober faults are not failures), counted per bucket (one probe
    interval, at least 60 s) as the number of locations they failed from. Two rule families:

    * `consecutive`: N of the locations failed in each of the last K buckets. Recovers when
      fewer than half of them are.
    * `average`: over the window's K buckets the failing-location counts add up to N x (K-1):
      N locations in all buckets but one, so one bucket that happens to hold no run (jitter, a
      slow run) neither hides nor ends an outage. Recovers below N x K / 2.

    Both are sums over the window's buckets, so a bucket without points counts as nothing in
    Datadog as in the backtest (an `avg` would average the points present only and fire on
    the first bucket of a blip).

    Unset fields take the defaults docs/slo-fidelity.md chose: N is the quorum's (with
    several locations, `slo.quorum`), else 2, capped at the number of locations; the rule is
    `consecutive` over max(2 min, 2 intervals) where N >= 2 locations must agree (measured on
    three locations: a hard outage pages within 3 minutes, a location's own fault or one
    failed run per location never), and `average` over max(5 min, 3 intervals) where one
    location decides alone (a 2-minute blip there must not page)."""

    min_locations: int | None = None
    window: str | None = None
    rule: str | None = None

    def resolve(
        self, journey: Journey, locations: int, quorum: int | None = None
    ) -> tuple[int, int, int, str]:
        """(N, window seconds, rollup seconds, rule) for `journey` seen from `locations`
        locations, `quorum` the quorum SLI's N if there is one."""
        wanted = self.min_locations or quorum or 2
        n = max(1, min(wanted, locations))
        rule = self.rule or (CONSECUTIVE if n >= 2 else AVERAGE)
        rollup = max(60, 60 * -int(-journey.interval_s // 60))  # whole minutes, rounded up
        least = 2 if rule == CONSECUTIVE else 3
        default = max(120, 2 * rollup) if rule == CONSECUTIVE else max(300, 3 * rollup)
        window = default if self.window is None else int(parse_duration(self.window))
        window = rollup * max(least, -int(-window // rollup))  # whole buckets
        return n, window, rollup, rule


@dataclass(frozen=True, slots=True)
class Rules:
    """Every tunable alert rule the export writes and the backtest evaluates (one definition).

    `SHIPPED` is what `slo export` ships; `slo backtest --rules` evaluates alternatives, and
    `slo export --rules` exports one (e.g. per-journey `journey_down`)."""

    burn_rates: tuple[BurnRate, ...]
    error_budget_critical: float  # % of the 30-day budget consumed
    error_budget_warning: float
    probe_errors: ProbeErrorRate
    journey_down: JourneyDown = JourneyDown()
    journey_down_by_journey: tuple[tuple[str, JourneyDown], ...] = ()  # per journey name

    def journey_down_for(self, journey: str) -> JourneyDown:
        return dict(self.journey_down_by_journey).get(journey, self.journey_down)


# The Google SRE workbook's multi-window, multi-burn-rate alerts for a 30-day SLO, chosen with
# the fault schedule of docs/slo-fidelity.md.
SHIPPED = Rules(
    burn_rates=(
        BurnRate("fast", "1h", "5m", 14.4, "page"),
        BurnRate("medium", "6h", "30m", 6.0, "page"),
        BurnRate("slow", "24h", "2h", 3.0, "ticket"),
    ),
    error_budget_critical=90.0,
    error_budget_warning=75.0,
    probe_errors=ProbeErrorRate("30m", critical=0.5, warning=0.2),
    # N of the locations in each of 2 minutes, or one location in 4 of 5: docs/slo-fidelity.md.
    journey_down=JourneyDown(),
)
PRIORITY = {"page": 2, "ticket": 3}
ON_MISSING_DATA = "resolve"  # journey-down: no failure reported is no outage
# The heartbeat (a gauge every 15 s) over 2 minutes; silent for 4 (twice the window, as Datadog
# recommends for no-data) pages the prober's owners: a dead location is named within 5 minutes.
HEARTBEAT_WINDOW_MINUTES = 2
HEARTBEAT_NO_DATA_MINUTES = 4


class SloError(UsageError, ValueError):
    """A journey's declaration cannot become a valid Datadog SLO."""


@dataclass(frozen=True, slots=True)
class Quorum:
    """The availability SLI of a journey probed from several locations (config `slo:`): a time
    slice is bad when the journey's final scheduled runs failed (status `failure`; prober
    faults never count) from at least `min_locations` (N) of `locations` in it; the SLI is the
    share of good slices. One location failing alone never spends the budget, and N is also
    the journey-down monitor's N. A Datadog time-slice SLO over `failing_by_location`
    (`count_nonzero(...) < N`); `series.Series` computes the same on stored runs."""

    min_locations: int
    locations: tuple[str, ...]

    def slice_s(self, journey: Journey) -> int:
        """The slice: the shortest Datadog interval that holds a run of every location."""
        for seconds in TIME_SLICES_S:
            if journey.interval_s <= seconds:
                return seconds
        raise SloError(
            f"{journey.source}: journey {journey.name!r} runs every {journey.interval_s:g}s, "
            f"but a quorum SLI needs a run in every {TIME_SLICES_S[-1]}s time slice (Datadog's "
            "longest); probe it at least every 5 minutes, or export it from one location"
        )


SLICE_QUERY_NAME = "query1"
SLICE_FORMULA = f"count_nonzero({SLICE_QUERY_NAME})"  # locations the journey failed from
SLICE_GOOD_WHEN = "<"  # a slice is good while fewer than N locations failed


def failing_by_location(journey: str, env: str) -> str:
    """Failed final scheduled runs of `journey` per location: `count_nonzero` of it is the
    number of locations it failed from (the quorum SLI and the journey-down monitor)."""
    scope = [m.tag(m.JOURNEY, journey), m.tag(m.ENV, env), f"{m.TRIGGER}:{m.SCHEDULE_TRIGGER}",
             f"{m.STATUS}:{m.FAILURE}"]  # fmt: skip
    return f"sum:{m.RUNS}{{{','.join(scope)}}} by {{{m.LOCATION}}}.as_count()"


def _count(filters: Sequence[str]) -> str:
    return f"sum:{m.RUNS}{{{','.join(filters)}}}.as_count()"


def queries(journey: str, env: str) -> dict[str, tuple[str, str]]:
    """(numerator, denominator) per SLO type.

    Availability: successful runs of all scheduled runs but prober faults. Latency: runs within
    the threshold of the *successful* runs only, so a failed run spends the availability budget
    alone and an outage pages once; the latency SLO pages for slowness (docs/slo-fidelity.md)."""
    scope = [m.tag(m.JOURNEY, journey), m.tag(m.ENV, env), f"{m.TRIGGER}:{m.SCHEDULE_TRIGGER}"]
    success = f"{m.STATUS}:{m.SUCCESS}"
    total = _count([*scope, f"!{m.STATUS}:{m.PROBE_ERROR}"])
    return {
        AVAILABILITY: (_count([*scope, success]), total),
        LATENCY: (_count([*scope, success, f"{m.WITHIN_SLO}:true"]), _count([*scope, success])),
    }


def slo_name(service: str, journey: str, env: str, slo_type: str) -> str:
    middle = f"{journey}_latency" if slo_type == LATENCY else journey
    return f"cuj_slo_{service}_{middle}_{env}"


def monitor_name(service: str, metric: str, what: str, env: str) -> str:
    """The naming convention: [service]_[metric]_[what it does]_[env]."""
    return f"{service}_{metric}_{what}_{env}"


@dataclass(frozen=True, slots=True)
class Slo:
    journey: str
    cuj: str
    service: str
    team: str
    env: str
    slo_type: str
    name: str
    description: str
    numerator: str
    denominator: str
    target: float  # percent, 30 days (and 7 days)
    warning: float
    runbook: str | None
    policy: str = ""  # the journey's error-budget policy, in words (also in `description`)
    # Quorum SLI (availability, several locations): a time-slice SLO, good while the journey
    # failed from fewer than `quorum` locations in a `slice_s` slice; 0: the run-based SLO.
    quorum: int = 0
    slice_s: int = 0
    slice_query: str = ""  # failing_by_location; the slice's value is its count_nonzero

    @property
    def time_slice(self) -> bool:
        return self.quorum > 0

    @property
    def tags(self) -> list[str]:
        # Values are tag-safe already: journeys validate theirs, build() sanitises env.
        return [f"{m.ENV}:{self.env}", f"{m.SERVICE}:{self.service}", f"{m.TEAM}:{self.team}",
                f"{m.JOURNEY}:{self.journey}", f"slo_type:{self.slo_type}"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Monitor:
    name: str
    monitor_type: str  # burn_rate | error_budget | no_data | probe_error_rate | journey_down
    datadog_type: str  # "slo alert" | "metric alert"
    query: str  # for SLO monitors, with SLO_ID where the SLO's id goes
    critical: float
    warning: float | None
    severity: str
    message: str
    tags: list[str]
    slo: Slo | None = None
    burn_rate: BurnRate | None = None
    probe_errors: ProbeErrorRate | None = None  # monitor_type probe_error_rate
    critical_recovery: float | None = None
    down: DownRule | None = None  # monitor_type journey_down, location_failing, location_local
    composite_of: tuple[str, str] | None = None  # (A, B) of a composite "A && !B"


@dataclass(frozen=True, slots=True)
class DownRule:
    """A journey-down monitor's resolved numbers (`JourneyDown.resolve`) and its arithmetic,
    shared by the exported query and the backtest: per bucket a value (`bucket_value`), summed
    over the window's buckets, fires at `critical` and recovers below `recovery`."""

    journey: str
    min_locations: int
    locations: int
    window_s: int
    rollup_s: int
    rule: str = AVERAGE
    needed: int | None = None  # consecutive: buckets at N needed (default all of them)

    @property
    def buckets(self) -> int:
        return self.window_s // self.rollup_s

    @property
    def critical(self) -> float:
        if self.rule == CONSECUTIVE:
            return float(self.needed or self.buckets)
        return float(self.min_locations * (self.buckets - 1))

    @property
    def recovery(self) -> float:
        if self.rule == CONSECUTIVE:
            return self.critical / 2
        return self.min_locations * self.buckets / 2

    def bucket_value(self, failing_locations: int) -> int:
        if self.rule == CONSECUTIVE:
            return int(failing_locations >= self.min_locations)
        return failing_locations

    def expression(self, failing: str) -> str:
        """The per-bucket value in Datadog's query language, of `failing` (by location)."""
        count = f"count_nonzero({failing}.rollup(sum, {self.rollup_s}))"
        if self.rule != CONSECUTIVE:
            return count
        if self.min_locations > 1:
            count = f"clamp_min({count} - {self.min_locations - 1}, 0)"
        return f"clamp_max({count}, 1)"

    def query(self, expression: str) -> str:
        """The monitor's query: `expression` (the per-bucket value) summed over the window."""
        return f"sum(last_{self.window_s / 60:g}m):{expression} >= {self.critical:g}"

    def describe(self) -> str:
        where = f"{self.min_locations} of {self.locations} location" + (
            "s" if self.locations != 1 else "")  # fmt: skip
        each = f"{self.rollup_s}s"
        if self.rule == CONSECUTIVE:
            return f"failed from {where} in each of the last {self.buckets} {each} buckets"
        return (f"failed from {where} in (nearly) every {each} bucket for "
                f"{self.window_s / 60:g}m")  # fmt: skip


SLO_ID = "{slo_id}"  # filled in by each format: a Terraform reference, or the id after creation


CORRECTION_CATEGORY = "Scheduled Maintenance"


@dataclass(frozen=True, slots=True)
class Correction:
    """A Datadog SLO correction: `window` is left out of `slo` (one-off, or recurring by RRULE).

    Datadog corrects an SLO over time, not per tag: a window of one target corrects the
    journey's SLOs for every target and location."""

    slo: Slo
    window: Window

    @property
    def key(self) -> str:
        """A resource name: journey, SLO type, window."""
        return f"{self.slo.journey}_{self.slo.slo_type}_{self.window.name}".replace("-", "_")

    @property
    def start(self) -> int:
        return int(self.window.start.timestamp())

    @property
    def end(self) -> int | None:
        return None if self.window.end is None else int(self.window.end.timestamp())

    @property
    def duration(self) -> int | None:
        return None if self.window.duration_s is None else int(self.window.duration_s)

    @property
    def description(self) -> str:
        why = f": {self.window.description}" if self.window.description else ""
        return f"cuj-prober {self.window.describe()} on {self.slo.name}{why}"


@dataclass(frozen=True, slots=True)
class Export:
    env: str
    slos: list[Slo]
    monitors: list[Monitor]
    locations: list[str]
    rules: Rules
    corrections: list[Correction] = field(default_factory=list)
    maintenance: Maintenance = field(default_factory=Maintenance)


def uncorrected(runs: Iterable[StoredRun], maintenance: Maintenance) -> list[StoredRun]:
    """The runs the export's SLO corrections leave in: those that finished outside every
    maintenance window of their journey (`slo status`, the gate and the backtest use this)."""
    listed = list(runs)
    if not maintenance.windows or not listed:
        return listed
    low = min(r.finished_at for r in listed)
    high = max(r.finished_at for r in listed) + 1
    periods = {j: maintenance.periods(j, low, high) for j in {r.journey for r in listed}}
    return [r for r in listed if not covered(periods[r.journey], r.finished_at)]


def check_burn_rates(journey: Journey, rules: Rules) -> None:
    ceiling = 1 / (1 - journey.slo_target)
    too_fast = [b for b in rules.burn_rates if b.threshold > ceiling]
    if too_fast:
        worst = max(b.threshold for b in too_fast)
        needed = 1 - 1 / worst
        raise SloError(
            f"{journey.source}: journey {journey.name!r}: slo_target {journey.slo_target:g} "
            f"allows burn rates up to {ceiling:.2f}x (1/(1-target)), but the "
            f"{', '.join(b.name for b in too_fast)} burn-rate alert needs {worst:g}x and "
            f"Datadog refuses it. Raise slo_target to at least {needed:.4f}, or do not "
            "export this journey"
        )


def describe(journey: Journey, slo_type: str, target: float, quorum: Quorum | None = None) -> str:
    what = journey.description.strip() or f"the {journey.cuj} journey"
    measured = (
        "scheduled runs that succeeded end to end, excluding the prober's own faults"
        if slo_type == AVAILABILITY
        else f"successful scheduled runs {_latency_sli(journey)} "
        "(failed runs count against availability only)"
    )
    if slo_type == AVAILABILITY and quorum is not None:
        measured = (
            f"{quorum.slice_s(journey)}s time slices in which its scheduled runs failed from "
            f"fewer than {quorum.min_locations} of its {len(quorum.locations)} locations "
            f"({', '.join(quorum.locations)}; one location failing alone is that location's "
            "problem, not the service's)"
        )
    lines = [
        f"What: {what}",
        f"Why: it is a Critical User Journey ({journey.cuj}) of {journey.service}; when it "
        "fails, customers cannot finish it even if every service looks healthy.",
        f"How: cuj-prober runs it as a {journey.channel} journey every "
        f"{journey.interval_s:g}s; this SLO is the share of {measured}. "
        f"Target {target:g}% over 30 days.",
        f"Runbook: {journey.runbook or 'none declared - set runbook= on the journey'}",
        policy_text(journey) + ".",
    ]
    return "\n".join(lines)


def _latency_sli(journey: Journey) -> str:
    """The latency SLI in words: the runs' `within_slo` decides it (prober/latency_sli.py)."""
    threshold = f"{journey.latency_threshold_s:g}s"
    if journey.latency_sli is None:
        return f"that finished within {threshold}"
    sli = journey.latency_sli
    return f"where {sli.describe()} within {threshold} as the page timed it, by latency_sli {sli}"


def policy_text(journey: Journey) -> str:
    return journey.budget_policy.describe(journey.team, journey.service)


def _warning(target: float) -> float:
    """Halfway between the target and 100%, rounded to what Datadog keeps (3 decimals)."""
    return round(target + (100 - target) / 2, 3)


def _message(slo: Slo, what: str, notify: str) -> str:
    runbook = slo.runbook or "no runbook declared"
    handle = f" {notify}" if notify else ""
    return (
        f"{{{{#is_alert}}}}CUJ {slo.journey} ({slo.slo_type}) on {slo.env}: {what}.{handle}"
        f"{{{{/is_alert}}}}\n{{{{#is_recovery}}}}Recovered.{{{{/is_recovery}}}}\n"
        f"Failing runs carry error_type, failed_step and failed_service tags; "
        f"see cuj.journey.runs{{journey:{slo.journey},env:{slo.env}}}. Runbook: {runbook}"
    )


def build(
    journeys: Sequence[Journey],
    env: str,
    locations: Sequence[str],
    *,
    notify_page: str = "",
    notify_ticket: str = "",
    prober_team: str = "sre",
    rules: Rules | None = None,
    maintenance: Maintenance | None = None,
    quorum: Quorum | None = None,
) -> Export:
    """Every SLO, monitor and correction for `journeys` in `env` under `rules` (default
    `SHIPPED`, read at call time); SloError on an impossible target. With `quorum` the
    availability SLOs are quorum SLIs over `quorum.locations` (which are then the locations)."""
    rules = SHIPPED if rules is None else rules
    if quorum is not None:
        locations = quorum.locations
    maintenance = maintenance or Maintenance()
    env = m.tag_value(env)
    slos: list[Slo] = []
    monitors: list[Monitor] = []
    for journey in sorted(journeys, key=lambda j: j.name):
        check_burn_rates(journey, rules)
        target = round(journey.slo_target * 100, 3)
        for slo_type, (numerator, denominator) in queries(journey.name, env).items():
            sliced = quorum is not None and slo_type == AVAILABILITY
            slo = Slo(
                journey=journey.name, cuj=journey.cuj, service=journey.service,
                team=journey.team, env=env, slo_type=slo_type,
                name=slo_name(journey.service, journey.name, env, slo_type),
                description=describe(journey, slo_type, target, quorum if sliced else None),
                numerator=numerator, denominator=denominator, target=target,
                warning=_warning(target), runbook=journey.runbook, policy=policy_text(journey),
            )  # fmt: skip
            if quorum is not None and sliced:
                slo = replace(slo, quorum=quorum.min_locations,
                              slice_s=quorum.slice_s(journey),
                              slice_query=failing_by_location(journey.name, env))  # fmt: skip
            slos.append(slo)
            monitors += slo_monitors(slo, notify_page, notify_ticket, rules)
        n = None if quorum is None else quorum.min_locations
        monitors.append(
            journey_down(journey, env, len(set(locations)), notify_page, rules, min_locations=n)
        )
        if quorum is not None:
            monitors.extend(
                location_local(
                    journey,
                    env,
                    len(quorum.locations),
                    prober_team,
                    notify_page,
                    min_locations=quorum.min_locations,
                )
            )
    if journeys:
        monitors.append(_probe_errors(env, prober_team, notify_page, rules.probe_errors))
    for location in sorted(set(locations)):
        monitors.append(_heartbeat(env, m.tag_value(location), prober_team, notify_page))
    corrections = [Correction(slo, w) for slo in slos for w in maintenance.for_journey(slo.journey)]
    return Export(env, slos, monitors, sorted(set(locations)), rules, corrections, maintenance)


def slo_monitors(slo: Slo, notify_page: str, notify_ticket: str, rules: Rules) -> list[Monitor]:
    """The burn-rate and error-budget monitors of one SLO (query with SLO_ID for its id)."""
    metric = f"{slo.journey}_{slo.slo_type}"
    base_tags = slo.tags
    made = []
    # Datadog takes SLO alerts (burn rate, error budget) on metric-based and time-slice SLOs
    # alike: a quorum SLI burns its budget in bad slices instead of failed runs.
    for rate in rules.burn_rates:
        notify = notify_page if rate.severity == "page" else notify_ticket
        made.append(
            Monitor(
                name=monitor_name(slo.service, metric, f"{rate.name}_burn", slo.env),
                monitor_type="burn_rate",
                datadog_type="slo alert",
                query=(
                    f'burn_rate("{SLO_ID}").over("{TIMEFRAME}").long_window("{rate.long_window}")'
                    f'.short_window("{rate.short_window}") > {rate.threshold:g}'
                ),
                critical=rate.threshold,
                warning=None,
                severity=rate.severity,
                message=_message(
                    slo,
                    f"burning the 30-day error budget {rate.threshold:g}x too fast "
                    f"(over {rate.long_window} and {rate.short_window})",
                    notify,
                ),
                tags=[*base_tags, "monitor_type:burn_rate", f"severity:{rate.severity}"],
                slo=slo,
                burn_rate=rate,
            )
        )
    made.append(
        Monitor(
            name=monitor_name(slo.service, metric, "error_budget", slo.env),
            monitor_type="error_budget",
            datadog_type="slo alert",
            query=(
                f'error_budget("{SLO_ID}").over("{TIMEFRAME}") > {rules.error_budget_critical:g}'
            ),
            critical=rules.error_budget_critical,
            warning=rules.error_budget_warning,
            severity="ticket",
            message=_message(
                slo,
                f"{rules.error_budget_critical:g}% of the 30-day error budget is spent",
                notify_ticket,
            ),
            tags=[*base_tags, "monitor_type:error_budget", "severity:ticket"],
            slo=slo,
        )
    )
    return made


def journey_down(
    journey: Journey, env: str, locations: int, notify: str, rules: Rules,
    *, min_locations: int | None = None,
) -> Monitor:  # fmt: skip
    """The journey-down metric monitor of `journey` (see `JourneyDown`); `min_locations` is the
    quorum's N, the default of the rule's."""
    chosen = rules.journey_down_for(journey.name)
    n, window_s, rollup_s, kind = chosen.resolve(journey, locations, min_locations)
    rule = DownRule(journey.name, n, locations, window_s, rollup_s, kind)
    failing = failing_by_location(journey.name, env)
    handle = f" {notify}" if notify else ""
    return Monitor(
        name=monitor_name(journey.service, f"{journey.name}_runs", "journey_down", env),
        monitor_type="journey_down",
        datadog_type="metric alert",
        query=rule.query(rule.expression(failing)),
        critical=rule.critical,
        warning=None,
        critical_recovery=rule.recovery,
        severity="page",
        message=(
            f"{{{{#is_alert}}}}CUJ {journey.name} on {env} is down: its scheduled runs "
            f"{rule.describe()}.{handle}{{{{/is_alert}}}}"
            "\n{{#is_recovery}}Recovered: failures from fewer locations.{{/is_recovery}}"
            f"\nSee {m.RUNS}{{journey:{journey.name},env:{env},"
            f"status:{m.FAILURE}}} by failed_service and failed_step. Runbook: "
            f"{journey.runbook or 'no runbook declared'}"
        ),
        tags=[
            m.tag(m.ENV, env),
            m.tag(m.SERVICE, journey.service),
            m.tag(m.TEAM, journey.team),
            m.tag(m.JOURNEY, journey.name),
            "monitor_type:journey_down",
            "severity:page",
        ],
        down=rule,
    )


def monitor_ref(name: str) -> str:
    """Where a composite's query names another monitor of the export (each format fills in a
    Terraform reference, or the id Datadog gave it)."""
    return f"{{monitor:{name}}}"


MONITOR_REF = re.compile(r"\{monitor:([^{}]+)\}")


# One location failing in each of 3 buckets, unless the quorum failed in one of the last 10:
# docs/slo-fidelity.md (3 of 4 buckets over 4 minutes alerted 3 times in a 60-minute partial
# platform outage, 20% of runs failing everywhere).
LOCATION_WINDOW = JourneyDown(min_locations=1, window="3m", rule=CONSECUTIVE)
QUORUM_LOOKBACK = JourneyDown(window="10m", rule=CONSECUTIVE)


def location_local(
    journey: Journey, env: str, locations: int, team: str, notify: str,
    *, min_locations: int,
) -> list[Monitor]:  # fmt: skip
    """The prober owners' alert for one location failing where the others succeed, as three
    monitors:

    * `location_failing` (per location, notifies nobody): the journey's scheduled runs failed
      there in each of the last 3 buckets (60 s, or the interval);
    * `quorum_failing` (notifies nobody): in some bucket of the last 10 minutes (at least 2
      buckets) the journey failed from N or more locations (the quorum: then it is the
      platform's, not a location's);
    * the composite `location_local` = location_failing AND NOT quorum_failing, per location:
      it pages the prober's owners and names the location. A platform outage makes the
      quorum fail first and keeps it failing for 10 minutes after, so it pages the service's
      team alone (journey-down) and this stays quiet from its start to its end; a partial
      outage, where every location fails now and then, rarely goes 10 minutes without two
      locations failing in the same minute.

    The location's failures spend nobody's budget: the quorum SLI leaves one location out."""
    n, window_s, rollup_s, kind = LOCATION_WINDOW.resolve(journey, 1)
    own = DownRule(journey.name, n, locations, window_s, rollup_s, kind)
    quorum, lookback_s, _, _ = QUORUM_LOOKBACK.resolve(journey, locations, min_locations)
    wide = DownRule(journey.name, quorum, locations, lookback_s, rollup_s, CONSECUTIVE, needed=1)
    scope = [m.tag(m.JOURNEY, journey.name), m.tag(m.ENV, env), f"{m.TRIGGER}:{m.SCHEDULE_TRIGGER}",
             f"{m.STATUS}:{m.FAILURE}"]  # fmt: skip
    per_location = f"sum:{m.RUNS}{{{','.join(scope)}}} by {{{m.LOCATION}}}.as_count()"
    tags = [m.tag(m.ENV, env), m.tag(m.SERVICE, PROBER_SERVICE), m.tag(m.TEAM, team),
            m.tag(m.JOURNEY, journey.name)]  # fmt: skip
    name = monitor_name(PROBER_SERVICE, f"{journey.name}_runs", "location_local", env)
    feeds = f"Notifies nobody: it feeds the composite {name}."

    def part(kind: str, rule: DownRule, query: str, what: str) -> Monitor:
        return Monitor(
            name=monitor_name(PROBER_SERVICE, f"{journey.name}_runs", kind, env),
            monitor_type=kind,
            datadog_type="metric alert",
            query=rule.query(query),
            critical=rule.critical,
            warning=None,
            critical_recovery=rule.recovery,
            severity="ticket",
            message=f"{journey.name} ({env}) {what}. {feeds}",
            tags=[*tags, f"monitor_type:{kind}", "severity:ticket"],
            down=rule,
        )

    signal = part("location_failing", own,
                  f"clamp_max({per_location}.rollup(sum, {rollup_s}), 1)",
                  f"failed from {{{{location.name}}}} in each of the last {own.buckets} "
                  f"{rollup_s}s buckets")  # fmt: skip
    widely = part("quorum_failing", wide, wide.expression(failing_by_location(journey.name, env)),
                  f"failed from {quorum} or more locations in a {rollup_s}s bucket of the last "
                  f"{lookback_s / 60:g}m")  # fmt: skip
    handle = f" {notify}" if notify else ""
    composite = Monitor(
        name=name,
        monitor_type="location_local",
        datadog_type="composite",
        query=f"{monitor_ref(signal.name)} && !{monitor_ref(widely.name)}",
        critical=1,
        warning=None,
        severity="page",
        message=(
            f"{{{{#is_alert}}}}cuj-prober in {{{{location.name}}}} ({env}): {journey.name} fails "
            f"from this location only (fewer than {quorum} of {locations} locations "
            f"fail it): the location's network, DNS or node, not {journey.service}. The "
            f"service's SLO is not spent.{handle}{{{{/is_alert}}}}\n"
            "{{#is_recovery}}Recovered.{{/is_recovery}}\n"
            f"See {m.RUNS}{{journey:{journey.name},env:{env}}} by location, error_type."
        ),
        tags=[*tags, "monitor_type:location_local", "severity:page"],
        down=own,
        composite_of=(signal.name, widely.name),
    )
    return [signal, widely, composite]


PROBE_ERROR_GROUPS = (m.JOURNEY, m.LOCATION)  # one alert per journey and prober location


def _probe_errors(env: str, team: str, notify: str, rule: ProbeErrorRate) -> Monitor:
    scope = [m.tag(m.ENV, env), f"{m.TRIGGER}:{m.SCHEDULE_TRIGGER}"]
    groups = f" by {{{','.join(PROBE_ERROR_GROUPS)}}}"
    errors = f"sum:{m.RUNS}{{{','.join([*scope, f'{m.STATUS}:{m.PROBE_ERROR}'])}}}{groups}"
    total = f"sum:{m.RUNS}{{{','.join(scope)}}}{groups}"
    handle = f" {notify}" if notify else ""
    return Monitor(
        name=monitor_name(PROBER_SERVICE, "runs", "probe_error_rate", env),
        monitor_type="probe_error_rate",
        datadog_type="metric alert",
        query=f"sum(last_{rule.window}):{errors}.as_count() / {total}.as_count() "
        f"> {rule.critical:g}",
        critical=rule.critical,
        warning=rule.warning,
        severity="page",
        message=(
            f"{{{{#is_alert}}}}cuj-prober in {{{{location.name}}}} ({env}): a share of "
            f"{{{{value}}}} of the scheduled runs of {{{{journey.name}}}} over {rule.window} "
            "were prober faults (probe_error), which the SLOs leave out: the journey is not "
            f"being measured. Fix the prober (browser, network, credentials).{handle}"
            "{{/is_alert}}\n{{#is_recovery}}Recovered.{{/is_recovery}}\n"
            f"See {m.RUNS}{{status:{m.PROBE_ERROR}}} by error_type and failed_step."
        ),
        tags=[
            m.tag(m.ENV, env),
            m.tag(m.SERVICE, PROBER_SERVICE),
            m.tag(m.TEAM, team),
            "monitor_type:probe_error_rate",
            "severity:page",
        ],
        probe_errors=rule,
    )


def _heartbeat(env: str, location: str, team: str, notify: str) -> Monitor:
    scope = f"{m.tag(m.ENV, env)},{m.tag(m.LOCATION, location)}"
    handle = f" {notify}" if notify else ""
    return Monitor(
        name=monitor_name(PROBER_SERVICE, "heartbeat", f"no_data_{location}", env),
        monitor_type="no_data",
        datadog_type="metric alert",
        query=f"max(last_{HEARTBEAT_WINDOW_MINUTES}m):sum:{m.HEARTBEAT}{{{scope}}} < 1",
        critical=1,
        warning=None,
        severity="page",
        message=(
            f"{{{{#is_no_data}}}}cuj-prober in {location} ({env}) sent no heartbeat for "
            f"{HEARTBEAT_NO_DATA_MINUTES} minutes: no journey is being probed there, so the "
            f"CUJ SLOs of this location are blind.{handle}{{{{/is_no_data}}}}"
        ),
        tags=[
            m.tag(m.ENV, env),
            m.tag(m.SERVICE, PROBER_SERVICE),
            m.tag(m.TEAM, team),
            m.tag(m.LOCATION, location),
            "monitor_type:no_data",
            "severity:page",
        ],
    )
