"""The benchmarks in smoke mode: they still run and print what docs/performance.md quotes.

Figures are not asserted here (they belong to the benchmark runs); completion and the shape of
the output are, so a benchmark cannot rot unnoticed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.browser
def test_the_soak_benchmark_runs_each_journey_and_reports_flakes() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench_soak.py", "--runs", "1", "--json"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    rows = {row["journey"]: row for row in report["rows"]}
    assert set(rows) == {
        "workflow_canvas_load",
        "workflow_crud_api",
        "workflow_crud_browser",
        "workflow_run_api",
        "workflow_run_browser",
    }
    assert all(row["runs"] == 1 and row["failed"] == 0 for row in rows.values())
    assert report["leftovers"] == []
