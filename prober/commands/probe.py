"""`prober run` (incidents) and `prober smoke` (CI after a deploy): run journeys now.

run     live table showing each attempt, --repeat/--every, --json lines, no retries unless
        --retries N (an engineer sees the first failure at once); metrics tagged trigger:manual
smoke   each journey once with its retries, trigger:ci, JUnit XML, GitHub annotations
Both exit with prober/app.py's codes: 0 passed, 1 a journey failed, 3 only prober faults; 2
when the --junit file cannot be written (checked before anything runs).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO

from prober.app import App, exit_code
from prober.commands.rounds import Plan, run_rounds
from prober.config import LoadedConfig
from prober.exit_codes import EXIT_USAGE
from prober.maintenance import notices
from prober.paths import writable_file
from prober.reports import github, junit
from prober.reports.console import ConsoleReport
from prober.result import JourneyResult, Trigger


def _maintenance_notice(loaded: LoadedConfig, plan: Plan) -> None:
    """Journeys inside a maintenance window run anyway (an engineer asked); say so on stderr,
    which keeps --json output clean."""
    pairs = [(journey.name, target.name) for journey, target in plan]
    for line in notices(loaded.config.maintenance_windows(), pairs, time.time()):
        print(f"prober: {line}", file=sys.stderr, flush=True)


async def run(
    loaded: LoadedConfig,
    plan: Plan,
    *,
    env: str | None,
    repeat: int | None,
    every_s: float,
    as_json: bool,
    retries: int | None = 0,
    out: IO[str] | None = None,
) -> int:
    """`retries` is how often a failed run is retried (None: each journey's own)."""
    out = out or sys.stdout
    _maintenance_notice(loaded, plan)
    app = App(loaded, env=env)
    try:
        if as_json:
            results = await run_rounds(
                app, plan, Trigger.MANUAL, rounds=repeat, every_s=every_s, json_out=out,
                retries=retries,
            )  # fmt: skip
        else:
            with ConsoleReport(out, site=loaded.datadog_site) as report:
                results = await run_rounds(
                    app, plan, Trigger.MANUAL, rounds=repeat, every_s=every_s, report=report,
                    retries=retries,
                )  # fmt: skip
    finally:
        await app.aclose()
    return exit_code(results)


async def smoke(
    loaded: LoadedConfig,
    plan: Plan,
    *,
    env: str | None,
    junit_path: Path | None,
    out: IO[str] | None = None,
) -> int:
    out = out or sys.stdout
    if junit_path is not None:
        writable_file(junit_path, "--junit")  # PathError (exit 2) before anything runs
    annotate = github.enabled(loaded.environ)

    def on_result(result: JourneyResult) -> None:
        line = github.annotation(result, loaded.datadog_site) if annotate else None
        if line is not None:
            print(line, file=out, flush=True)

    _maintenance_notice(loaded, plan)
    app = App(loaded, env=env)
    try:
        with ConsoleReport(out, site=loaded.datadog_site) as report:
            results = await run_rounds(
                app, plan, Trigger.CI, rounds=1, report=report, on_result=on_result
            )
    finally:
        await app.aclose()
    results.sort(key=lambda r: (r.journey, r.target))
    if junit_path is not None:
        try:
            junit.write(
                junit_path, results, suite=f"cuj-prober smoke ({app.origin.env})",
                site=app.datadog_site,
            )  # fmt: skip
        except OSError as exc:  # writable at start, but e.g. the disk filled up meanwhile
            print(f"prober: {junit_path}: cannot write the JUnit report ({exc.strerror or exc})",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    return exit_code(results)
