"""Continuous probing: APScheduler 3.x `AsyncIOScheduler` with explicit run policies.

Per (journey, target) job: an interval trigger with jitter (a random delay of up to
`serve.jitter` of the interval), first runs spread evenly over the interval so N journeys never
start at once,
`max_instances=1` (a run still going when the next is due is skipped and counted as
`cuj.prober.runs.skipped{reason:overlap}`), `coalesce` (after a stall, one run, not a burst),
and `misfire_grace_time` (a run that could not start in time is counted as `misfire`).
A run that comes due inside a maintenance window of its journey and target is not started and
counted as `skipped{reason:maintenance}`; the interval goes on, so runs resume on time.
The heartbeat is a job of the same scheduler, so it stops when scheduling stops; so is pruning
the store and the artifacts every `serve.prune_interval`.

`stop()` is the graceful half of SIGTERM: no new runs, in-flight runs get a grace period,
then are cancelled (their cleanups still run), each counted as `skipped{reason:shutdown}` and
logged as one line. Jobs end quietly when cancelled: APScheduler would log the cancellation as a
job error, with a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from prober import metrics as m
from prober.app import App
from prober.config import ServeConfig
from prober.journey import Journey
from prober.result import JourneyResult, Trigger
from prober.store import StoreError
from prober.target import Target

log = logging.getLogger(__name__)
HEARTBEAT_JOB = "heartbeat"
PRUNE_JOB = "prune"


def _quiet_when_cancelled(
    job: Callable[[ProbeScheduler], Awaitable[None]],
) -> Callable[[ProbeScheduler], Awaitable[None]]:
    """A job of the prober's own cancelled by shutdown ends without an error (and traceback)."""

    @functools.wraps(job)
    async def run(self: ProbeScheduler) -> None:
        try:
            await job(self)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.debug("%s cancelled by shutdown", job.__name__)

    return run


@dataclass(frozen=True, slots=True)
class Scheduled:
    journey: Journey
    target: Target

    @property
    def job_id(self) -> str:
        return f"{self.journey.name}@{self.target.name}"


