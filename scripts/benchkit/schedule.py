"""`prober serve` keeping its schedule: all five journeys on a short interval, side by side;
runs, failures and lateness per journey from the result store, and the resident memory of the
serve process and of its Chromium (formerly scripts/bench_serve.py)."""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Bench
from proctree import Group, rss_kib, spawn
from reference import Platform, source_env

JOURNEYS = ("workflow_canvas_load", "workflow_crud_api", "workflow_crud_browser",
            "workflow_run_api", "workflow_run_browser")  # fmt: skip


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    seconds, interval = bench.pick((6.0, 3.0), (12.0, 4.0), (120.0, 8.0))
    scratch = Path(tempfile.mkdtemp(prefix="bench-schedule-", dir=bench.work))
    # No retries, and timeout + cleanup within the interval: the schedule survives an outage.
    overrides = {j: {"interval": f"{interval:g}s", "timeout": f"{interval * 0.75:g}s",
                     "latency_threshold": f"{interval * 0.75:g}s", "retries": 0}
                 for j in JOURNEYS}  # fmt: skip
    env = source_env(bench.src, {
        "SANDBOX_PASSWORD": plat.password,
        "PROBER_TARGETS__SANDBOX__BASE_URL": plat.url,
        "PROBER_STORE__PATH": str(scratch / "results.db"),
        "PROBER_ARTIFACTS__PATH": str(scratch / "artifacts"),
        "PROBER_SERVE__PORT": "0",
        "PROBER_SERVE__CLEANUP_TIMEOUT": f"{interval * 0.25:g}s",
        "PROBER_OVERRIDES": json.dumps(overrides),
        "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9",
        # A customer's patience for a run that fits the shortened timeout (validate checks it).
        "PROBER_TARGETS__SANDBOX__SETTINGS__RUN_MAX_WAIT": f"{interval * 0.25:g}s",
    })  # fmt: skip
    group = Group("schedule")
    out = (scratch / "serve.log").open("wb")
    proc = spawn(group, [sys.executable, "-m", "prober", "serve"], env=env, cwd=bench.src,
                 stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    samples: list[tuple[float, float, float]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds and proc.poll() is None:
            me = rss_kib(proc.pid) / 1024
            samples.append((time.monotonic() - started, me, group.rss_mib() - me))
            time.sleep(min(5.0, seconds / 4))  # the sampling period of a fixed-length run
    finally:
        proc.terminate()
        code = proc.wait(timeout=120)
        group.close()
    rows = []
    for journey in JOURNEYS:
        starts, durations, failed = _runs(scratch / "results.db", journey)
        late = [b - a - interval for a, b in itertools.pairwise(starts)]
        rows.append({
            "journey": journey, "runs": len(starts), "not_success": failed,
            "median_duration_s": statistics.median(durations) if durations else None,
            "median_lateness_s": statistics.median(late) if late else None,
            "max_lateness_s": max(late) if late else None,
        })  # fmt: skip
    rss = [{"at_s": t, "serve_mib": s, "browser_mib": b} for t, s, b in samples]
    return {"seconds": seconds, "interval_s": interval, "rows": rows, "exit_code": code,
            "rss": rss}  # fmt: skip


def _runs(db: Path, journey: str) -> tuple[list[float], list[float], int]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT started_at, duration_s, status FROM runs WHERE journey = ? "
            "ORDER BY started_at", (journey,),
        ).fetchall()  # fmt: skip
    return [r[0] for r in rows], [r[1] for r in rows], sum(r[2] != "success" for r in rows)


def markdown(res: dict[str, Any]) -> list[str]:
    def num(v: float | None, sign: bool = False) -> str:
        return "-" if v is None else f"{v:+.2f}" if sign else f"{v:.2f}"

    lines = [
        f"`prober serve`, {res['seconds']:g} s, five journeys every {res['interval_s']:g} s "
        "(default jitter: up to 10% of the interval, a delay only; `browser.max_concurrent` 2). "
        "Lateness is the gap between two starts minus the interval.",
        "",
        "| journey | runs | not success | median duration s | median lateness s | max lateness s |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['journey']} | {r['runs']} | {r['not_success']} | "
                     f"{num(r['median_duration_s'])} | {num(r['median_lateness_s'], True)} | "
                     f"{num(r['max_lateness_s'], True)} |")  # fmt: skip
    if res["rss"]:
        first, last = res["rss"][0], res["rss"][-1]
        lines += ["", f"Serve process RSS {first['serve_mib']:.1f} MiB at {first['at_s']:.0f} s, "
                      f"{last['serve_mib']:.1f} MiB at {last['at_s']:.0f} s; Chromium and "
                      f"Playwright's driver {first['browser_mib']:.1f} -> "
                      f"{last['browser_mib']:.1f} MiB. Exit code after SIGTERM: "
                      f"{res['exit_code']}."]  # fmt: skip
    return lines
