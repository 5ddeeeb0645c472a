#!/usr/bin/env python3
"""Play a fault schedule against the reference platform while `prober serve` probes it, then
score the shipped alert rules (and any --rules alternatives) on what happened.

Starts `prober sandbox --faults` and `prober serve` on loopback with the API journeys of
scripts/fidelity_pack (one per fault class and SLO target; no browser: light on CPU), every
journey's 60 s interval divided by the time scale K. The schedule (scripts/fault_schedule.yaml,
uncompressed time) is played K times faster through `POST /_sandbox/faults`; each event appends
its incident to incidents.csv as it ends. Then the runs are stored with 30 days of healthy
history before them (so every window is as full as a month-old prober's), stretched back to
real cadence (`slo backtest --time-scale K`) and scored; a Markdown section for
docs/slo-fidelity.md is printed. Everything goes to --out; traffic stays on 127.0.0.1.

    .venv/bin/python scripts/fault_schedule.py --out .prober/fidelity   # ~18 minutes
    .venv/bin/python scripts/fault_schedule.py --quick                  # ~2 minutes
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.commands.setup import prepare  # noqa: E402
from prober.result import (  # noqa: E402
    AttemptResult,
    JourneyResult,
    Status,
    StepResult,
    StepStatus,
    Trigger,
)
from prober.slo.backtest import CandidateReport, backtest  # noqa: E402
from prober.slo.candidates import load_candidates, shipped  # noqa: E402
from prober.slo.incidents import FIELDS, load_incidents  # noqa: E402
from prober.store import ResultStore  # noqa: E402
from prober.values import parse_duration  # noqa: E402

PACK = ROOT / "scripts" / "fidelity_pack"
JOURNEYS = [f"fidelity_{kind}_{target}" for kind in ("hard", "partial", "latency", "blip")
            for target in ("995", "99")]  # fmt: skip
# Healthy runs take about 0.05 s; the schedule's latency regression adds 1.5 s. Latency does
# not compress, so the threshold is set in real seconds.
LATENCY_THRESHOLD_S = 1.0
QUICK = {
    "duration": "30m",
    "events": [
        {"at": "8m", "for": "10m", "label": "hard outage", "journey": "fidelity_hard_99",
         "fault": {"mode": "error"}},
        {"at": "12m", "for": "2m", "label": "brief blip", "journey": "fidelity_blip_995",
         "fault": {"mode": "error"}},
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Event:
    at_s: float
    for_s: float
    label: str
    journey: str
    fault: dict[str, Any]


def load_schedule(data: dict[str, Any]) -> tuple[float, list[Event]]:
    events = [
        Event(parse_duration(e["at"]), parse_duration(e["for"]), e["label"], e["journey"],
              dict(e["fault"]))
        for e in data["events"]
    ]  # fmt: skip
    unknown = {e.journey for e in events} - set(JOURNEYS)
    if unknown:
        raise SystemExit(f"schedule names unknown journeys {sorted(unknown)}; use {JOURNEYS}")
    return parse_duration(data["duration"]), sorted(events, key=lambda e: e.at_s)


def create_workflows(client: httpx.Client, password: str) -> dict[str, str]:
    """One workflow per journey, named after it; its id is the path its faults target."""
    token = client.post("/api/auth/login", json={"username": "prober", "password": password})
    token.raise_for_status()
    headers = {"authorization": f"Bearer {token.json()['token']}"}
    ids = {}
    for name in JOURNEYS:
        body = {"name": name, "nodes": [{"id": "a", "type": "source", "label": "A", "x": 0,
                                         "y": 0}], "edges": []}  # fmt: skip
        made = client.post("/api/workflows", json=body, headers=headers)
        made.raise_for_status()
        ids[name] = str(made.json()["id"])
    return ids


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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


def sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 1.0))


def play(
    client: httpx.Client, events: list[Event], ids: dict[str, str], *, t0: float, scale: float,
    incidents: Path,
) -> None:  # fmt: skip
    """Start and stop each event's fault on time (events overlap), writing each incident as its
    fault is removed."""
    actions = sorted([(e.at_s, 0, i) for i, e in enumerate(events)]
                     + [(e.at_s + e.for_s, 1, i) for i, e in enumerate(events)])  # fmt: skip
    fault_ids: dict[int, str] = {}
    started: dict[int, float] = {}
    with incidents.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        handle.flush()
        for at_s, stop, index in actions:
            sleep_until(t0 + at_s / scale)
            event = events[index]
            if not stop:
                fault = {"service": "workflow-service",
                         "path": f"/api/workflows/{ids[event.journey]}", **event.fault}  # fmt: skip
                answer = client.post("/_sandbox/faults", json=fault)
                answer.raise_for_status()
                fault_ids[index], started[index] = answer.json()["id"], time.time()
                print(f"  {time.time() - t0:6.1f}s  {event.label} on {event.journey}", flush=True)
                continue
            client.delete(f"/_sandbox/faults/{fault_ids[index]}").raise_for_status()
            writer.writerow(
                {
                    "start": f"{started[index]:.3f}",
                    "end": f"{time.time():.3f}",
                    "journey": event.journey,
                    "service": "",
                    "label": event.label,
                }
            )
            handle.flush()


def prefill(store_path: Path, catalog: Any, t0: float, scale: float, days: float) -> int:
    """Healthy scheduled runs for the `days` before the run, at the compressed cadence, so every
    window (up to the 30-day budget) is as full as a prober running for a month has it."""
    store = ResultStore(store_path)
    step = 60.0 / scale
    count = int(days * 86400 / 60)
    for name in JOURNEYS:
        journey = catalog.journeys[name]
        for i in range(count, 0, -1):
            started = t0 - i * step
            attempt = AttemptResult(1, Status.SUCCESS, "0" * 32, started, 0.5 / scale,
                                    (StepResult("history", journey.service, StepStatus.PASSED,
                                                0.5 / scale),))  # fmt: skip
            store.save(
                JourneyResult(name, journey.cuj, journey.service, journey.team,
                              str(journey.channel), "sandbox", Trigger.SCHEDULE,
                              f"history-{name}-{i}", journey.latency_threshold_s, (attempt,)),
                "fidelity", "local",
            )  # fmt: skip
    store.close()
    return count * len(JOURNEYS)


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def markdown(report: CandidateReport, targets: dict[str, float]) -> str:
    """Per fault class and SLO target: how the alerts of one candidate did. The error-budget
    monitor is counted apart: it is a ticket about the month, not a detector."""
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


def run(
    args: argparse.Namespace,
    work: Path,
    *,
    base_env: dict[str, str],
    env: dict[str, str],
    duration_s: float,
    events: list[Event],
) -> tuple[float, float]:
    scale = args.time_scale
    store_path = work / "results.db"
    interval = 60.0 / scale
    print(f"work folder {work}; {duration_s / scale / 60:.1f} min of wall time, "
          f"probes every {interval:g} s (60 s at scale {scale:g})", flush=True)  # fmt: skip
    sandbox_log = work / "sandbox.log"
    with process([sys.executable, "-m", "prober", "sandbox", "--faults", "--port", "0",
                  "--db", str(work / "sandbox.db"), "--request-log", "off"],
                 sandbox_log, base_env) as sandbox_proc:  # fmt: skip
        url = wait_for_url(sandbox_log, sandbox_proc)
        client = httpx.Client(base_url=url, timeout=10)
        ids = create_workflows(client, base_env["SANDBOX_PASSWORD"])
        env = {
            **env,
            "PROBER_TARGETS__SANDBOX__BASE_URL": url,
            "PROBER_STORE__PATH": str(store_path),
            "PROBER_ARTIFACTS__PATH": str(work / "artifacts"),
            "PROBER_SERVE__PORT": "0",
            "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9",  # discard
        }
        with process([sys.executable, "-m", "prober", "serve", *JOURNEYS],
                     work / "serve.log", env):  # fmt: skip
            t0 = time.time()
            play(client, events, ids, t0=t0, scale=scale, incidents=work / "incidents.csv")
            sleep_until(t0 + duration_s / scale)
        client.close()
        t_end = time.time()
    _, catalog = prepare(None, env)
    stored = prefill(store_path, catalog, t0, scale, args.history_days)
    print(f"{stored} healthy runs stored for the {args.history_days:g} days before", flush=True)
    return t0, t_end


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", type=Path, default=ROOT / "scripts" / "fault_schedule.yaml")
    parser.add_argument("--time-scale", type=float, default=20.0, help="K (default 20)")
    parser.add_argument("--quick", action="store_true", help="a 30-minute schedule (~2 min)")
    parser.add_argument("--rules", type=Path, default=None, help="alternatives to score too")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temp)")
    parser.add_argument(
        "--history-days",
        type=float,
        default=30.0,
        help="healthy days stored before the run (default 30: full windows)",
    )
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the runs and incidents already in --out again",
    )
    args = parser.parse_args()
    scale = args.time_scale
    duration_s, events = load_schedule(QUICK if args.quick else yaml.safe_load(
        args.schedule.read_text()))  # fmt: skip
    work = args.out or Path(tempfile.mkdtemp(prefix="fault-schedule-"))
    work.mkdir(parents=True, exist_ok=True)
    store_path = work / "results.db"
    interval = 60.0 / scale
    # A compressed schedule must still keep it: (1 + retries) x (timeout + cleanup) fits the
    # interval (what `validate` checks), with one retry: 2 x (0.4 + 0.1) x interval.
    overrides = {
        name: {"interval": f"{interval:g}s", "timeout": f"{interval * 0.4:g}s",
               "latency_threshold": f"{min(LATENCY_THRESHOLD_S, interval * 0.4):g}s"}
        for name in JOURNEYS
    }  # fmt: skip
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    # The sandbox and the config share one password (the config holds none of its own).
    base_env.setdefault("SANDBOX_PASSWORD", secrets.token_urlsafe(12))
    env = {**base_env, "PROBER_OVERRIDES": json.dumps(overrides), "PROBER_ENV": "fidelity",
           "PROBER_JOURNEYS": json.dumps([str(PACK)]),
           "PROBER_SERVE__CLEANUP_TIMEOUT": f"{interval * 0.1:g}s"}  # fmt: skip
    period = work / "period.json"
    if not args.score_only:
        store_path.unlink(missing_ok=True)
        t0, t_end = run(
            args, work, base_env=base_env, env=env, duration_s=duration_s, events=events
        )
        period.write_text(json.dumps({"start": t0, "end": t_end, "time_scale": scale}))
    times = json.loads(period.read_text())
    t0, t_end = times["start"], times["end"]
    _, catalog = prepare(None, env)
    store = ResultStore(store_path)
    runs = store.runs(env="fidelity")
    store.close()
    candidates = [shipped(), *(load_candidates(args.rules) if args.rules else [])]
    reports = backtest(
        [catalog.journeys[name] for name in JOURNEYS], runs, env="fidelity", start=t0,
        end=t_end, candidates=candidates, incidents=load_incidents(work / "incidents.csv"),
        time_scale=scale,
    )  # fmt: skip
    (work / "backtest.json").write_text(json.dumps([r.to_json() for r in reports], indent=2))
    live = [r for r in runs if r.finished_at >= t0]
    failed = sum(r.status != "success" for r in live)
    print(f"\n{len(live)} runs ({failed} not successful) over {duration_s / 3600:g} h of "
          f"uncompressed time; backtest JSON in {work / 'backtest.json'}\n")  # fmt: skip
    targets = {name: catalog.journeys[name].slo_target for name in JOURNEYS}
    for report in reports:
        print(markdown(report, targets) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
