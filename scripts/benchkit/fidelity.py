"""Timing fidelity: the prober's `open canvas` step against raw Playwright's and against a
latency injected on the canvas's API call (the sandbox's fault API), 0/100/500/2000 ms; and the
page's own timing of that call in the prober's browser session against a raw context's, paired
in one process (worker.py page-pairs), where load from other work cannot tell them apart."""

from __future__ import annotations

from typing import Any

from common import Bench, fmt, summary, worker
from reference import Platform


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    levels = bench.pick([0, 100], [0, 500], [0, 100, 500, 2000])
    # At least three runs a level outside smoke mode: the page's own run-to-run noise is a figure.
    per_worker = ["--runs", str(bench.pick(1, 3, 5)), "--warmup", str(bench.pick(0, 1, 1))]
    table: dict[str, dict[int, dict[str, Any]]] = {"prober": {}, "raw": {}}
    raw_runs: dict[str, dict[int, Any]] = {"prober": {}, "raw": {}}
    pairs: dict[int, dict[str, Any]] = {}
    for i, delay in enumerate(levels):
        if delay:
            plat.fault(
                {
                    "service": "workflow-service",
                    "mode": "latency",
                    "delay_ms": delay,
                    "path": "/api/workflows/*",
                }
            )
        try:
            for who in ["prober", "raw"] if i % 2 == 0 else ["raw", "prober"]:
                got, _ = worker(
                    bench,
                    f"{who}-browser",
                    plat.url,
                    plat.password,
                    f"fid-{who}-{delay}",
                    *per_worker,
                )
                raw_runs[who][delay] = got
                runs = got["runs"]
                table[who][delay] = {
                    "open_canvas_s": summary([r["steps"]["open canvas"] for r in runs]),
                    "page_api_end_ms": summary([r["marks"]["api_end_ms"] for r in runs]),
                }
                if who == "prober":
                    table[who][delay]["reported_api_end_ms"] = summary(
                        [r["reported"]["api_end_ms"] for r in runs
                         if r["reported"]["api_end_ms"] is not None]
                    )  # fmt: skip
            if bench.mode == "smoke" and i > 0:
                continue  # smoke mode proves it runs: one level is enough
            got, _ = worker(bench, "page-pairs", plat.url, plat.password, f"fid-pairs-{delay}",
                            "--runs", str(bench.pick(1, 8, 20)),
                            "--warmup", str(bench.pick(0, 1, 1)))  # fmt: skip
            rows = got["runs"]
            pairs[delay] = {
                "prober": summary([r["prober_ms"] for r in rows]),
                "raw": summary([r["raw_ms"] for r in rows]),
                "diff": summary([r["prober_ms"] - r["raw_ms"] for r in rows]),
            }
            raw_runs.setdefault("pairs", {})[delay] = rows
        finally:
            if delay:
                plat.fault(None)
    return {"levels": levels, "table": table, "pairs": pairs, "raw": raw_runs}


def markdown(res: dict[str, Any]) -> list[str]:
    t = res["table"]
    base = {who: t[who][0]["open_canvas_s"]["median"] for who in t}
    lines = [
        "Latency added to `GET /api/workflows/{id}` (the canvas's one API call). `page` is the "
        "page's own resource timing: its API answer's end, in ms after the navigation began.",
        "",
        "| injected ms | prober `open canvas` ms | raw `open canvas` ms | prober minus raw ms | "
        "prober added ms | page: API answer ends at ms |",
        "|---|---|---|---|---|---|",
    ]
    for delay in res["levels"]:
        p, r = t["prober"][delay], t["raw"][delay]
        pm, rm = p["open_canvas_s"]["median"], r["open_canvas_s"]["median"]
        lines.append(
            f"| {delay} | {fmt(p['open_canvas_s'], 1000, 0)} | {fmt(r['open_canvas_s'], 1000, 0)} "
            f"| {1000 * (pm - rm):+.0f} | {1000 * (pm - base['prober']):+.0f} "
            f"| {fmt(p['page_api_end_ms'], 1, 0)} |"
        )
    lines += [
        "",
        "**Page timings side by side**: the canvas's API answer end (ms after the navigation "
        "began) as the prober reports it (`StepResult.page`, its latency SLI "
        "`request:open canvas:/api/workflows/*`) and as the page reports it to the raw "
        "Playwright loop (`performance.getEntriesByType('resource')`). Noise is the raw loop's "
        "own run-to-run spread at that level (interquartile range from 4 runs, else max - min).",
        "",
        "| injected ms | prober reports ms | raw loop's page ms | difference of medians ms | "
        "raw page noise ms | within noise |",
        "|---|---|---|---|---|---|",
    ]
    for delay in res["levels"]:
        p, r = t["prober"][delay], t["raw"][delay]
        reported, page = p.get("reported_api_end_ms", {"n": 0}), r["page_api_end_ms"]
        if not reported.get("n") or not page.get("n"):
            lines.append(f"| {delay} | - | - | - | - | - |")
            continue
        diff = reported["median"] - page["median"]
        noise = noise_ms(page)
        lines.append(
            f"| {delay} | {fmt(reported, 1, 1)} | {fmt(page, 1, 1)} | {diff:+.1f} | {noise:.1f} "
            f"| {'yes' if abs(diff) <= noise else 'no'} |"
        )
    pairs = res.get("pairs")
    if not pairs:
        return lines
    n = next(iter(pairs.values()))["diff"].get("n", 0)
    lines += [
        "",
        "**Paired in one process** (`worker.py page-pairs`): the same API answer end in the "
        "prober's browser session (`BrowserDriver.session`: its init scripts, listeners and "
        f"trace headers) and in a raw Playwright context, alternating on one Chromium, {n} "
        "pairs a level, each after the list page as in the journey. The difference is the "
        "median of the per-pair differences; noise is the raw page's own interquartile range "
        "(max - min under 4 pairs).",
        "",
        "| injected ms | prober's page ms | raw page ms | paired difference ms | "
        "raw page noise ms | within noise |",
        "|---|---|---|---|---|---|",
    ]
    for delay in res["levels"]:
        got = pairs.get(delay) or pairs.get(str(delay))
        if not got or not got["diff"].get("n"):
            lines.append(f"| {delay} | - | - | - | - | - |")
            continue
        diff, noise = got["diff"]["median"], noise_ms(got["raw"])
        lines.append(
            f"| {delay} | {fmt(got['prober'], 1, 1)} | {fmt(got['raw'], 1, 1)} | {diff:+.1f} "
            f"| {noise:.1f} | {'yes' if abs(diff) <= noise else 'no'} |"
        )
    return lines


def noise_ms(s: dict[str, float]) -> float:
    """A summary's run-to-run spread: its interquartile range, or max - min with fewer runs."""
    if "q1" in s:
        return s["q3"] - s["q1"]
    return s["max"] - s["min"]
