"""Elastic Synthetics (`@elastic/synthetics` from npm) on the same journey and the same
Chromium: installed with npm into a cache folder on first use (no browser download), run with
screenshots and throttling off. Its runs are whole node processes, so a journey's marginal cost
is taken from two runs in one cgroup each: one journey, and one plus N."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from common import HERE, Bench
from proctree import Group, spawn
from reference import Platform

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cuj-prober-bench"
PACKAGE = "@elastic/synthetics"
_STEP = re.compile(r"Step: '([^']+)' succeeded \((\d+) ms\)")


def available() -> tuple[Path | None, str]:
    """The CLI, installing it when npm is there; else None and why not."""
    cli = CACHE / "elastic" / "node_modules" / ".bin" / "elastic-synthetics"
    if cli.exists():
        return cli, "installed"
    if shutil.which("npm") is None:
        return None, "npm is not installed on this machine"
    (CACHE / "elastic").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE / "elastic"), PACKAGE],
        env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0 or not cli.exists():
        return None, f"npm install {PACKAGE} failed: {(done.stderr or done.stdout)[-300:]}"
    return cli, "installed now"


def measure(bench: Bench, plat: Platform, cli: Path, extra: int, tag: str) -> dict[str, Any]:
    """Wall and whole-tree CPU per journey: (run of 1 + extra) minus (run of 1), over extra."""
    one = _run(bench, plat, cli, 1, f"{tag}-1")
    many = _run(bench, plat, cli, 1 + extra, f"{tag}-n")
    return {
        "wall_s": (many["wall_s"] - one["wall_s"]) / extra,
        "cpu_s": (many["cpu_s"] - one["cpu_s"]) / extra,
        "steps": many["steps"],
    }


def _run(bench: Bench, plat: Platform, cli: Path, journeys: int, tag: str) -> dict[str, Any]:
    params = json.dumps({"url": plat.url, "password": plat.password})
    flags = ["--disable-gpu"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    chromium = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
    options = json.dumps({"executablePath": chromium, "args": flags})
    # Elastic wants to run in an npm project, and the journey must resolve the package there.
    project = CACHE / "elastic"
    (project / "journeys").mkdir(exist_ok=True)
    shutil.copy(HERE / "elastic" / "canvas.journey.js", project / "journeys")
    group = Group(tag)
    try:
        began = time.monotonic()
        cpu0 = group.cpu_s()
        proc = spawn(group, [str(cli), "journeys", "--params", params,
                             "--playwright-options", options, "--no-throttling",
                             "--screenshots", "off"],
                     env={**os.environ, "BENCH_JOURNEYS": str(journeys)}, cwd=project,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        out, _ = proc.communicate(timeout=300)
        wall = time.monotonic() - began
        cpu = group.cpu_s() - cpu0
    finally:
        group.close()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"elastic-synthetics exited {proc.returncode}: {text[-1500:]}")
    steps: dict[str, list[float]] = {}
    for name, ms in _STEP.findall(text):
        steps.setdefault(name, []).append(int(ms) / 1000)
    return {"wall_s": wall, "cpu_s": cpu, "steps": steps}
