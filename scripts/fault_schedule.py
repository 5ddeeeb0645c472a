#!/usr/bin/env python3
"""Play a fault schedule against the reference platform while `prober serve` probes it from one
or several locations, then score the shipped alert rules (and any --rules alternatives) on what
happened.

Starts `prober sandbox --faults` and, per location, a `prober serve` with its own `location`,
its own store and its own path to the platform (a tests/wire_proxy.WireProxy on loopback), with
`slo: {locations, quorum: 2, stores}` naming the others; every serve sends DogStatsD to a
discard address. The journeys are the API journeys of scripts/fidelity_pack the schedule names
(one per fault class, no browser: light on CPU), every 60 s interval divided by the time scale
K. The schedule (uncompressed time) is played K times faster: platform faults through
`POST /_sandbox/faults` (every location sees them), location faults as rules on one location's
proxy, dead locations by SIGKILL of that location's serve (restarted later); each event appends
its incident to incidents.csv as it ends. Then every store gets 30 days of healthy history (so
every window is as full as a month-old prober's), the runs of all stores are read together,
stretched back to real cadence (the backtest's `time_scale`) and scored; a Markdown section for
docs/slo-fidelity.md is printed. Everything goes to --out; traffic stays on 127.0.0.1.

    .venv/bin/python scripts/fault_schedule.py --out .prober/fidelity-locations   # ~24 minutes
    .venv/bin/python scripts/fault_schedule.py --quick                           # ~5 minutes
    .venv/bin/python scripts/fault_schedule.py --locations 1 --out .prober/fidelity
        # the one-location schedule of scripts/fault_schedule.yaml, scored as before (~18 min)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.commands.setup import prepare  # noqa: E402
from prober.journey import Journey  # noqa: E402
from prober.result import (  # noqa: E402
    AttemptResult,
    JourneyResult,
    Status,
    StepResult,
    StepStatus,
    Trigger,
)
from prober.slo import spec  # noqa: E402
from prober.slo.backtest import CandidateReport, backtest, p95  # noqa: E402
from prober.slo.candidates import load_candidates, shipped  # noqa: E402
from prober.slo.evaluate import AlertEpisode  # noqa: E402
from prober.slo.incidents import FIELDS, Incident, load_incidents  # noqa: E402
from prober.slo.series import Series  # noqa: E402
from prober.store import ResultStore, StoredRun  # noqa: E402
from prober.values import parse_duration  # noqa: E402
from tests.wire_proxy import Delay, Reset, Respond, Rule, WireProxy, of_journey  # noqa: E402

PACK = ROOT / "scripts" / "fidelity_pack"
SCHEDULE_1 = ROOT / "scripts" / "fault_schedule.yaml"
SCHEDULE_N = ROOT / "scripts" / "fault_schedule_locations.yaml"
KNOWN_JOURNEYS = [f"fidelity_{kind}_{target}" for kind in ("hard", "partial", "latency", "blip")
                  for target in ("995", "99")] + ["fidelity_oneblip_995",
                                                  "fidelity_local_995"]  # fmt: skip
DEFAULT_LOCATIONS = ["us-east1", "eu-west1", "local"]
QUORUM = 2
# Healthy runs take about 0.01-0.05 s; the schedules' latency regression adds 0.8 s. Latency does
# not compress, so the threshold is set in real seconds, under the compressed timeout (1.2 s at
# scale 20): slow runs must succeed, slowly, not time out.
LATENCY_THRESHOLD_S = 0.5
KINDS = ("sandbox", "proxy", "kill")
PROXY_MODES = ("reset", "timeout", "error", "once")
# An alert belongs to an incident when it is firing between the incident's start and its end
# plus this (uncompressed): a journey-down alert of a 2-minute blip fires after the blip ends.
GRACE_S = 300.0
# Bad slices are counted over the incident and this long after it (runs in flight at its end).
BUDGET_TAIL_S = 120.0
QUICK_1 = {
    "duration": "30m",
    "events": [
        {"at": "8m", "for": "10m", "label": "hard outage", "journey": "fidelity_hard_99",
         "fault": {"mode": "error"}},
        {"at": "12m", "for": "2m", "label": "brief blip", "journey": "fidelity_blip_995",
         "fault": {"mode": "error"}},
    ],
}  # fmt: skip
QUICK_N = {
    "duration": "40m",
    "events": [
        {"at": "5m", "for": "8m", "label": "hard outage", "journey": "fidelity_hard_995",
         "fault": {"mode": "error"}},
        {"at": "5m", "for": "8m", "label": "location-local", "journey": "fidelity_local_995",
         "kind": "proxy", "location": "eu-west1", "fault": {"mode": "reset"}},
        {"at": "16m", "for": "3m", "label": "one-run blip", "journey": "fidelity_oneblip_995",
         "kind": "proxy", "scope": "global", "quiet": True, "fault": {"mode": "once"}},
        {"at": "20m", "for": "8m", "label": "dead location", "kind": "kill",
         "location": "local"},
        {"at": "29m", "for": "8m", "label": "location-local", "journey": "fidelity_local_995",
         "kind": "proxy", "location": "us-east1", "fault": {"mode": "timeout"}},
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Event:
    at_s: float
    for_s: float
    label: str
    journey: str | None
    fault: dict[str, Any]
    kind: str = "sandbox"
    location: str | None = None  # None: every location (scope global)
    quiet: bool = False  # a service fault nobody should be paged for

    @property
    def prober_incident(self) -> bool:
        """A location's own fault: the prober's owners' incident, not the service's."""
        return self.location is not None

    @property
    def incident_label(self) -> str:
        return f"{self.label} ({self.location})" if self.location else self.label


def load_schedule(
    data: dict[str, Any], locations: Sequence[str]
) -> tuple[float, list[Event], list[str]]:
    """(duration, events by start, the journeys they name); SystemExit on a wrong event."""
    events = []
    for number, raw in enumerate(data["events"], 1):
        where = f"schedule event {number} ({raw.get('label')})"
        kind = raw.get("kind", "sandbox")
        if kind not in KINDS:
            raise SystemExit(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        scope = raw.get("scope", "location" if "location" in raw else "global")
        location = raw.get("location") if scope == "location" else None
        if scope not in ("global", "location") or (scope == "location") != (location is not None):
            raise SystemExit(f"{where}: scope global (no location) or location with location:")
        if location is not None and location not in locations:
            raise SystemExit(f"{where}: location {location!r} is not one of {list(locations)}")
        if kind != "sandbox" and len(locations) < 2:
            raise SystemExit(f"{where}: kind {kind} needs several locations (--locations 3)")
        if kind == "sandbox" and location is not None:
            raise SystemExit(f"{where}: a sandbox fault is global; use kind: proxy for a location")
        if kind == "kill" and location is None:
            raise SystemExit(f"{where}: kill which location? give location:")
        journey = raw.get("journey")
        if kind != "kill" and journey not in KNOWN_JOURNEYS:
            raise SystemExit(f"{where}: journey {journey!r} is not one of {KNOWN_JOURNEYS}")
        fault = dict(raw.get("fault") or {})
        if kind == "proxy" and fault.get("mode") not in PROXY_MODES:
            raise SystemExit(f"{where}: a proxy fault's mode is one of {', '.join(PROXY_MODES)}")
        events.append(Event(parse_duration(raw["at"]), parse_duration(raw["for"]),
                            str(raw["label"]), journey, fault, kind, location,
                            bool(raw.get("quiet", False))))  # fmt: skip
    journeys = sorted({e.journey for e in events if e.journey is not None})
    return parse_duration(data["duration"]), sorted(events, key=lambda e: e.at_s), journeys


def create_workflows(client: httpx.Client, password: str, journeys: list[str]) -> dict[str, str]:
    """One workflow per journey, named after it; its id is the path its faults target."""
    token = client.post("/api/auth/login", json={"username": "prober", "password": password})
    token.raise_for_status()
    headers = {"authorization": f"Bearer {token.json()['token']}"}
    ids = {}
    for name in journeys:
        body = {"name": name, "nodes": [{"id": "a", "type": "source", "label": "A", "x": 0,
                                         "y": 0}], "edges": []}  # fmt: skip
        made = client.post("/api/workflows", json=body, headers=headers)
        made.raise_for_status()
        ids[name] = str(made.json()["id"])
    return ids


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start(
    args: list[str], log: Path, env: dict[str, str], *, append: bool = False
) -> subprocess.Popen[bytes]:
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = _start(args, log, env)
    try:
        yield proc
    finally:
        _stop(proc)


@dataclass
class Location:
    """One location: its `prober serve` (killed and restarted by the schedule) and its proxy."""

    name: str
    store: Path
    log: Path
    env: dict[str, str]
    args: list[str]
    proxy: WireProxy | None = None
    proc: subprocess.Popen[bytes] | None = None
    rules: dict[int, Rule] = field(default_factory=dict)  # event index -> its proxy rule

    started: int = 0

    def start(self) -> None:
        """Start (or, after a kill, restart) its `prober serve`; a restart appends to the log."""
        self.proc = _start(self.args, self.log, self.env, append=self.started > 0)
        self.started += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
        self.proc = None


def wait_for_url(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the sandbox exited with {proc.returncode}; see {log}")
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and "sandbox.listening" in line:
                return str(json.loads(line)["url"])
        time.sleep(0.05)
    raise SystemExit(f"the sandbox did not start within 30 s; see {log}")


def sleep_until(moment: float, watch: Sequence[Location] = ()) -> None:
    while (left := moment - time.time()) > 0:
        for place in watch:
            if place.proc is not None and place.proc.poll() is not None:
                raise SystemExit(f"prober serve of {place.name} exited with "
                                 f"{place.proc.returncode}; see {place.log}")  # fmt: skip
        time.sleep(min(left, 1.0))


def proxy_rule(event: Event) -> Rule:
    """The rule that breaks `event.journey`'s requests on one location's path."""
    assert event.journey is not None
    mode, when = event.fault["mode"], of_journey(event.journey)
    if mode == "reset":
        return Reset("*", "/api/workflows*", when=when)
    if mode == "timeout":  # held past the journey's (compressed) timeout, then forwarded
        return Delay("*", "/api/workflows*", seconds=float(event.fault.get("seconds", 5)),
                     when=when)  # fmt: skip
    if mode == "error":
        return Respond("*", "/api/workflows*", status=int(event.fault.get("status", 502)),
                       when=when)  # fmt: skip
    # once: the next read of the workflow and its retry's (the run's two attempts) fail
    return Respond("GET", "/api/workflows/*", status=500, times=2, when=when)


def play(
    client: httpx.Client, events: list[Event], ids: dict[str, str], places: dict[str, Location],
    *, t0: float, scale: float, incidents: Path,
) -> None:  # fmt: skip
    """Start and stop each event's fault on time (events overlap), writing each incident as its
    fault is removed."""
    actions = sorted([(e.at_s, 0, i) for i, e in enumerate(events)]
                     + [(e.at_s + e.for_s, 1, i) for i, e in enumerate(events)])  # fmt: skip
    fault_ids: dict[int, str] = {}
    started: dict[int, float] = {}
    watch = list(places.values())
    with incidents.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        handle.flush()
        for at_s, stop, index in actions:
            sleep_until(t0 + at_s / scale, watch)
            event = events[index]
            where = [places[event.location]] if event.location else list(places.values())
            if not stop:
                if event.kind == "sandbox":
                    assert event.journey is not None
                    fault = {"service": "workflow-service",
                             "path": f"/api/workflows/{ids[event.journey]}",
                             **event.fault}  # fmt: skip
                    answer = client.post("/_sandbox/faults", json=fault)
                    answer.raise_for_status()
                    fault_ids[index] = answer.json()["id"]
                elif event.kind == "proxy":
                    for place in where:
                        assert place.proxy is not None
                        place.rules[index] = place.proxy.add(proxy_rule(event))
                else:
                    where[0].kill()
                started[index] = time.time()
                print(f"  {time.time() - t0:6.1f}s  {event.incident_label} "
                      f"({event.kind}{' on ' + event.journey if event.journey else ''})",
                      flush=True)  # fmt: skip
                continue
            if event.kind == "sandbox":
                client.delete(f"/_sandbox/faults/{fault_ids[index]}").raise_for_status()
            elif event.kind == "proxy":
                hits = []
                for place in where:
                    assert place.proxy is not None
                    hits.append(f"{place.name} {place.proxy.remove(place.rules.pop(index))}")
                print(f"  {time.time() - t0:6.1f}s  end of {event.incident_label}: requests "
                      f"faulted {', '.join(hits)}", flush=True)  # fmt: skip
            else:
                where[0].start()
                print(f"  {time.time() - t0:6.1f}s  {event.location} restarted", flush=True)
            writer.writerow(
                {
                    "start": f"{started[index]:.3f}",
                    "end": f"{time.time():.3f}",
                    "journey": "" if event.prober_incident else event.journey,
                    "service": spec.PROBER_SERVICE if event.prober_incident else "",
                    "label": event.incident_label,
                }
            )
            handle.flush()


def prefill(
    store_path: Path, catalog: Any, journeys: list[str], location: str, *, t0: float,
    scale: float, days: float,
) -> int:  # fmt: skip
    """Healthy scheduled runs for the `days` before the run, at the compressed cadence, so every
    window (up to the 30-day budget) is as full as a prober running for a month has it."""
    store = ResultStore(store_path)
    step = 60.0 / scale
    count = int(days * 86400 / 60)
    for name in journeys:
        journey = catalog.journeys[name]
        for i in range(count, 0, -1):
            started = t0 - i * step
            attempt = AttemptResult(1, Status.SUCCESS, "0" * 32, started, 0.5 / scale,
                                    (StepResult("history", journey.service, StepStatus.PASSED,
                                                0.5 / scale),))  # fmt: skip
            store.save(
                JourneyResult(name, journey.cuj, journey.service, journey.team,
                              str(journey.channel), "sandbox", Trigger.SCHEDULE,
                              f"history-{name}-{location}-{i}", journey.latency_threshold_s,
                              (attempt,)),
                "fidelity", location,
            )  # fmt: skip
    store.close()
    return count * len(journeys)


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def markdown(report: CandidateReport, targets: dict[str, float]) -> str:
    """One location: per fault class and SLO target, how the alerts of one candidate did. The
    error-budget monitor is counted apart: it is a ticket about the month, not a detector."""
    assert report.incidents is not None and report.overall is not None
    lines = [
        f"#### Rules `{report.name}`\n",
        "| fault | target | incidents | paged | MTTD page (min) | page alerts | burn ticket "
        "only | missed | all alerts cleared after end (min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(s.incident.label, targets[str(s.incident.journey)])
                   for s in report.incidents})  # fmt: skip
    for label, target in keys:
        scores = [
            s for s in report.incidents
            if s.incident.label == label and targets[str(s.incident.journey)] == target
        ]  # fmt: skip
        paged, ticket_only, pages_sent, page_ttd, cleared = 0, 0, 0, [], []
        for s in scores:
            hit = [report.alerts[i] for i in s.alerts
                   if report.alerts[i].monitor_type != "error_budget"]  # fmt: skip
            pages = [a for a in hit if a.severity == "page"]
            pages_sent += len(pages)
            if pages:
                paged += 1
                page_ttd.append(max(0.0, min(a.fired_at for a in pages) - s.incident.start))
            elif hit:
                ticket_only += 1
            ends = [a.recovered_at for a in hit if a.recovered_at is not None]
            if hit and len(ends) == len(hit):
                cleared.append(max(ends) - s.incident.end)
        missed = len(scores) - paged - ticket_only
        mean_ttd = sum(page_ttd) / len(page_ttd) if page_ttd else None
        mean_clear = sum(cleared) / len(cleared) if cleared else None
        lines.append(f"| {label} | {target:.1%} | {len(scores)} | {paged} | "
                     f"{_minutes(mean_ttd)} | {pages_sent} | {ticket_only} | {missed} | "
                     f"{_minutes(mean_clear)} |")  # fmt: skip
    burn = [a for a in report.alerts if a.monitor_type != "error_budget"]
    matched = {i for s in report.incidents for i in s.alerts}
    false = [a for i, a in enumerate(report.alerts) if i not in matched]
    budget = [a for a in report.alerts if a.monitor_type == "error_budget"]
    lines.append(
        f"\nBurn-rate and prober alerts: {len(burn)} ({sum(a.severity == 'page' for a in burn)} "
        f"pages, {sum(a.severity == 'ticket' for a in burn)} tickets); false alarms (matching "
        f"no incident): {len(false)} ({len(false) / max(1, len(report.alerts)):.0%} of all "
        f"alerts{': ' + ', '.join(sorted({a.monitor for a in false})) if false else ''}). "
        f"Error-budget alerts: {len(budget)}. Overall: alignment "
        f"{report.overall.alignment or 0:.0%}, MTTD "
        f"{_minutes(report.overall.mean_time_to_detect_s)} min, p95 "
        f"{_minutes(report.overall.p95_time_to_detect_s)} min, "
        f"{report.overall.false_negatives} missed of {report.overall.incidents}."
    )
    return "\n".join(lines)


# --- several locations: who is alerted for what ------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A scored incident (uncompressed times) and what it should do."""

    incident: Incident
    fault: str  # the table's row: the label without its location
    location: str | None  # a location's own fault (an incident of cuj-prober)
    quiet: bool  # a service fault that should page nobody
    journey: str | None  # the journey its fault breaks (None: a dead location, every journey)


