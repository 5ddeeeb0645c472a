"""Memory and soak: the five CUJs side by side on a healthy platform (as serve runs them),
without retries; resident memory of the prober and of Chromium after 50 (and, in the full mode,
1,000) runs; every failed run is a flake; no `prober-` test data may be left behind."""

from __future__ import annotations

from typing import Any

from common import Bench, worker
from reference import Platform


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    checkpoints = bench.pick([5], [50], [50, 1000])
    got, _ = worker(
        bench,
        "soak",
        plat.url,
        plat.password,
        "soak",
        "--runs",
        str(max(checkpoints)),
        "--checkpoints",
        ",".join(map(str, checkpoints)),
        timeout=3600,
    )
    return got["runs"][0]


def markdown(res: dict[str, Any]) -> list[str]:
    lines = [
        "| after runs | prober RSS MiB | Chromium + driver RSS MiB |",
        "|---|---|---|",
    ]
    for point in res["memory"]:
        lines.append(
            f"| {point['runs']} | {point['prober_mib']:.1f} | {point['browser_mib']:.1f} |"
        )
    mem = res["memory"]
    if len(mem) > 1:
        grow = lambda k: 100 * (mem[-1][k] / mem[0][k] - 1)  # noqa: E731
        lines += [
            "",
            f"Growth from {mem[0]['runs']} to {mem[-1]['runs']} runs: prober "
            f"{grow('prober_mib'):+.1f}%, Chromium {grow('browser_mib'):+.1f}%.",
        ]
    total = sum(r["runs"] for r in res["journeys"])
    failed = sum(r["failed"] for r in res["journeys"])
    lines += ["", "| journey | runs | failed | median s | max s |", "|---|---|---|---|---|"]
    for row in res["journeys"]:
        lines.append(
            f"| {row['journey']} | {row['runs']} | {row['failed']} | "
            f"{row['median_s']:.2f} | {row['max_s']:.2f} |"
        )
    lines += [
        "",
        f"Flake rate: {failed}/{total}; test data left behind: {res['leftovers'] or 'none'}.",
    ]
    for row in res["journeys"]:
        lines += [f"- {row['journey']}: {f}" for f in row["failures"]]
    return lines
