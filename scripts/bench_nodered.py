#!/usr/bin/env python3
"""Soak journeys/nodered on a real Node-RED 4.1.8: each journey --runs times in a row alone, then
--runs rounds of all four side by side through one Runner, without retries. The rounds ignore the
pack's exclusive group (only the App enforces it): harsher than `prober smoke`.

Starts Node-RED with scripts/nodered (installing it when needed) on loopback, reads the target
from examples/nodered.yaml, counts every run that did not succeed (on a healthy Node-RED each
is a flake of the pack or of the prober), gives p50/max durations, and checks that no `prober-`
flow but the canvas fixture is left. Prints Markdown (--json for the raw numbers); exits 1 when
any run failed or a flow was left behind.

    .venv/bin/python scripts/bench_nodered.py --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.config import load_config  # noqa: E402
from prober.drivers.browser import BrowserDriver  # noqa: E402
from prober.journey import Journey  # noqa: E402
from prober.loader import load_packs  # noqa: E402
from prober.result import JourneyResult, Status  # noqa: E402
from prober.runner import Runner  # noqa: E402
from prober.target import Target  # noqa: E402
from scripts.nodered import USERNAME, NodeRed, start  # noqa: E402


async def soak(journeys: list[Journey], target: Target, runs: int) -> dict[str, Any]:
    browser = BrowserDriver()
    runner = Runner(browser=browser)
    alone: dict[str, list[JourneyResult]] = {j.name: [] for j in journeys}
    together: dict[str, list[JourneyResult]] = {j.name: [] for j in journeys}
    try:
        for journey in journeys:
            for _ in range(runs):
                alone[journey.name].append(await runner.run(journey, target, retries=0))
        for _ in range(runs):
            round_ = await asyncio.gather(*(runner.run(j, target, retries=0) for j in journeys))
            for result in round_:
                together[result.journey].append(result)
    finally:
        await browser.close()
    return {"alone": alone, "together": together}


def row(mode: str, name: str, results: list[JourneyResult]) -> dict[str, Any]:
    durations = [r.duration_s for r in results]
    failed = [r for r in results if r.status is not Status.SUCCESS]
    return {
        "mode": mode,
        "journey": name,
        "runs": len(results),
        "failed": len(failed),
        "failures": [f"{r.error_type} {r.failed_step} {r.failed_service}" for r in failed],
        "p50_s": round(statistics.median(durations), 2),
        "max_s": round(max(durations), 2),
    }


def leftovers(server: NodeRed, password: str) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        token = client.post("/auth/token", json={
            "client_id": "node-red-admin", "grant_type": "password", "scope": "*",
            "username": USERNAME, "password": password}).json()["access_token"]  # fmt: skip
        flows = client.get(
            "/flows",
            headers={"Node-RED-API-Version": "v2", "authorization": f"Bearer {token}"},
        ).json()["flows"]
    return sorted(
        n["label"] for n in flows if n["type"] == "tab" and n["label"] != "prober-fixture"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    password = secrets.token_urlsafe(16)
    server = start(password)
    try:
        env = {"NODERED_URL": server.url, "NODERED_PASSWORD": password}
        with tempfile.TemporaryDirectory() as work:
            env.update(PROBER_STORE__PATH=f"{work}/r.db", PROBER_ARTIFACTS__PATH=f"{work}/a")
            target = load_config(ROOT / "examples" / "nodered.yaml", env).targets()["nodered"]
        report = load_packs(["journeys/nodered"], base=ROOT)
        journeys = sorted(report.by_name().values(), key=lambda j: j.name)
        results = asyncio.run(soak(journeys, target, args.runs))
        rows = [row(mode, name, rs) for mode, by in results.items() for name, rs in by.items()]
        left = leftovers(server, password)
    finally:
        server.stop(remove=True)
    summary = {"runs": args.runs, "startup_s": round(server.startup_s, 2), "rows": rows,
               "leftovers": left}  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"Node-RED 4.1.8 started in {summary['startup_s']} s; {args.runs} runs each\n")
        print("| mode | journey | runs | failed | p50 s | max s |\n|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['mode']} | {r['journey']} | {r['runs']} | {r['failed']} | "
                  f"{r['p50_s']} | {r['max_s']} |")  # fmt: skip
        for r in rows:
            for failure in r["failures"]:
                print(f"- {r['mode']} {r['journey']}: {failure}")
        print(f"\nleft behind: {left or 'nothing'}")
    return 1 if left or any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
