"""What every sub-benchmark shares: the run settings, spawning a measured worker, statistics."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctree import Group, spawn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass
class Bench:
    """mode: smoke (seconds, for make test), quick (< 2 min in all), full (the doc's run)."""

    mode: str
    src: Path  # the source tree measured
    work: Path  # scratch space

    def pick(self, smoke: Any, quick: Any, full: Any) -> Any:
        return {"smoke": smoke, "quick": quick, "full": full}[self.mode]


def worker(
    bench: Bench, mode: str, url: str, password: str, tag: str, *extra: str, timeout: float = 600
) -> tuple[dict[str, Any], str]:
    """Run scripts/benchkit/worker.py in its own cgroup; its JSON and how CPU was counted."""
    out = bench.work / f"{tag}.json"
    group = Group(tag)
    try:
        argv = [
            sys.executable,
            str(HERE / "worker.py"),
            mode,
            "--src",
            str(bench.src),
            "--url",
            url,
            # One argument: a generated password may begin with "-" (token_urlsafe).
            f"--password={password}",
            "--out",
            str(out),
            *extra,
        ]
        proc = spawn(group, argv, cwd=bench.src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(
                f"worker {mode} failed ({proc.returncode}): {output.decode()[-2000:]}"
            )
        return json.loads(out.read_text()), group.kind
    finally:
        group.close()


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and spread (min, max, and the interquartile range when there are enough)."""
    vals = sorted(values)
    if not vals:
        return {"n": 0}
    result = {"n": len(vals), "median": statistics.median(vals), "min": vals[0], "max": vals[-1]}
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4)
        result.update(q1=q[0], q3=q[2])
    return result


def fmt(s: dict[str, float], scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    """`median (min-max)` of a summary, scaled (e.g. 1000 for ms)."""
    if not s.get("n"):
        return "-"
    m, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    return f"{m:.{digits}f}{unit} ({lo:.{digits}f}-{hi:.{digits}f})"
