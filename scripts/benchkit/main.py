"""`scripts/bench`: run the selected sub-benchmarks, write the JSON of raw numbers and the report.

    scripts/bench [--quick | --smoke] [--only NAME ...] [--src TREE] [--json FILE] [--doc FILE]

Every sub-benchmark runs against one `prober sandbox --faults` started from `--src` (default:
this checkout), so an older tree (`git archive <commit>`) can be measured the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import ROOT, Bench
from reference import Platform
from reference import platform as reference_platform

# name -> (module, title); the order is the report's.
SUBS = {
    "side_by_side": "Side by side: prober vs raw Playwright (canvas journey)",
    "costs": "What the prober's own features cost",
    "api": "API journey vs a raw httpx loop",
    "fidelity": "Timing fidelity",
    "startup": "Start-up",
    "throughput": "Throughput",
    "detection": "Detection time under `prober serve`",
    "schedule": "`prober serve`: schedule accuracy and memory",
    "soak": "Memory and soak",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--quick", action="store_true", help="every figure in under 2 minutes")
    level.add_argument("--smoke", action="store_true", help="seconds each: proves it still runs")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SUBS),
        default=None,
        metavar="NAME",
        help=f"sub-benchmarks to run (default all): {', '.join(SUBS)}",
    )
    parser.add_argument("--src", type=Path, default=ROOT, help="source tree to measure")
    parser.add_argument("--json", type=Path, default=None, help="raw numbers (default: none)")
    parser.add_argument("--doc", type=Path, default=None, help="Markdown report (default: none)")
    parser.add_argument("--before", type=Path, default=None, metavar="JSON",
                        help="an earlier --json file: add a before/after table")  # fmt: skip
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    work = Path(tempfile.mkdtemp(prefix="cuj-bench-"))
    bench = Bench(mode, args.src.resolve(), work)
    # --quick leaves out the schedule run (serve's timing over minutes; detection and the soak
    # cover serve and memory) to stay under 2 minutes; --only can still ask for it.
    chosen = args.only or [n for n in SUBS if not (mode == "quick" and n == "schedule")]
    results: dict[str, Any] = {"meta": _meta(bench, argv), "results": {}}
    began = time.monotonic()
    # --quick: detection (a serve process that is idle between runs) overlaps the sub-benchmarks
    # after it, on a platform of its own, since its outages would fail their journeys.
    overlap = bench.mode == "quick" and "detection" in chosen[:-1]
    with contextlib.ExitStack() as stack:
        plat = stack.enter_context(reference_platform(bench.src, work / "platform"))
        threads: dict[str, tuple[threading.Thread, dict[str, Any]]] = {}
        for name in chosen:
            if overlap and name == "detection":
                own = stack.enter_context(reference_platform(bench.src, work / "platform-d"))
                box: dict[str, Any] = {}
                thread = threading.Thread(target=_run_sub, args=(name, bench, own, box))
                thread.start()
                threads[name] = (thread, box)
                continue
            box = {}
            _run_sub(name, bench, plat, box)
            results["results"][name] = box["out"]
        for name, (thread, box) in threads.items():
            thread.join()
            if "error" in box:
                raise box["error"]
            results["results"][name] = box["out"]
    results["results"] = {k: results["results"][k] for k in chosen}
    results["meta"]["elapsed_s"] = time.monotonic() - began
    results["meta"]["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    before = json.loads(args.before.read_text()) if args.before else None
    report = render(results, before)
    if args.doc:
        write_doc(args.doc, report)
    else:
        print(report)
    return 0


BEGIN, END = "<!-- scripts/bench output: begin -->", "<!-- scripts/bench output: end -->"


def write_doc(path: Path, report: str) -> None:
    """Put the report between the BEGIN/END markers of `path`, keeping the prose around them
    (the whole file when it has no markers); written to a temporary file, then renamed."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = f"{head}{BEGIN}\n{report}{END}{tail}"
    else:
        text = f"{BEGIN}\n{report}{END}\n"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _run_sub(name: str, bench: Bench, plat: Platform, box: dict[str, Any]) -> None:
    t0 = time.monotonic()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    try:
        out = importlib.import_module(name).run(bench, plat)
    except BaseException as exc:
        box["error"] = exc
        raise
    out["elapsed_s"] = time.monotonic() - t0
    box["out"] = out
    print(f"[bench] {name}: {out['elapsed_s']:.1f} s", file=sys.stderr, flush=True)


def _meta(bench: Bench, argv: list[str] | None) -> dict[str, Any]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    from importlib.metadata import version

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = Path("/proc/meminfo").read_text().split()[1]
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "scripts/bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "mode": bench.mode,
        "src": str(bench.src),
        "commit": out("git", "-C", str(bench.src), "rev-parse", "--short", "HEAD") or "(archive)",
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {int(mem) / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "playwright": version("playwright"),
        "httpx": version("httpx"),
        "chromium": out("/usr/bin/chromium", "--version"),
        "load_before": os.getloadavg(),
    }


def render(results: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    meta = results["meta"]
    lines = [
        "## Benchmark run",
        "",
        f"`{meta['command']}` ({meta['mode']} mode), {meta['date']}, commit {meta['commit']}; "
        f"{meta['machine']}, Linux {meta['kernel']}, Python {meta['python']}, Playwright "
        f"{meta['playwright']}, {meta['chromium']}. Load average before "
        f"{meta['load_before'][0]:.2f}, after {meta['load_after'][0]:.2f}; took "
        f"{meta['elapsed_s']:.0f} s. Figures are `median (min-max)` over the samples.",
    ]
    if before is not None:
        import compare

        lines += ["", "### Before and after", "", *compare.markdown(before, results)]
    for name, res in results["results"].items():
        module = importlib.import_module(name)
        lines += ["", f"### {SUBS[name]}", "", *module.markdown(res)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
