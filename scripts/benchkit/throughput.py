"""Throughput: journeys per minute with 1, 2, 3... concurrent lanes in one prober process, and
whether step timings stay within 10% of the unloaded (one lane) figure."""

from __future__ import annotations

from typing import Any

from common import Bench, fmt, summary, worker
from reference import Platform

WITHIN = 1.10


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    plans = {
        "browser": bench.pick([1], [1, 2], [1, 2, 3, 4]),
        "api": bench.pick([1], [1, 4], [1, 2, 4, 8]),
    }
    seconds = bench.pick(2, 3, 30)
    out: dict[str, Any] = {"seconds": seconds}
    for channel, lanes in plans.items():
        rows = []
        for n in lanes:
            got, _ = worker(
                bench,
                f"prober-{channel}",
                plat.url,
                plat.password,
                f"tp-{channel}-{n}",
                "--seconds",
                str(seconds),
                "--concurrency",
                str(n),
                "--warmup",
                "1",
            )
            window = got["runs"][0]
            runs = window["lanes"]
            stepped = [sum(r["steps"].values()) for r in runs]
            rows.append(
                {
                    "lanes": n,
                    "runs": len(runs),
                    "per_min": 60 * len(runs) / window["window_s"],
                    "cpu_util": window["window_cpu_s"] / window["window_s"],
                    "steps_s": summary(stepped),
                }
            )
        unloaded = rows[0]["steps_s"].get("median") or 0
        for row in rows:
            row["vs_unloaded"] = (row["steps_s"].get("median") or 0) / unloaded if unloaded else 0
        ok = [r for r in rows if r["vs_unloaded"] <= WITHIN]
        out[channel] = {
            "rows": rows,
            "sustained_per_min": max((r["per_min"] for r in ok), default=0),
        }
    return out


def markdown(res: dict[str, Any]) -> list[str]:
    lines = [
        f"Concurrent lanes in one prober process for {res['seconds']:g} s each (browser: the "
        "canvas journey; API: workflow_crud_api). `steps` is the sum of a run's step durations.",
        "",
        "| channel | lanes | runs/min | CPU cores busy | steps s | vs one lane |",
        "|---|---|---|---|---|---|",
    ]
    for channel in ("browser", "api"):
        for row in res[channel]["rows"]:
            lines.append(
                f"| {channel} | {row['lanes']} | {row['per_min']:.0f} | "
                f"{row['cpu_util']:.2f} | {fmt(row['steps_s'], 1, 3)} | "
                f"{row['vs_unloaded']:.2f}x |"
            )
    lines += [
        "",
        "Highest rate with step timings within 10% of one lane: "
        f"browser {res['browser']['sustained_per_min']:.0f}/min, "
        f"API {res['api']['sustained_per_min']:.0f}/min.",
    ]
    return lines
