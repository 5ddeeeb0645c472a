"""The benchmarks in smoke mode: `scripts/bench --smoke` runs every sub-benchmark for a few
seconds and writes the JSON and the report that docs/performance.md is made of.

Figures are not asserted here (they belong to the benchmark runs); completion and the shape of
the output are, so a benchmark cannot rot unnoticed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JOURNEYS = {
    "workflow_canvas_load",
    "workflow_crud_api",
    "workflow_crud_browser",
    "workflow_run_api",
    "workflow_run_browser",
}


def _is_summary(value: Any) -> bool:
    return isinstance(value, dict) and value.get("n", 0) >= 1 and value["min"] <= value["max"]


@pytest.mark.browser
def test_every_sub_benchmark_runs_in_smoke_mode_and_reports(tmp_path: Path) -> None:
    raw, doc = tmp_path / "bench.json", tmp_path / "performance.md"
    done = subprocess.run(
        [sys.executable, "scripts/bench", "--smoke", "--json", str(raw), "--doc", str(doc)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(raw.read_text())
    results = report["results"]
    assert set(results) == {
        "side_by_side", "costs", "api", "fidelity", "startup", "throughput", "detection",
        "schedule", "soak",
    }  # fmt: skip
    assert {"machine", "python", "playwright", "chromium", "command"} <= set(report["meta"])

    sbs = results["side_by_side"]
    for who in ("prober", "raw"):
        assert _is_summary(sbs["per_journey"][who]["wall_s"])
        assert _is_summary(sbs["per_journey"][who]["cpu_s"])
        assert _is_summary(sbs["marks"][who]["step_minus_page_ms"])
    assert _is_summary(sbs["ratio"]["cpu_s"]) and sbs["cpu_counted_by"]
    assert all(_is_summary(results["api"]["ratio"][k]) for k in ("wall_s", "cpu_s"))
    costs = results["costs"]
    assert set(costs["route"]) == {"none", "in-page", "per-origin"}
    assert all(_is_summary(costs["trace_extra"][lv]["cpu_s"]) for lv in ("light", "full"))
    fidelity = results["fidelity"]
    assert fidelity["levels"][0] == 0 and len(fidelity["levels"]) >= 2
    assert _is_summary(fidelity["pairs"]["0"]["diff"])
    assert all(_is_summary(results["startup"]["wall_s"][k]) for k in ("prober", "raw", "help"))
    for channel in ("browser", "api"):
        assert results["throughput"][channel]["rows"][0]["runs"] >= 1
    assert results["detection"]["trials"] == len(results["detection"]["samples"]) >= 1
    assert {r["journey"] for r in results["schedule"]["rows"]} == JOURNEYS
    soak = results["soak"]
    assert {r["journey"] for r in soak["journeys"]} == JOURNEYS
    assert all(r["failed"] == 0 for r in soak["journeys"]), soak["journeys"]
    assert soak["leftovers"] == [] and soak["memory"][0]["browser_mib"] > 0

    text = doc.read_text()
    for title in ("Side by side", "API journey", "Timing fidelity", "Start-up", "Throughput",
                  "Detection time", "schedule accuracy", "Memory and soak"):  # fmt: skip
        assert f"### {title}" in text or title in text, title
