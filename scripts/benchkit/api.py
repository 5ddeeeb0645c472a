"""The prober's API journey (workflow_crud_api) against a raw httpx loop making the same eight
requests from one shared client, interleaved; wall and CPU per journey as paired ratios."""

from __future__ import annotations

import statistics
from typing import Any

from common import Bench, fmt, summary, worker
from reference import Platform


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    rounds = bench.pick(1, 2, 7)
    per_worker = ["--runs", str(bench.pick(2, 5, 20)), "--warmup", "2"]
    data: dict[str, list[dict[str, Any]]] = {"prober": [], "raw": []}
    for r in range(rounds):
        for who in ["prober", "raw"] if r % 2 == 0 else ["raw", "prober"]:
            got, _ = worker(
                bench, f"{who}-api", plat.url, plat.password, f"api-{who}-{r}", *per_worker
            )
            data[who].append(got)
    means = {
        who: {
            k: [statistics.fmean(x[k] for x in w["runs"]) for w in data[who]]
            for k in ("wall_s", "cpu_s")
        }
        for who in data
    }
    ratio = {
        k: summary([p / q for p, q in zip(means["prober"][k], means["raw"][k], strict=True)])
        for k in ("wall_s", "cpu_s")
    }
    return {
        "rounds": rounds,
        "per_journey": {who: {k: summary(v) for k, v in means[who].items()} for who in means},
        "ratio": ratio,
        "raw": data,
    }


def markdown(res: dict[str, Any]) -> list[str]:
    pj, ratio = res["per_journey"], res["ratio"]
    return [
        f"{res['rounds']} rounds, alternating; 8 requests per journey (login, list, create, "
        "save, read, delete, read 404, list); CPU is the Python process's (the platform's is not "
        "counted).",
        "",
        "| per API journey | prober | raw httpx loop | paired ratio |",
        "|---|---|---|---|",
        f"| wall ms | {fmt(pj['prober']['wall_s'], 1000, 1)} | {fmt(pj['raw']['wall_s'], 1000, 1)} "
        f"| {fmt(ratio['wall_s'])} |",
        f"| CPU ms | {fmt(pj['prober']['cpu_s'], 1000, 1)} | {fmt(pj['raw']['cpu_s'], 1000, 1)} "
        f"| {fmt(ratio['cpu_s'])} |",
    ]
