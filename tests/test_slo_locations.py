"""Three locations, locally: `prober serve` as three processes (their own `location` and
store), each reaching the reference platform through its own WireProxy, all sending to one
DogStatsD receiver (a real UDP socket). A fault on one location's path fails that location
alone: the quorum SLI spends nothing and the failure is blamed on the location; the same fault
on every path spends it. The exported slice query is checked against the points received.

API journeys on a 2 s interval; the SLO arithmetic reads them 30 times slower (2 s -> 60 s,
as the fault schedule does), so each 60 s time slice is 2 s of real time."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from prober import metrics as m
from prober.catalog import build_catalog
from prober.config import load_config
from prober.dogstatsd_wire import Point
from prober.slo import spec
from prober.slo.blame import blame
from prober.slo.series import journey_series
from prober.store import ResultStore, StoredRun, StoreError
from tests.background_agent import BackgroundAgent
from tests.prober_cli import CONFIG, ROOT, prober_env
from tests.sandbox_process import SandboxProcess, wait_for
from tests.wire_proxy import Respond, WireProxy

PACK = ROOT / "tests" / "packs" / "serving"
JOURNEY = "fast_api"
LOCATIONS = ("us-east1", "eu-west1", "local")
BROKEN = "eu-west1"
SCALE = 30.0  # 2 s probes read as 60 s ones
RUNS_PER_PHASE = 3
FAULT = Respond("GET", "/api/workflows*", status=503)  # the journey's step, not its login


def stored(store: Path) -> list[StoredRun]:
    if not store.exists():
        return []
    try:
        opened = ResultStore(store)
    except StoreError:  # the serve process is creating it right now: read it next poll
        return []
    try:
        return opened.runs(journey=JOURNEY)
    finally:
        opened.close()


@dataclass
class Locations:
    agent: BackgroundAgent
    proxies: dict[str, WireProxy]
    stores: dict[str, Path]


@pytest.fixture
def three(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[Locations]:
    started: list[subprocess.Popen[bytes]] = []
    proxies = {loc: WireProxy(sandbox.url) for loc in LOCATIONS}
    with BackgroundAgent() as agent:
        for proxy in proxies.values():
            proxy.start()
        try:
            for location, proxy in proxies.items():
                work = tmp_path / location
                work.mkdir()
                environ = prober_env(
                    proxy.url, work, agent.url, PROBER_JOURNEYS=f"[{PACK}]",
                    PROBER_SERVE__PORT="0", PROBER_SERVE__CLEANUP_TIMEOUT="0s",
                    PROBER_LOCATION=location, PROBER_ENV="loctest",
                    PROBER_SLO__LOCATIONS=json.dumps(list(LOCATIONS)),
                    # The others' stores, read where they meet: a failed run says who else fails.
                    PROBER_SLO__STORES=json.dumps([str(tmp_path / other / "results.db")
                                                   for other in LOCATIONS if other != location]),
                )  # fmt: skip
                with (work / "serve.out").open("wb") as out:
                    started.append(subprocess.Popen(
                        [sys.executable, "-m", "prober", "serve", JOURNEY], env=environ,
                        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                    ))  # fmt: skip
            yield Locations(agent, proxies,
                            {loc: tmp_path / loc / "results.db" for loc in LOCATIONS})  # fmt: skip
        finally:
            for proc in started:
                proc.send_signal(signal.SIGTERM)
            for proc in started:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for proxy in proxies.values():
                proxy.stop()


def _runs_since(stores: dict[str, Path], since: float) -> dict[str, list[StoredRun]]:
    return {loc: [r for r in stored(path) if r.started_at >= since] for loc, path in stores.items()}


def _wait_phase(stores: dict[str, Path], since: float, failing: set[str]) -> None:
    def done() -> bool:
        runs = _runs_since(stores, since)
        return all(
            sum(r.status == (m.FAILURE if loc in failing else m.SUCCESS) for r in runs[loc])
            >= RUNS_PER_PHASE
            for loc in stores
        )

    wait_for(done, 60, interval=0.2, what=f"{RUNS_PER_PHASE} runs per location, {failing} failing")


def test_a_location_local_fault_is_the_locations_and_a_global_one_counts(
    sandbox: SandboxProcess, three: Locations
) -> None:
    stores, agent = three.stores, three.agent
    _wait_phase(stores, 0.0, set())  # every location probes and succeeds
    local_start = time.time()
    three.proxies[BROKEN].add(FAULT)  # that location's path only
    seen_before = len(agent.points(m.RUNS))
    _wait_phase(stores, local_start + 0.5, {BROKEN})
    local_end = time.time()
    local_points = agent.points(m.RUNS)[seen_before:]
    for location in LOCATIONS:
        if location != BROKEN:
            three.proxies[location].add(FAULT)  # now every path: the platform itself
    global_start = time.time()
    seen_global = len(agent.points(m.RUNS))
    _wait_phase(stores, global_start + 0.5, set(LOCATIONS))
    global_end = time.time()
    global_points = agent.points(m.RUNS)[seen_global:]

    settings = {"PROBER_JOURNEYS": f"[{PACK}]", "PROBER_SERVE__CLEANUP_TIMEOUT": "0s",
                "PROBER_LOCATION": LOCATIONS[0],
                "PROBER_SLO__LOCATIONS": json.dumps(list(LOCATIONS))}  # fmt: skip
    loaded = load_config(CONFIG, prober_env(sandbox.url, stores[LOCATIONS[0]].parent, agent.url,
                                            **settings))  # fmt: skip
    journey = build_catalog(loaded).journeys[JOURNEY]
    quorum = spec.Quorum(loaded.config.slo.min_locations or 0, LOCATIONS)
    export = spec.build([journey], "loctest", LOCATIONS, quorum=quorum)
    sli = next(s for s in export.slos if s.slo_type == spec.AVAILABILITY)

    # What the sinks really emitted: the slice query counts one location, then all three.
    assert _counted(local_points, sli.slice_query) == {BROKEN}
    assert _counted(global_points, sli.slice_query) == set(LOCATIONS)

    # Every query of every exported monitor and SLO (journey-down, location_failing,
    # quorum_failing, burn rates' SLOs, heartbeats) selects points the sinks really sent.
    queries = [mon.query for mon in export.monitors if mon.datadog_type == "metric alert"]
    queries += [q for s in export.slos for q in (s.numerator, s.denominator, s.slice_query) if q]
    everything_sent = agent.points()
    for query in queries:
        for metric, filters in re.findall(r"sum:([a-z_.]+)\{([^}]*)\}", query):
            if f"{m.STATUS}:{m.PROBE_ERROR}" in filters.split(","):
                continue  # no prober fault happened here (tests/test_dogstatsd_sink.py has one)
            wanted = {f for f in filters.split(",") if not f.startswith("!")}
            unwanted = {f[1:] for f in filters.split(",") if f.startswith("!")}
            assert any(p.name == metric and wanted <= set(p.tags) and not unwanted & set(p.tags)
                       for p in everything_sent), (metric, filters)  # fmt: skip

    # The stores, read together as `slo status` reads them, at 60 s cadence.
    everything = [r for path in stores.values() for r in stored(path)]
    t0 = min(r.finished_at for r in everything)
    stretched = journey.replace(interval=f"{journey.interval_s * SCALE:g}s")
    series = journey_series(((t0 + (r.finished_at - t0) * SCALE, r) for r in everything),
                            quorum, stretched)  # fmt: skip

    def bad(start: float, end: float) -> int:
        a, b = t0 + (start - t0) * SCALE, t0 + (end - t0) * SCALE
        window = series.sli(spec.AVAILABILITY, b, b - a)
        return window.total - window.good

    assert bad(local_start, local_end) == 0  # one location cannot spend the service's budget
    assert bad(global_start, global_end) > 0  # the platform's outage counts
    verdict = blame(everything, journey, quorum, local_end)
    assert verdict.location_local and verdict.failing == (BROKEN,)

    # The failed runs themselves say it, in their event (and `locations` of the result): the
    # broken location alone first, then the platform.
    texts = [p.fields["text"] for p in agent.points() if p.kind == "event"
             and p.name.startswith(f"CUJ {JOURNEY} is failing")]  # fmt: skip
    others = ", ".join(loc for loc in LOCATIONS if loc != BROKEN)
    assert f"locations: failing from {BROKEN} only; {others} succeed: that location's " \
        "problem, not workflow-service's" in texts[0], texts  # fmt: skip
    assert any("locations, quorum 2): workflow-service" in text for text in texts[1:]), texts


def _counted(points: list[Point], query: str) -> set[str]:
    parsed = re.fullmatch(r"sum:([^{]+)\{([^}]*)\} by \{location\}\.as_count\(\)", query)
    assert parsed is not None, query
    metric, filters = parsed.groups()
    wanted = set(filters.split(","))
    return {dict(t.split(":", 1) for t in p.tags)[m.LOCATION]
            for p in points if p.name == metric and wanted <= set(p.tags)}  # fmt: skip
