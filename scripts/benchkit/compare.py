"""Before and after: the headline figures of two `scripts/bench --json` files side by side
(`scripts/bench --before OLD.json`), for the closing note of docs/performance.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Getter = Callable[[dict[str, Any]], float]


def _med(*path: str) -> Getter:
    def get(results: dict[str, Any]) -> float:
        node: Any = results
        for key in path:
            node = node[key]
        return float(node["median"])

    return get


ROWS: list[tuple[str, str, Getter, float, str]] = [
    # (label, sub-benchmark, getter, scale, unit)
    ("canvas journey wall, prober / raw Playwright (paired)", "side_by_side",
     _med("ratio", "wall_s"), 1, "x"),
    ("canvas journey CPU, prober / raw Playwright (paired)", "side_by_side",
     _med("ratio", "cpu_s"), 1, "x"),
    ("canvas journey wall, prober", "side_by_side", _med("per_journey", "prober", "wall_s"),
     1000, " ms"),
    ("canvas journey CPU (whole tree), prober", "side_by_side",
     _med("per_journey", "prober", "cpu_s"), 1000, " ms"),
    ("`open canvas` minus the page's own API answer time, prober", "side_by_side",
     _med("marks", "prober", "step_minus_page_ms"), 1, " ms"),
    ("same, raw Playwright", "side_by_side", _med("marks", "raw", "step_minus_page_ms"), 1,
     " ms"),
    ("canvas API call TTFB in the page, prober", "side_by_side",
     _med("marks", "prober", "api_ttfb_ms"), 1, " ms"),
    ("API journey wall, prober / raw httpx (paired)", "api", _med("ratio", "wall_s"), 1, "x"),
    ("API journey CPU, prober / raw httpx (paired)", "api", _med("ratio", "cpu_s"), 1, "x"),
    ("API journey wall, prober", "api", _med("per_journey", "prober", "wall_s"), 1000, " ms"),
    ("`prober run` of one journey minus the raw script (paired)", "startup",
     _med("prober_minus_raw_s"), 1, " s"),
    ("`prober run --help`", "startup", _med("wall_s", "help"), 1, " s"),
]  # fmt: skip


def markdown(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    b, a = before["results"], after["results"]
    lines = [
        f"Before: commit {before['meta']['commit']} ({before['meta']['date']}, "
        f"`{before['meta']['command']}`); after: this run. Medians.",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    for label, sub, get, scale, unit in ROWS:
        if sub not in b or sub not in a:
            continue
        digits = 2 if unit in ("x", " s") else 1
        lines.append(f"| {label} | {get(b[sub]) * scale:.{digits}f}{unit} | "
                     f"{get(a[sub]) * scale:.{digits}f}{unit} |")  # fmt: skip
    return lines
