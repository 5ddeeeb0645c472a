"""Detection time under `prober serve` with a 15 s interval: a hard outage (every service of the
platform unavailable) injected at a random moment, and the time until the first failure
datagram reaches a local DogStatsD socket."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Bench, fmt, summary
from proctree import Group, spawn
from reference import Platform, source_env

SERVICES = ("frontend-monolith", "workflow-service", "orchestration-engine", "optimizer-service")
JOURNEYS = ("workflow_canvas_load", "workflow_crud_api")


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    interval = bench.pick(5.0, 15.0, 15.0)
    trials = bench.pick(1, 1, 10)
    # The schedule must survive an outage: (1 + retries) x (timeout + cleanup) <= interval.
    retries = bench.pick(0, 1, 1)
    timeout, cleanup = (
        (interval * 0.8, interval * 0.2) if not retries else (interval / 3, interval / 6)
    )
    scratch = Path(tempfile.mkdtemp(prefix="bench-detect-", dir=bench.work))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    overrides = {
        j: {
            "interval": f"{interval:g}s",
            "timeout": f"{timeout:g}s",
            "retries": retries,
            "latency_threshold": f"{timeout:g}s",
        }
        for j in JOURNEYS
    }
    env = source_env(
        bench.src,
        {
            "SANDBOX_PASSWORD": plat.password,
            "PROBER_TARGETS__SANDBOX__BASE_URL": plat.url,
            "PROBER_STORE__PATH": str(scratch / "results.db"),
            "PROBER_ARTIFACTS__PATH": str(scratch / "artifacts"),
            "PROBER_DATADOG__STATSD_URL": f"udp://127.0.0.1:{sock.getsockname()[1]}",
            "PROBER_SERVE__PORT": "0",
            "PROBER_SERVE__CLEANUP_TIMEOUT": f"{cleanup:g}s",
            "PROBER_OVERRIDES": json.dumps(overrides),
        },
    )
    group = Group("detect")
    log = (scratch / "serve.log").open("wb")
    proc = spawn(
        group,
        [sys.executable, "-m", "prober", "serve", *JOURNEYS],
        env=env,
        cwd=bench.src,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    detections: list[float] = []
    try:
        _wait_for(sock, "status:success", 90)
        for trial in range(trials):
            time.sleep(random.uniform(0, interval))  # the outage starts at a random moment
            for service in SERVICES:
                plat.fault({"service": service, "mode": "unavailable"})
            began = time.monotonic()
            try:
                _drain(sock)
                _wait_for(sock, "status:failure", interval * 4)
                detections.append(time.monotonic() - began)
            finally:
                plat.fault(None)
            if trial + 1 < trials:  # healthy again before the next outage
                _wait_for(sock, "status:success", interval * 4)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        group.close()
        sock.close()
    return {
        "interval_s": interval,
        "trials": trials,
        "retries": retries,
        "detection_s": summary(detections),
        "p95_s": _p95(detections),
        "samples": detections,
    }


def _p95(values: list[float]) -> float:
    vals = sorted(values)
    return vals[min(len(vals) - 1, round(0.95 * (len(vals) - 1)))] if vals else 0.0


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(65536)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def _wait_for(sock: socket.socket, marker: str, limit_s: float) -> None:
    """Block until a `cuj.journey.runs` datagram carrying `marker` arrives."""
    deadline = time.monotonic() + limit_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536).decode(errors="replace")
        except TimeoutError:
            break
        if any(ln.startswith("cuj.journey.runs:") and marker in ln for ln in data.splitlines()):
            return
    raise RuntimeError(f"no {marker} run reported within {limit_s:g}s")


def markdown(res: dict[str, Any]) -> list[str]:
    return [
        f"`prober serve` of {', '.join(JOURNEYS)} every {res['interval_s']:g} s with "
        f"{res['retries']} retry (a failure is reported after the last attempt), "
        f"{res['trials']} trial(s): "
        f"every service made unavailable at a random moment.",
        "",
        "| detection s | p95 s | target (interval + 5 s) |",
        "|---|---|---|",
        f"| {fmt(res['detection_s'], 1, 1)} | {res['p95_s']:.1f} | {res['interval_s'] + 5:g} |",
    ]
