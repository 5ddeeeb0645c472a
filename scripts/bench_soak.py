#!/usr/bin/env python3
"""Soak the five CUJs of journeys/workflows on a healthy reference platform: the flake rate.

Starts `prober sandbox` on loopback, runs each journey --runs times without retries, the five
side by side (as serve does), and counts every run that did not succeed - on a healthy
platform each one is a flake of the prober or of its journeys. Also checks that no `prober-`
test data is left behind but the canvas fixture. Prints a Markdown section for
docs/performance.md (--json for the raw numbers); exits 1 when any run failed. Traffic goes to
127.0.0.1 only and the script stops by itself.

    .venv/bin/python scripts/bench_soak.py --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.commands.demo import sandbox  # noqa: E402
from prober.drivers.browser import BrowserDriver  # noqa: E402
from prober.journey import Journey  # noqa: E402
from prober.loader import load_packs  # noqa: E402
from prober.result import JourneyResult, Status, Trigger  # noqa: E402
from prober.runner import Runner  # noqa: E402
from prober.target import AuthSpec, Secret, ServiceMap, Target  # noqa: E402

ROUTES = {
    "workflow-service": ["/api/workflows", "/api/workflows/*", "/api/auth/*"],
    "orchestration-engine": ["/api/runs/*", "/api/workflows/*/runs"],
    "optimizer-service": ["/api/optimize"],
    "frontend-monolith": ["/", "/login", "/workflows/*", "/static/*"],
}


async def soak(journeys: list[Journey], target: Target, runs: int) -> list[list[JourneyResult]]:
    browser = BrowserDriver()
    runner = Runner(browser=browser)

    async def repeat(journey: Journey) -> list[JourneyResult]:
        return [await runner.run(journey, target, Trigger.CI, retries=0) for _ in range(runs)]

    try:
        # The canvas fixture first, so the side-by-side runs do not all race to create it.
        await runner.run(journeys[0], target, Trigger.CI, retries=0)
        return list(await asyncio.gather(*(repeat(j) for j in journeys)))
    finally:
        await browser.close()


def leftovers(url: str, password: str) -> list[str]:
    token = httpx.post(
        f"{url}/api/auth/login", json={"username": "prober", "password": password}
    ).json()["token"]
    listed = httpx.get(
        f"{url}/api/workflows",
        params={"name_prefix": "prober-"},
        headers={"authorization": f"Bearer {token}"},
    ).json()["workflows"]
    return sorted(w["name"] for w in listed if w["name"] != "prober-fixture-canvas")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="runs of each journey")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    report = load_packs(["journeys/workflows"], base=ROOT)
    if report.problems:
        print("\n".join(str(p) for p in report.problems), file=sys.stderr)
        return 2
    journeys = sorted(report.journeys, key=lambda j: j.name != "workflow_canvas_load")
    password = secrets.token_urlsafe(12)
    began = time.monotonic()
    with sandbox(Path(tempfile.mkdtemp(prefix="bench-soak-")), password) as url:
        target = Target(
            name="sandbox",
            base_url=url,
            username="prober",
            password=Secret(password),
            auth=AuthSpec(kind="login"),
            services=ServiceMap.from_mapping(ROUTES),
        )
        batches = asyncio.run(soak(journeys, target, args.runs))
        left = leftovers(url, password)
    wall = time.monotonic() - began
    rows: list[dict[str, Any]] = []
    for batch in batches:
        failed = [r for r in batch if r.status is not Status.SUCCESS]
        rows.append(
            {
                "journey": batch[0].journey,
                "runs": len(batch),
                "failed": len(failed),
                "flake_rate": len(failed) / len(batch),
                "median_s": statistics.median(r.duration_s for r in batch),
                "max_s": max(r.duration_s for r in batch),
                "failures": [
                    f"{r.error_type} in {r.failed_step!r}: {r.failure.message[:120]}"
                    for r in failed
                    if r.failure is not None
                ],
            }
        )
    total = sum(r["runs"] for r in rows)
    failed_total = sum(r["failed"] for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "leftovers": left, "wall_s": wall}, indent=1))
    else:
        print(f"### Healthy soak: {args.runs} runs of each journey, side by side, no retries\n")
        print("| journey | runs | failed | median s | max s |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(
                f"| {row['journey']} | {row['runs']} | {row['failed']} | "
                f"{row['median_s']:.2f} | {row['max_s']:.2f} |"
            )
        print(
            f"\nFlake rate: {failed_total}/{total} ({failed_total / total:.1%}) in {wall:.0f} s; "
            f"test data left behind: {left or 'none'}."
        )
        for row in rows:
            for failure in row["failures"]:
                print(f"- {row['journey']}: {failure}")
    return 1 if failed_total or left else 0


if __name__ == "__main__":
    sys.exit(main())
