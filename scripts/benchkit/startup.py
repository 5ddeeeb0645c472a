"""Start-up: `prober run workflow_canvas_load` from exec to exit, against the raw script doing
one run (scripts/benchkit/raw_canvas.py), interleaved; plus `prober run --help` alone."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import HERE, Bench, fmt, summary
from reference import Platform, source_env


def run(bench: Bench, plat: Platform) -> dict[str, Any]:
    rounds = bench.pick(1, 2, 7)
    scratch = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=bench.work))
    env = source_env(
        bench.src,
        {
            "SANDBOX_PASSWORD": plat.password,
            "PROBER_TARGETS__SANDBOX__BASE_URL": plat.url,
            "PROBER_STORE__PATH": str(scratch / "results.db"),
            "PROBER_ARTIFACTS__PATH": str(scratch / "artifacts"),
            "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9",
        },
    )
    commands = {
        "prober": [sys.executable, "-m", "prober", "run", "workflow_canvas_load"],
        "raw": [sys.executable, str(HERE / "raw_canvas.py"), plat.url, plat.password],
        "help": [sys.executable, "-m", "prober", "run", "--help"],
    }
    walls: dict[str, list[float]] = {k: [] for k in commands}
    for r in range(rounds):
        order = list(commands) if r % 2 == 0 else list(reversed(commands))
        for who in order:
            began = time.monotonic()
            done = subprocess.run(
                commands[who], cwd=bench.src, env=env, capture_output=True, check=False, timeout=120
            )
            walls[who].append(time.monotonic() - began)
            if done.returncode != 0:
                raise RuntimeError(f"{who} exited {done.returncode}: {done.stdout[-2000:]!r}")
    imports = _imports(bench, env)
    diffs = [p - q for p, q in zip(walls["prober"], walls["raw"], strict=True)]
    return {
        "rounds": rounds,
        "wall_s": {k: summary(v) for k, v in walls.items()},
        "prober_minus_raw_s": summary(diffs),
        "import_s": imports,
        "samples": walls,
    }


def _imports(bench: Bench, env: dict[str, str]) -> dict[str, Any]:
    """`python -X importtime -m prober run --help`: total, and whether the web stack loaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "prober", "run", "--help"],
        cwd=bench.src,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    modules = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.strip() for part in line[12:].split("|"))
            if cumulative.isdigit():
                modules[name.strip()] = int(cumulative) / 1e6
    top = {k: v for k, v in modules.items() if "." not in k}
    return {
        "total_s": sum(top.values()),
        "loaded": sorted(
            k
            for k in (
                "starlette",
                "uvicorn",
                "playwright",
                "httpx",
                "yaml",
                "pydantic",
                "apscheduler",
            )
            if k in modules
        ),
    }


def markdown(res: dict[str, Any]) -> list[str]:
    w = res["wall_s"]
    return [
        f"{res['rounds']} rounds, alternating; wall from exec to exit, one canvas journey each.",
        "",
        "| command | wall s |",
        "|---|---|",
        f"| `prober run workflow_canvas_load` | {fmt(w['prober'])} |",
        f"| raw Playwright script, one run | {fmt(w['raw'])} |",
        f"| difference (paired) | {fmt(res['prober_minus_raw_s'])} |",
        f"| `prober run --help` | {fmt(w['help'])} |",
        "",
        f"`python -X importtime -m prober run --help` imports "
        f"{res['import_s']['total_s']:.2f} s of top-level modules; of the heavy ones it loads "
        f"{', '.join(res['import_s']['loaded']) or 'none'}.",
    ]
