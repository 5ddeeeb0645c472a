"""What the prober's own features cost: trace headers per request (none, added in the page as
now, the route per target origin of before), and Playwright tracing per canvas journey (off,
light, full), interleaved."""

from __future__ import annotations

import statistics
from typing import Any

from common import Bench, fmt, summary, worker
from reference import Platform

LEVELS = ("off", "light", "full")


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    fetches, rounds_ = str(bench.pick(10, 20, 100)), str(bench.pick(1, 2, 7))
    got, _ = worker(bench, "route-cost", plat.url, plat.password, "route-cost",
                    "--runs", fetches, "--warmup", rounds_)  # fmt: skip
    rows = got["runs"]
    route = {
        v: {k: summary([r[k] for r in rows if r["variant"] == v])
            for k in ("target_ms", "other_ms")}
        for v in ("none", "in-page", "per-origin")
    }  # fmt: skip
    rounds = bench.pick(1, 1, 5)
    per_worker = ["--runs", str(bench.pick(1, 1, 4)), "--warmup", str(bench.pick(0, 1, 1))]
    trace: dict[str, list[dict[str, float]]] = {lv: [] for lv in LEVELS}
    for r in range(rounds):
        order = LEVELS if r % 2 == 0 else tuple(reversed(LEVELS))
        for level in order:
            out, _ = worker(bench, "prober-browser", plat.url, plat.password,
                            f"trace-{level}-{r}", "--trace", level, *per_worker)  # fmt: skip
            trace[level].append({k: statistics.fmean(x[k] for x in out["runs"])
                                 for k in ("wall_s", "cpu_s")})  # fmt: skip
    extra = {
        level: {k: summary([t[k] - o[k] for t, o in zip(trace[level], trace["off"], strict=True)])
                for k in ("wall_s", "cpu_s")}
        for level in LEVELS[1:]
    }  # fmt: skip
    return {"route": route, "route_raw": rows, "trace_rounds": rounds, "trace": trace,
            "trace_extra": extra}  # fmt: skip


def markdown(res: dict[str, Any]) -> list[str]:
    rt = res["route"]
    lines = [
        "Sequential `fetch()` of a small static file from the page, ms per request (the "
        "`other` origin is the same server as `localhost`, which the target does not own):",
        "",
        "| trace headers | to the target, ms | to another origin, ms |",
        "|---|---|---|",
    ]
    names = {"none": "no trace headers", "in-page": "added in the page (now)",
             "per-origin": "a route per target origin (before)"}  # fmt: skip
    for key, label in names.items():
        lines.append(f"| {label} | {fmt(rt[key]['target_ms'], 1, 2)} | "
                     f"{fmt(rt[key]['other_ms'], 1, 2)} |")  # fmt: skip
    ex = res["trace_extra"]
    lines += [
        "",
        f"Playwright tracing, added per canvas journey over tracing off ({res['trace_rounds']} "
        "paired rounds; CPU of the whole process tree):",
        "",
        "| tracing | extra wall ms | extra CPU ms |",
        "|---|---|---|",
    ]
    for level in ("light", "full"):
        lines.append(f"| {level} | {fmt(ex[level]['wall_s'], 1000, 0)} | "
                     f"{fmt(ex[level]['cpu_s'], 1000, 0)} |")  # fmt: skip
    return lines