def cases_of(incidents: Sequence[Incident], events: Sequence[Event]) -> list[Case]:
    quiet = {e.label for e in events if e.quiet}
    journeys = {e.incident_label: e.journey for e in events}
    found = []
    for incident in incidents:
        fault, location = incident.label, None
        if incident.service == spec.PROBER_SERVICE and incident.label.endswith(")"):
            fault, _, rest = incident.label.rpartition(" (")
            location = rest[:-1]
        journey = incident.journey or journeys.get(incident.label)
        found.append(Case(incident, fault, location, fault in quiet, journey))
    return found


def alert_location(alert: AlertEpisode) -> str | None:
    parts = dict(p.split(":", 1) for p in alert.group.split(",") if ":" in p)
    return parts.get("location")


def to_prober(alert: AlertEpisode) -> bool:
    return alert.service == spec.PROBER_SERVICE


def overlaps(alert: AlertEpisode, incident: Incident) -> bool:
    return alert.active(incident.start, incident.end + GRACE_S)


def deserved(alert: AlertEpisode, case: Case) -> bool:
    """Whether `alert` is the right alert for `case`: the service's team for a fault of its
    journey (not a quiet one), the prober's owners for a fault of the location it names."""
    if not overlaps(alert, case.incident) or alert.fired_at < case.incident.start - 60:
        return False  # an alert already firing before the fault was not caused by it
    if to_prober(alert):
        return case.location is not None and alert_location(alert) == case.location
    return case.location is None and not case.quiet and alert.journey == case.incident.journey


