#!/usr/bin/env python3
"""Benchmark `prober serve` against the reference platform: schedule accuracy and memory.

Starts `prober sandbox` and `prober serve` (all five journeys, overridden to a short interval)
on loopback, lets them run for --seconds, samples the resident memory of the serve process and
of its Chromium every few seconds, then reads the result store: runs per journey, failures,
and how far each run's start was from its interval. Stops both processes and prints a Markdown
section for docs/performance.md. Traffic goes to 127.0.0.1 only and stops by itself.

    .venv/bin/python scripts/bench_serve.py --seconds 120 --interval 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.commands.demo import sandbox  # noqa: E402
from prober.store import ResultStore  # noqa: E402


def rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1])


def descendants(pid: int) -> list[int]:
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            child = int(entry.name)
            children += [child, *descendants(child)]
    return children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=8.0, help="every journey's interval")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    overrides = {
        name: {"interval": f"{args.interval:g}s", "timeout": f"{args.interval:g}s"}
        for name in ("workflow_canvas_load", "workflow_run_api", "workflow_run_browser",
                     "workflow_crud_api", "workflow_crud_browser")
    }  # fmt: skip
    with sandbox(work / "platform") as url:
        env = {
            **os.environ,
            "PROBER_TARGETS__SANDBOX__BASE_URL": url,
            "PROBER_STORE__PATH": str(work / "results.db"),
            "PROBER_ARTIFACTS__PATH": str(work / "artifacts"),
            "PROBER_SERVE__PORT": "0",
            "PROBER_OVERRIDES": json.dumps(overrides),
            "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9",  # discard
        }
        out = (work / "serve.out").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "prober", "serve"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        samples: list[tuple[float, int, int]] = []
        started = time.monotonic()
        while time.monotonic() - started < args.seconds and proc.poll() is None:
            kids = sum(rss_kib(pid) for pid in descendants(proc.pid))
            samples.append((time.monotonic() - started, rss_kib(proc.pid), kids))
            time.sleep(5)  # the sampling period of a fixed-length measurement
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    store = ResultStore(work / "results.db")
    rows = []
    for journey in sorted(overrides):
        runs = sorted(store.runs(journey=journey), key=lambda r: r.started_at)
        gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(runs)]
        late = [gap - args.interval for gap in gaps]
        rows.append(
            f"| {journey} | {len(runs)} | {sum(r.status != 'success' for r in runs)} | "
            f"{statistics.median(r.duration_s for r in runs):.2f} | "
            f"{statistics.median(late):+.2f} | {max(late):+.2f} |"
            if len(runs) > 1
            else f"| {journey} | {len(runs)} | - | - | - | - |"
        )
    first = next((s for s in samples if s[0] >= 20), samples[0])
    last = samples[-1]
    print(f"### `prober serve`, {args.seconds:g} s, 5 journeys every {args.interval:g} s\n")
    print("| journey | runs | not success | median duration s | median lateness s | "
          "max lateness s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nServe process RSS: {first[1] / 1024:.1f} MiB at {first[0]:.0f} s, "
          f"{last[1] / 1024:.1f} MiB at {last[0]:.0f} s (peak "
          f"{max(s[1] for s in samples) / 1024:.1f} MiB). Chromium and Playwright's driver: "
          f"{first[2] / 1024:.1f} MiB at {first[0]:.0f} s, {last[2] / 1024:.1f} MiB at "
          f"{last[0]:.0f} s. Exit code after SIGTERM: {code}.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
