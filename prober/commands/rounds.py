"""Running a plan now, once or in rounds: the engine of `prober run`, `smoke` and `demo`.

Runs of a round go concurrently (browser journeys within `browser.max_concurrent`), so during
an incident every journey answers in about the time of the slowest one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import IO

from prober.app import App
from prober.journey import Journey
from prober.reports.console import ConsoleReport
from prober.result import JourneyResult, Trigger
from prober.runner import new_run_id
from prober.target import Target
from prober.trace_links import with_trace_urls

Plan = Sequence[tuple[Journey, Target]]


async def run_rounds(
    app: App,
    plan: Plan,
    trigger: Trigger,
    *,
    rounds: int | None = 1,
    every_s: float = 0.0,
    report: ConsoleReport | None = None,
    json_out: IO[str] | None = None,
    on_result: Callable[[JourneyResult], None] | None = None,
    retries: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[JourneyResult]:
    """Run every pair of `plan` per round; `rounds=None` repeats until cancelled.

    Round starts are `every_s` apart (a round that takes longer starts the next at once).
    `retries` None keeps each journey's own.
    """
    results: list[JourneyResult] = []

    async def one(journey: Journey, target: Target, round_: int) -> None:
        run_id = new_run_id()
        if report is not None:
            report.run_started(run_id, journey, target, round_)
        result = await app.execute(
            journey, target, trigger, listener=report, run_id=run_id, retries=retries
        )
        results.append(result)
        if report is not None:
            report.run_finished(result)
        if json_out is not None:
            linked = with_trace_urls(result.to_json(), app.datadog_site)
            json_out.write(json.dumps(linked, sort_keys=True) + "\n")
            json_out.flush()
        if on_result is not None:
            on_result(result)

    round_ = 0
    while rounds is None or round_ < rounds:
        round_ += 1
        started = clock()
        async with asyncio.TaskGroup() as group:
            for journey, target in plan:
                group.create_task(one(journey, target, round_))
        if rounds is not None and round_ >= rounds:
            break
        await asyncio.sleep(max(0.0, every_s - (clock() - started)))
    return results