def blamed(alert: AlertEpisode, case: Case) -> bool:
    """Whether an undeserved `alert` went out because of `case` (a false alert in its row): a
    service-team alert during a location's fault or on a quiet fault's journey, a prober
    alert during a fault of its journey."""
    if not overlaps(alert, case.incident):
        return False
    if to_prober(alert):
        return case.location is None and alert.journey == case.journey
    if case.location is not None:
        return case.journey is None or alert.journey == case.journey
    return case.quiet and alert.journey == case.journey


@dataclass
class Row:
    fault: str
    cases: list[Case] = field(default_factory=list)
    service_pages: int = 0
    service_tickets: int = 0
    prober_alerts: int = 0
    false_pages: int = 0
    detect_s: list[float] = field(default_factory=list)
    down_s: list[float] = field(default_factory=list)  # journey-down alone
    bad: int = 0  # slices (or runs) the availability SLI counted bad


def attribute(alerts: Sequence[AlertEpisode], cases: Sequence[Case]) -> dict[str, Row]:
    """Each alert to one row: the incident it deserved (the earliest), else the incident it was a
    false alert for, else the row of alerts matching no incident."""
    rows: dict[str, Row] = {}
    for case in sorted(cases, key=lambda c: c.incident.start):
        rows.setdefault(case.fault, Row(case.fault)).cases.append(case)
    first: dict[int, float] = {}  # id(case) -> first deserved alert
    down: dict[int, float] = {}  # id(case) -> first deserved journey-down alert
    for alert in alerts:
        right = [c for c in cases if deserved(alert, c)]
        if right:
            case = min(right, key=lambda c: c.incident.start)
            row = rows[case.fault]
            if to_prober(alert) or alert.severity == "page":
                first[id(case)] = min(first.get(id(case), alert.fired_at), alert.fired_at)
            if alert.monitor_type == "journey_down":
                down[id(case)] = min(down.get(id(case), alert.fired_at), alert.fired_at)
        else:
            wrong = [c for c in cases if blamed(alert, c)]
            if wrong:  # the latest fault started before it fired (else the first one)
                before = [c for c in wrong if c.incident.start <= alert.fired_at] or wrong[:1]
                row = rows[max(before, key=lambda c: c.incident.start).fault]
            else:
                row = rows.setdefault("(no incident)", Row("(no incident)"))
            if to_prober(alert) or alert.severity == "page":
                row.false_pages += 1
        if to_prober(alert):
            row.prober_alerts += 1
        elif alert.severity == "page":
            row.service_pages += 1
        else:
            row.service_tickets += 1
    for row in rows.values():
        row.detect_s = [max(0.0, first[id(c)] - c.incident.start)
                        for c in row.cases if id(c) in first]  # fmt: skip
        row.down_s = [max(0.0, down[id(c)] - c.incident.start)
                      for c in row.cases if id(c) in down]  # fmt: skip
    return rows


