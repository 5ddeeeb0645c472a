"""Side by side, interleaved: the prober's canvas journey against raw Playwright (and Elastic
Synthetics when it runs here), wall and whole-tree CPU per journey as paired ratios."""

from __future__ import annotations

import statistics
from typing import Any

import elastic_synthetics
from common import Bench, fmt, summary, worker
from reference import Platform


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    rounds = bench.pick(1, 2, 7)
    per_worker = ["--runs", str(bench.pick(1, 2, 5)), "--warmup", str(bench.pick(0, 1, 1))]
    data: dict[str, list[dict[str, Any]]] = {"prober": [], "raw": []}
    counted = set()
    # Elastic Synthetics joins the rounds where npm can install it (not in smoke mode), after
    # the prober's warm-up has made the fixture.
    cli, elastic_status = (None, "not run in smoke mode")
    if bench.mode != "smoke":
        cli, elastic_status = elastic_synthetics.available()
    elastic: list[dict[str, Any]] = []
    for r in range(rounds):
        order = ["prober", "raw"] if r % 2 == 0 else ["raw", "prober"]
        for who in order:
            got, kind = worker(
                bench, f"{who}-browser", plat.url, plat.password, f"sbs-{who}-{r}", *per_worker
            )
            counted.add(kind)
            data[who].append(got)
        if cli is not None:
            elastic.append(elastic_synthetics.measure(
                bench, plat, cli, bench.pick(1, 2, 5), f"sbs-elastic-{r}"))  # fmt: skip
    rows = {who: _per_round(data[who]) for who in data}
    ratios = {
        key: [p / q for p, q in zip(rows["prober"][key], rows["raw"][key], strict=True)]
        for key in ("wall_s", "cpu_s")
    }
    steps = {
        who: {
            name: summary([r["steps"][name] for w in data[who] for r in w["runs"]])
            for name in ("ensure fixture", "sign in", "open canvas")
        }
        for who in data
    }
    marks = {who: _marks(data[who]) for who in data}
    if elastic:
        e_ratio = {k: [p / e[k] for p, e in zip(rows["prober"][k], elastic, strict=True)]
                   for k in ("wall_s", "cpu_s")}  # fmt: skip
        e_steps = {n: summary([v for e in elastic for v in e["steps"].get(n, [])])
                   for n in ("ensure fixture", "sign in", "open canvas")}  # fmt: skip
        result_elastic: dict[str, Any] = {
            "status": elastic_status,
            "per_journey": {k: summary([e[k] for e in elastic]) for k in ("wall_s", "cpu_s")},
            "prober_ratio": {k: summary(v) for k, v in e_ratio.items()},
            "steps": e_steps,
            "raw": elastic,
        }
    else:
        result_elastic = {"status": elastic_status}
    return {
        "elastic": result_elastic,
        "rounds": rounds,
        "cpu_counted_by": sorted(counted),
        "per_journey": {who: {k: summary(v) for k, v in rows[who].items()} for who in rows},
        "ratio": {k: summary(v) for k, v in ratios.items()},
        "steps": steps,
        "marks": marks,
        "raw": data,
    }


def _per_round(workers: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each round's mean per journey (the runs of one worker are one paired sample)."""
    return {
        key: [statistics.fmean(r[key] for r in w["runs"]) for w in workers]
        for key in ("wall_s", "cpu_s")
    }


def _marks(workers: list[dict[str, Any]]) -> dict[str, Any]:
    runs = [r for w in workers for r in w["runs"]]
    overhead = [r["steps"]["open canvas"] * 1000 - r["marks"]["api_end_ms"] for r in runs]
    return {
        "nav_ttfb_ms": summary([r["marks"]["nav_ttfb_ms"] for r in runs]),
        "api_ttfb_ms": summary([r["marks"]["api_ttfb_ms"] for r in runs]),
        # "open canvas" as reported, less the page's own time to its API answer.
        "step_minus_page_ms": summary(overhead),
    }


def markdown(res: dict[str, Any]) -> list[str]:
    pj, ratio = res["per_journey"], res["ratio"]
    lines = [
        f"{res['rounds']} rounds, prober and raw Playwright alternating first; CPU counted by "
        f"{', '.join(res['cpu_counted_by'])} (the worker and all of Chromium's processes). "
        f"Elastic Synthetics: {res.get('elastic', {}).get('status', 'not run')}; its figures are "
        "marginal per journey (a run of 1 + N journeys minus a run of 1, screenshots and "
        "throttling off), its steps as it reports them.",
        "",
        "| per canvas journey | prober | raw Playwright | paired ratio |",
        "|---|---|---|---|",
        f"| wall ms | {fmt(pj['prober']['wall_s'], 1000, 0)} | {fmt(pj['raw']['wall_s'], 1000, 0)} "
        f"| {fmt(ratio['wall_s'])} |",
        f"| CPU ms | {fmt(pj['prober']['cpu_s'], 1000, 0)} | {fmt(pj['raw']['cpu_s'], 1000, 0)} "
        f"| {fmt(ratio['cpu_s'])} |",
    ]
    for name in ("ensure fixture", "sign in", "open canvas"):
        lines.append(
            f"| step `{name}` ms | {fmt(res['steps']['prober'][name], 1000, 0)} | "
            f"{fmt(res['steps']['raw'][name], 1000, 0)} | |"
        )
    el = res.get("elastic", {})
    if "per_journey" in el:
        lines += [
            f"| Elastic Synthetics: wall ms | | | {fmt(el['per_journey']['wall_s'], 1000, 0)}; "
            f"prober / Elastic {fmt(el['prober_ratio']['wall_s'])} |",
            f"| Elastic Synthetics: CPU ms | | | {fmt(el['per_journey']['cpu_s'], 1000, 0)}; "
            f"prober / Elastic {fmt(el['prober_ratio']['cpu_s'])} |",
        ]
        for name, s in el["steps"].items():
            lines.append(f"| Elastic Synthetics: step `{name}` ms | | | {fmt(s, 1000, 0)} |")
    mp, mr = res["marks"]["prober"], res["marks"]["raw"]
    lines += [
        f"| page: document TTFB ms | {fmt(mp['nav_ttfb_ms'], 1, 1)} | "
        f"{fmt(mr['nav_ttfb_ms'], 1, 1)} | |",
        f"| page: canvas API TTFB ms | {fmt(mp['api_ttfb_ms'], 1, 1)} | "
        f"{fmt(mr['api_ttfb_ms'], 1, 1)} | |",
        f"| `open canvas` minus the page's own time to its API answer, ms | "
        f"{fmt(mp['step_minus_page_ms'], 1, 0)} | {fmt(mr['step_minus_page_ms'], 1, 0)} | |",
    ]
    return lines