class ProbeScheduler:
    def __init__(self, app: App, plan: Sequence[tuple[Journey, Target]], policy: ServeConfig):
        self.app = app
        self.policy = policy
        self.entries = {s.job_id: s for s in (Scheduled(j, t) for j, t in plan)}
        self.last: dict[str, JourneyResult] = {}
        self.runs = 0
        self.skipped: dict[str, int] = dict.fromkeys(m.SKIP_REASONS, 0)
        self.skipped_by_job: dict[str, dict[str, int]] = {
            job_id: dict.fromkeys(m.SKIP_REASONS, 0) for job_id in self.entries
        }
        self.last_heartbeat: float | None = None  # wall clock of the last beat sent
        self.maintenance = app.config.maintenance_windows()
        self.clock: Callable[[], float] = time.time
        self._inflight: dict[asyncio.Task[Any], str] = {}  # task -> job id
        self._scheduler: AsyncIOScheduler | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running and not self._stopping

    def start(self, now: datetime | None = None) -> None:
        """Add every job and start; must be called from the running event loop."""
        now = now or datetime.now(UTC)
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        count = len(self.entries)
        for index, entry in enumerate(sorted(self.entries.values(), key=lambda e: e.job_id)):
            interval = entry.journey.interval_s
            # Spread: entry i of n first runs i/n of the way into its interval.
            first = now + timedelta(seconds=interval * index / count)
            scheduler.add_job(
                self._run,
                IntervalTrigger(
                    seconds=interval,
                    start_date=first,
                    jitter=self.policy.jitter * interval or None,
                    timezone=UTC,
                ),
                args=[entry.job_id],
                id=entry.job_id,
                name=entry.job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, round(self.policy.misfire_grace)),
                next_run_time=first,
            )
        # The heartbeat beats at once; pruning waits an interval (the app pruned at start).
        _upkeep(scheduler, HEARTBEAT_JOB, self._heartbeat, self.policy.heartbeat_interval,
                next_run_time=now)  # fmt: skip
        _upkeep(scheduler, PRUNE_JOB, self._prune, self.policy.prune_interval)
        sweeps: dict[tuple[int, str], Scheduled] = {}
        for entry in self.entries.values():  # one job per declared Sweep and target
            if entry.journey.sweep is not None:
                sweeps.setdefault((id(entry.journey.sweep), entry.target.name), entry)
        for entry in sweeps.values():
            _upkeep(scheduler, f"sweep:{entry.job_id}", self._sweeper(entry),
                    self.policy.sweep_interval)  # fmt: skip
        scheduler.start()
        self._scheduler = scheduler

    def next_run(self, job_id: str) -> datetime | None:
        if self._scheduler is None or self._stopping:
            return None
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.next_run_time

    async def _run(self, job_id: str) -> None:
        entry = self.entries[job_id]
        window = self.maintenance.active(entry.journey.name, entry.target.name, self.clock())
        if window is not None:
            log.info("run of %s skipped: %s", job_id, window.describe())
            self._count_skip(entry, m.MAINTENANCE)
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight[task] = job_id
        try:
            result = await self.app.execute(entry.journey, entry.target, Trigger.SCHEDULE)
        except asyncio.CancelledError:
            self._count_skip(entry, "shutdown")
            if not self._stopping:
                raise
            return  # stop() said why, in one line; re-raised, APScheduler logs a traceback
        finally:
            if task is not None:
                self._inflight.pop(task, None)
        self.runs += 1
        self.last[job_id] = result

    def _sweeper(self, entry: Scheduled) -> Callable[[], Awaitable[None]]:
        @_quiet_when_cancelled
        async def sweep(self: ProbeScheduler) -> None:
            await self.app.sweep(entry.journey, entry.target)

        return lambda: sweep(self)

    @_quiet_when_cancelled
    async def _heartbeat(self) -> None:
        self.app.statsd.heartbeat()
        self.last_heartbeat = self.clock()

    @_quiet_when_cancelled
    async def _prune(self) -> None:
        """The store and artifacts were pruned at start; this keeps a long-lived serve bounded."""
        try:
            runs, folders = await asyncio.to_thread(self.app.prune)
        except (StoreError, OSError) as exc:  # e.g. a locked store, a full disk: keep probing
            log.error("pruning the result store or the artifacts failed: %s", exc)
            return
        if runs or folders:
            log.info("pruned %d stored run(s) and %d artifact folder(s)", runs, folders)

    def _on_event(self, event: JobEvent) -> None:
        entry = self.entries.get(event.job_id)
        if entry is None:
            return  # the heartbeat: a missed beat is just a missing point
        reason = "overlap" if event.code == EVENT_JOB_MAX_INSTANCES else "misfire"
        log.warning("run of %s skipped: %s", event.job_id, reason)
        self._count_skip(entry, reason)

    def _count_skip(self, entry: Scheduled, reason: str) -> None:
        self.skipped[reason] += 1
        self.skipped_by_job[entry.job_id][reason] += 1
        self.app.statsd.skipped(entry.journey.name, entry.target.name, reason)

    async def stop(self, grace_s: float) -> None:
        """No new runs; wait up to `grace_s` for in-flight runs, then cancel them."""
        if self._scheduler is None or self._stopping:
            return
        self._stopping = True
        self._scheduler.pause()
        pending = dict(self._inflight)
        if pending:
            log.info("waiting up to %gs for %d run(s) in flight", grace_s, len(pending))
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                log.warning(
                    "cancelling the run of %s: still going after serve.shutdown_grace (%gs); "
                    "its cleanups still run, it is counted as skipped (shutdown)",
                    pending[task],
                    grace_s,
                )
                task.cancel()
            if late:
                await asyncio.wait(late)
        self._scheduler.shutdown(wait=False)


def _upkeep(
    scheduler: AsyncIOScheduler,
    job_id: str,
    job: Callable[[], Awaitable[None]],
    every_s: float,
    **first: Any,
) -> None:
    """A job of the prober's own (not a journey): one at a time, never caught up in a burst."""
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=every_s, timezone=UTC),
        id=job_id,
        name=job_id,
        max_instances=1,
        coalesce=True,
        **first,
    )