def bad_units(series: dict[str, Series], case: Case, cases: Sequence[Case]) -> int:
    """Slices (runs, for a run-based SLI) the availability SLI counted bad during the incident
    and BUDGET_TAIL_S after: of its journey for a service fault; for a location's fault, of
    its journey, or (a dead location) of every journey no other fault overlapped."""
    start, end = case.incident.start, case.incident.end + BUDGET_TAIL_S
    if case.journey is not None:
        journeys = [case.journey]
    else:
        busy = {c.journey for c in cases if c is not case
                and c.incident.start < end and c.incident.end + BUDGET_TAIL_S > start}  # fmt: skip
        journeys = [j for j in series if j not in busy]
    found = 0
    for journey in journeys:
        if journey in series:
            sli = series[journey].sli(spec.AVAILABILITY, end, end - start)
            found += sli.total - sli.good
    return found


@dataclass(frozen=True)
class Budget:
    """How an SLI spends the 30-day availability budget: per journey its series, the bad units
    the budget allows, and what a unit is (a time slice of the quorum SLI, or a run)."""

    series: dict[str, Series]
    allowed: float
    unit: str


def locations_markdown(report: CandidateReport, events: Sequence[Event], budget: Budget) -> str:
    assert report.incidents is not None
    cases = cases_of([s.incident for s in report.incidents], events)
    rows = attribute(report.alerts, cases)
    allowed, series = budget.allowed, budget.series
    lines = [
        f"#### Rules `{report.name}`\n",
        "| fault | incidents | pages to the service's team | alerts to the prober's owners | "
        "detected | MTTD median (min) | MTTD p95 (min) | false pages | budget spent (bad "
        f"{budget.unit}; share of the 30-day budget) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        for case in row.cases:
            row.bad += bad_units(series, case, cases)
        expects = row.cases and not row.cases[0].quiet
        detected = f"{len(row.detect_s)} of {len(row.cases)}" if expects else "-"
        median = statistics.median(row.detect_s) if row.detect_s else None
        tickets = f" (+{row.service_tickets} tickets)" if row.service_tickets else ""
        spent = "-"
        if row.cases:
            spent = (f"{row.bad}; {row.bad / allowed:.1%} "
                     f"({row.bad / allowed / len(row.cases):.1%} each)")  # fmt: skip
        lines.append(
            f"| {row.fault} | {len(row.cases)} | {row.service_pages}{tickets} | "
            f"{row.prober_alerts} | {detected} | {_minutes(median)} | "
            f"{_minutes(p95(row.detect_s))} | {row.false_pages} | {spent} |"
        )
    lines.append("")
    for row in rows.values():
        if row.detect_s:
            shown = ", ".join(f"{d / 60:.1f}" for d in row.detect_s)
            lines.append(f"* {row.fault}: time to the first right alert per incident: {shown} min")
        if row.down_s:
            shown = ", ".join(f"{d / 60:.1f}" for d in row.down_s)
            lines.append(f"  journey-down alone: {shown} min (median "
                         f"{_minutes(statistics.median(row.down_s))}, p95 "
                         f"{_minutes(p95(row.down_s))}; {len(row.down_s)} of "
                         f"{len(row.cases)} incidents)")  # fmt: skip
    kinds: dict[tuple[str, str], int] = {}
    for alert in report.alerts:
        key = ("prober's owners" if to_prober(alert) else "service's team", alert.monitor_type)
        kinds[key] = kinds.get(key, 0) + 1
    shown = ", ".join(
        f"{kind} to the {who} {count}" for (who, kind), count in sorted(kinds.items())
    )
    lines.append(f"* alerts by monitor type: {shown}")
    return "\n".join(lines)


def verification(
    runs: Sequence[StoredRun], cases: Sequence[Case], events: Sequence[Event],
    locations: Sequence[str], *, t0: float, scale: float,
) -> str:  # fmt: skip
    """From the stores: what each location's runs did during each location fault and one-run
    blip (real times: incidents are stretched, runs are not)."""

    def real(t: float) -> float:
        return t0 + (t - t0) / scale

    journeys = {e.incident_label: e.journey for e in events}
    lines = ["Checked in the stores (scheduled runs finished within the incident, per location):"]
    for case in cases:
        if case.location is None and not case.quiet:
            continue
        start, end = real(case.incident.start), real(case.incident.end)
        journey = journeys.get(case.incident.label)
        inside = [r for r in runs
                  if start <= r.finished_at <= end + 1.0 and r.trigger == "schedule"]  # fmt: skip
        parts = []
        for location in locations:
            mine = [r for r in inside if r.location == location]
            if journey is not None:
                mine = [r for r in mine if r.journey == journey]
            failed = [r for r in mine if r.status != "success"]
            kinds = sorted({f"{r.status}/{r.error_type}/{r.attempts} attempts" for r in failed})
            parts.append(f"{location} {len(failed)} failed of {len(mine)}"
                         f"{' (' + ', '.join(kinds) + ')' if kinds else ''}")  # fmt: skip
        what = f"runs of {journey}" if journey else "runs of every journey"
        lines.append(f"* {case.incident.label} at {(case.incident.start - t0) / 60:.0f} min, "
                     f"{what}: {'; '.join(parts)}")  # fmt: skip
    return "\n".join(lines)


# --- running -----------------------------------------------------------------------------------


class LoadSampler:
    """The 1-minute load average every 30 s while the schedule plays."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(30):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(
    args: argparse.Namespace, work: Path, *, base_env: dict[str, str], env: dict[str, str],
    duration_s: float, events: list[Event], journeys: list[str], locations: list[str],
) -> tuple[float, float, dict[str, Any]]:  # fmt: skip
    scale = args.time_scale
    interval = 60.0 / scale
    print(f"work folder {work}; {duration_s / scale / 60:.1f} min of wall time, "
          f"probes every {interval:g} s (60 s at scale {scale:g}), {len(journeys)} journeys "
          f"from {len(locations)} location(s)", flush=True)  # fmt: skip
    sandbox_log = work / "sandbox.log"
    several = len(locations) > 1
    stores = {loc: work / loc / "results.db" if several else work / "results.db"
              for loc in locations}  # fmt: skip
    wall0, cpu0 = time.time(), os.times()
    with ExitStack() as stack:
        sandbox_proc = stack.enter_context(process(
            [sys.executable, "-m", "prober", "sandbox", "--faults", "--port", "0",
             "--db", str(work / "sandbox.db"), "--request-log", "off"],
            sandbox_log, base_env))  # fmt: skip
        url = wait_for_url(sandbox_log, sandbox_proc)
        client = stack.enter_context(httpx.Client(base_url=url, timeout=10))
        ids = create_workflows(client, base_env["SANDBOX_PASSWORD"], journeys)
        places: dict[str, Location] = {}
        for location in locations:
            folder = stores[location].parent
            folder.mkdir(parents=True, exist_ok=True)
            proxy = None
            if several:
                proxy = WireProxy(url)
                proxy.start()
                stack.callback(proxy.stop)
            place_env = {
                **env,
                "PROBER_TARGETS__SANDBOX__BASE_URL": proxy.url if proxy else url,
                "PROBER_STORE__PATH": str(stores[location]),
                "PROBER_ARTIFACTS__PATH": str(folder / "artifacts"),
                "PROBER_SERVE__PORT": "0",
                "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9",  # discard
                "PROBER_LOCATION": location,
            }
            if several:
                others = [str(stores[o]) for o in locations if o != location]
                place_env |= {
                    "PROBER_SLO__LOCATIONS": json.dumps(locations),
                    "PROBER_SLO__QUORUM": str(QUORUM),
                    "PROBER_SLO__STORES": json.dumps(others),
                }
            serve = [sys.executable, "-m", "prober", "serve", *journeys]
            place = Location(location, stores[location], folder / "serve.log", place_env, serve,
                             proxy)  # fmt: skip
            places[location] = place
            stack.callback(place.stop)
            place.start()
        sampler = stack.enter_context(LoadSampler())
        t0 = time.time()
        play(client, events, ids, places, t0=t0, scale=scale, incidents=work / "incidents.csv")
        sleep_until(t0 + duration_s / scale, list(places.values()))
        t_end = time.time()
    wall, cpu1 = time.time() - wall0, os.times()
    children = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system
                                                            - cpu0.children_system)  # fmt: skip
    own = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    load = {
        "wall_s": wall,
        "cpu_children_s": children,
        "cpu_script_s": own,
        "load1_mean": statistics.fmean(sampler.samples) if sampler.samples else None,
        "load1_max": max(sampler.samples) if sampler.samples else None,
        "max_rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    mean, peak = load["load1_mean"] or 0, load["load1_max"] or 0
    print(f"schedule played in {wall / 60:.1f} min: CPU {children:.0f} s in the sandbox and "
          f"serve processes, {own:.0f} s in this script (the proxies), i.e. "
          f"{(children + own) / wall:.0%} of one core; 1-min load average mean {mean:.2f}, "
          f"max {peak:.2f}", flush=True)  # fmt: skip
    _, catalog = prepare(None, env)
    started = time.time()
    stored = sum(prefill(stores[loc], catalog, journeys, loc, t0=t0, scale=scale,
                         days=args.history_days) for loc in locations)  # fmt: skip
    print(f"{stored} healthy runs stored for the {args.history_days:g} days before "
          f"({time.time() - started:.0f} s)", flush=True)  # fmt: skip
    return t0, t_end, load


def score_all(
    rules: Path | None, chosen: list[Journey], runs: list[StoredRun], quorum: spec.Quorum | None,
    incidents_file: Path, *, t0: float, t_end: float, scale: float,
) -> tuple[list[CandidateReport], set[str]]:  # fmt: skip
    """A report per candidate (shipped first), and the names of those scored with the quorum."""
    candidates = [shipped(), *(load_candidates(rules) if rules else [])]
    # A candidate asking journey-down for fewer locations than the quorum stands for a prober
    # without the quorum SLI: scored with the run-based SLI, its own N, no location-local alert.
    quorate = {
        c.name
        for c in candidates
        if quorum
        and (c.rules.journey_down.min_locations or quorum.min_locations) >= quorum.min_locations
    }
    incidents = load_incidents(incidents_file)
    reports = [
        report for candidate in candidates
        for report in backtest(
            chosen, runs, env="fidelity", start=t0, end=t_end, candidates=[candidate],
            incidents=incidents, time_scale=scale,
            quorum=quorum if candidate.name in quorate else None,
        )
    ]  # fmt: skip
    return reports, quorate


def environments(scale: float) -> tuple[dict[str, str], dict[str, str]]:
    """(the sandbox's environment, the probers'): this one's, without PROBER_ and DD_ settings."""
    interval = 60.0 / scale
    # A compressed schedule must still keep it: (1 + retries) x (timeout + cleanup) fits the
    # interval (what `validate` checks), with one retry: 2 x (0.4 + 0.1) x interval.
    overrides = {
        name: {"interval": f"{interval:g}s", "timeout": f"{interval * 0.4:g}s",
               "latency_threshold": f"{min(LATENCY_THRESHOLD_S, interval * 0.4):g}s"}
        for name in KNOWN_JOURNEYS  # the config check reads every journey of the pack
    }  # fmt: skip
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    # The sandbox and the config share one password (the config holds none of its own).
    base_env.setdefault("SANDBOX_PASSWORD", secrets.token_urlsafe(12))
    env = {**base_env, "PROBER_OVERRIDES": json.dumps(overrides), "PROBER_ENV": "fidelity",
           "PROBER_JOURNEYS": json.dumps([str(PACK)]),
           "PROBER_SERVE__CLEANUP_TIMEOUT": f"{interval * 0.1:g}s"}  # fmt: skip
    return base_env, env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=3, choices=(1, 3),
                        help="3 (default): us-east1, eu-west1, local, each through its own "
                        "proxy; 1: the one-location schedule")  # fmt: skip
    parser.add_argument("--schedule", type=Path, default=None,
                        help=f"default {SCHEDULE_N.name}; {SCHEDULE_1.name} with 1")  # fmt: skip
    parser.add_argument("--time-scale", type=float, default=20.0, help="K (default 20)")
    parser.add_argument("--quick", action="store_true", help="a 30-40 minute schedule")
    parser.add_argument("--rules", type=Path, default=None, help="alternatives to score too")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temp)")
    parser.add_argument(
        "--history-days",
        type=float,
        default=None,
        help="healthy days stored before the run (default 30: full windows; --quick 2)",
    )
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the runs and incidents already in --out again",
    )
    args = parser.parse_args()
    if args.history_days is None:
        args.history_days = 2.0 if args.quick else 30.0
    scale = args.time_scale
    several = args.locations > 1
    schedule = args.schedule or (SCHEDULE_N if several else SCHEDULE_1)
    data = (QUICK_N if several else QUICK_1) if args.quick else yaml.safe_load(
        schedule.read_text())  # fmt: skip
    locations = list(data.get("locations", DEFAULT_LOCATIONS)) if several else ["local"]
    if several and len(locations) != args.locations:
        raise SystemExit(f"{schedule} lists {len(locations)} locations, not {args.locations}")
    duration_s, events, journeys = load_schedule(data, locations)
    work = args.out or Path(tempfile.mkdtemp(prefix="fault-schedule-"))
    work.mkdir(parents=True, exist_ok=True)
    base_env, env = environments(scale)
    stores = [work / loc / "results.db" for loc in locations] if several else [work / "results.db"]
    period = work / "period.json"
    if not args.score_only:
        for store in stores:
            store.unlink(missing_ok=True)
        t0, t_end, load = run(args, work, base_env=base_env, env=env, duration_s=duration_s,
                              events=events, journeys=journeys, locations=locations)  # fmt: skip
        period.write_text(json.dumps({"start": t0, "end": t_end, "time_scale": scale,
                                      "locations": locations, "load": load}))  # fmt: skip
    times = json.loads(period.read_text())
    t0, t_end = times["start"], times["end"]
    _, catalog = prepare(None, env)
    runs: list[StoredRun] = []
    for path in stores:  # every location's store, read together
        store = ResultStore(path)
        runs += store.runs(env="fidelity")
        store.close()
    chosen = [catalog.journeys[name] for name in journeys]
    quorum = spec.Quorum(QUORUM, tuple(locations)) if several else None
    reports, quorate = score_all(args.rules, chosen, runs, quorum, work / "incidents.csv",
                                 t0=t0, t_end=t_end, scale=scale)  # fmt: skip
    (work / "backtest.json").write_text(json.dumps([r.to_json() for r in reports], indent=2))
    live = [r for r in runs if r.finished_at >= t0]
    failed = sum(r.status != "success" for r in live)
    print(f"\n{len(live)} runs ({failed} not successful) from {len(locations)} location(s) over "
          f"{duration_s / 3600:g} h of uncompressed time; backtest JSON in "
          f"{work / 'backtest.json'}\n")  # fmt: skip
    if not several:
        targets = {name: catalog.journeys[name].slo_target for name in journeys}
        for report in reports:
            print(markdown(report, targets) + "\n")
        return 0
    assert quorum is not None
    print_locations(reports, runs, chosen, events, quorum, quorate=quorate, t0=t0, scale=scale)
    return 0


