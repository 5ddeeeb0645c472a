#!/usr/bin/env python3
"""Play a fault schedule against the reference platform while `prober serve` probes it, then
score the shipped alert rules (and any --rules alternatives) on what happened.

Starts `prober sandbox --faults` and `prober serve` (the API journeys only: light on CPU) on
loopback, with every journey's interval, timeout and latency threshold divided by the time
scale K, so 60 s probes run every 60/K s. The schedule (scripts/fault_schedule.yaml, in
uncompressed time) is played K times faster through `POST /_sandbox/faults`; each event appends
its incidents to incidents.csv as it ends. Then `prober slo backtest --time-scale K` logic
stretches the stored runs back to real cadence and scores the alerts, and a Markdown section for
docs/slo-fidelity.md is printed. Everything goes to --out; traffic stays on 127.0.0.1.

    .venv/bin/python scripts/fault_schedule.py                # the measured run, ~15 minutes
    .venv/bin/python scripts/fault_schedule.py --quick        # a 90-second smoke of the same
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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
from prober.durations import parse_duration  # noqa: E402
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

JOURNEYS = ("workflow_run_api", "workflow_crud_api")
# uncompressed latency thresholds for the compressed run: healthy API runs take 0.4-1 s, and the
# schedule's latency regression adds 1.5 s to each workflow run
LATENCY_THRESHOLD_S = {"workflow_run_api": 40.0, "workflow_crud_api": 24.0}
QUICK = {
    "duration": "30m",
    "events": [
        {"at": "8m", "for": "10m", "label": "hard outage", "journeys": ["workflow_run_api"],
         "fault": {"service": "orchestration-engine", "mode": "unavailable"}},
        {"at": "24m", "for": "2m", "label": "brief blip", "journeys": ["workflow_run_api"],
         "fault": {"service": "orchestration-engine", "mode": "unavailable"}},
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Event:
    at_s: float
    for_s: float
    label: str
    journeys: list[str]
    fault: dict[str, Any]


def load_schedule(data: dict[str, Any]) -> tuple[float, list[Event]]:
    events = [
        Event(parse_duration(e["at"]), parse_duration(e["for"]), e["label"], list(e["journeys"]),
              dict(e["fault"]))
        for e in data["events"]
    ]  # fmt: skip
    return parse_duration(data["duration"]), sorted(events, key=lambda e: e.at_s)


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


def play(url: str, events: list[Event], t0: float, scale: float, incidents: Path) -> None:
    with incidents.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        handle.flush()
        with httpx.Client(base_url=url, timeout=10) as client:
            for event in events:
                sleep_until(t0 + event.at_s / scale)
                answer = client.post("/_sandbox/faults", json=event.fault)
                answer.raise_for_status()
                started = time.time()
                print(f"  {started - t0:6.1f}s  {event.label}: {event.fault}", flush=True)
                sleep_until(t0 + (event.at_s + event.for_s) / scale)
                client.delete(f"/_sandbox/faults/{answer.json()['id']}").raise_for_status()
                ended = time.time()
                for journey in event.journeys:
                    writer.writerow(
                        {
                            "start": f"{started:.3f}",
                            "end": f"{ended:.3f}",
                            "journey": journey,
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


def markdown(report: CandidateReport) -> str:
    """Per fault class: how the alerts of one candidate did."""
    assert report.incidents is not None and report.overall is not None
    lines = [
        f"#### Rules `{report.name}`\n",
        "| fault | incidents | paged | MTTD page (min) | burn ticket only | missed | "
        "alert cleared after end (min) |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = sorted({s.incident.label for s in report.incidents})
    for label in labels:
        scores = [s for s in report.incidents if s.incident.label == label]
        paged, ticket_only, page_ttd, cleared = 0, 0, [], []
        for s in scores:
            hit = [
                report.alerts[i]
                for i in s.alerts
                if report.alerts[i].monitor_type != "error_budget"
            ]
            pages = [a for a in hit if a.severity == "page"]
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
        lines.append(f"| {label} | {len(scores)} | {paged} | {_minutes(mean_ttd)} | "
                     f"{ticket_only} | {missed} | {_minutes(mean_clear)} |")  # fmt: skip
    burn = [a for a in report.alerts if a.monitor_type != "error_budget"]
    matched = {i for s in report.incidents for i in s.alerts}
    false = [a for i, a in enumerate(report.alerts) if i not in matched]
    budget = [a for a in report.alerts if a.monitor_type == "error_budget"]
    lines.append(
        f"\nBurn-rate and prober alerts: {len(burn)} ({sum(a.severity == 'page' for a in burn)} "
        f"pages, {sum(a.severity == 'ticket' for a in burn)} tickets); false alarms (matching "
        f"no incident): {len(false)} "
        f"({', '.join(sorted({a.monitor for a in false})) or 'none'}). Error-budget alerts: "
        f"{len(budget)}. Overall alignment {report.overall.alignment or 0:.0%}, MTTD "
        f"{_minutes(report.overall.mean_time_to_detect_s)} min, p95 "
        f"{_minutes(report.overall.p95_time_to_detect_s)} min."
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
    t0 = time.time()
    print(f"work folder {work}; {duration_s / scale / 60:.1f} min of wall time, "
          f"probes every {interval:g} s (60 s at scale {scale:g})", flush=True)  # fmt: skip
    sandbox_log = work / "sandbox.log"
    with process([sys.executable, "-m", "prober", "sandbox", "--faults", "--port", "0",
                  "--db", str(work / "sandbox.db"), "--request-log", "off"],
                 sandbox_log, base_env) as sandbox_proc:  # fmt: skip
        url = wait_for_url(sandbox_log, sandbox_proc)
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
            play(url, events, t0, scale, work / "incidents.csv")
            sleep_until(t0 + duration_s / scale)
        t_end = time.time()
    _, catalog = prepare(None, env)
    stored = prefill(store_path, catalog, t0, scale, args.history_days)
    print(f"{stored} healthy runs stored for the {args.history_days:g} days before", flush=True)
    return t0, t_end


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", type=Path, default=ROOT / "scripts" / "fault_schedule.yaml")
    parser.add_argument("--time-scale", type=float, default=20.0, help="K (default 20)")
    parser.add_argument("--quick", action="store_true", help="a 30-minute schedule (90 s)")
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
    overrides = {
        name: {"interval": f"{interval:g}s", "timeout": f"{interval:g}s",
               "latency_threshold": f"{LATENCY_THRESHOLD_S[name] / scale:g}s"}
        for name in JOURNEYS
    }  # fmt: skip
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_"))}
    env = {**base_env, "PROBER_OVERRIDES": json.dumps(overrides), "PROBER_ENV": "fidelity"}
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
    for report in reports:
        print(markdown(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