def print_locations(
    reports: Sequence[CandidateReport], runs: Sequence[StoredRun], chosen: Sequence[Journey],
    events: Sequence[Event], quorum: spec.Quorum, *, quorate: set[str], t0: float, scale: float,
) -> None:  # fmt: skip
    """The several-location tables, one per candidate, and what the stores say the faults did."""
    shared = {journey.slo_target for journey in chosen}
    if len(shared) != 1:
        raise SystemExit(f"the journeys of a several-location schedule share one target, not "
                         f"{sorted(shared)}")  # fmt: skip
    allowed = (1 - shared.pop()) * 30 * 86400
    slice_s = quorum.slice_s(chosen[0].replace(interval=f"{chosen[0].interval_s * scale:g}s"))
    stretched: dict[str, list[tuple[float, StoredRun]]] = {}
    for r in runs:
        stretched.setdefault(r.journey, []).append((t0 + (r.finished_at - t0) * scale, r))
    sliced = Budget({name: Series(items, quorum=quorum.min_locations, slice_s=slice_s)
                     for name, items in stretched.items()}, allowed / slice_s,
                    "slices")  # fmt: skip
    # A run every 60 s (uncompressed) from every location.
    counted = Budget({name: Series(items) for name, items in stretched.items()},
                     allowed / 60 * len(quorum.locations), "runs")  # fmt: skip
    for report in reports:
        text = locations_markdown(report, events, sliced if report.name in quorate else counted)
        if report.name not in quorate:
            text += (
                "\n* scored without the quorum (run-based SLI, journey-down from "
                f"{report.rules.journey_down.min_locations} location, no location-local "
                "alert): what several locations without `slo.quorum` would alert"
            )
        print(text + "\n")
    first = reports[0]
    assert first.incidents is not None
    cases = cases_of([s.incident for s in first.incidents], events)
    print(verification(runs, cases, events, quorum.locations, t0=t0, scale=scale))


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds every `with`: the processes and proxies are stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupted)
    sys.exit(main())
