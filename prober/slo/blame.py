"""Blame across locations: whose problem a journey's failures are, where results meet.

Each location's prober sees its own runs only; where the runs of several locations meet (the
stores read together by `slo status`, Datadog's `by {location}` queries) a failure seen from
fewer than the quorum's N locations while the others succeed is that location's problem (its
network, DNS, node), not the service's: the quorum SLI does not count it, and the prober's
owners get the location-local alert. From N locations on, it is the service's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prober import metrics as m
from prober.journey import Journey
from prober.slo.spec import Quorum
from prober.store import ResultStore, StoredRun, StoreError

RECENT_SLICES = 3  # a location's latest verdict is its latest run in the last 3 slices


@dataclass(frozen=True, slots=True)
class Seen:
    """A location's latest scheduled run of the journey: its status, since when the location's
    runs have had it (the start of the first run of the streak), and when it finished."""

    status: str
    since: float
    finished_at: float


@dataclass(frozen=True, slots=True)
class Blame:
    """Each listed location's latest verdict. A success counts as evidence only when it
    finished after the earliest failing streak began (it saw the platform while that location
    failed); an older one is `stale`: that location has not run since. A failure is
    `location_local` only when even the stale and silent locations failing too could not make
    the quorum: the others have said so, not merely not yet said otherwise."""

    failing: tuple[str, ...]  # locations whose latest scheduled run failed
    succeeding: tuple[str, ...]  # ... succeeded since the failures began
    stale: tuple[str, ...]  # ... succeeded, but before the failures began
    silent: tuple[str, ...]  # listed locations without a recent run (heartbeat monitors)
    quorum: int

    @property
    def location_local(self) -> bool:
        unknown = len(self.stale) + len(self.silent)
        return len(self.failing) > 0 and len(self.failing) + unknown < self.quorum

    @property
    def platform(self) -> bool:
        return len(self.failing) >= self.quorum

    def describe(self, service: str) -> str | None:
        if not self.failing and not self.silent:
            return None
        parts = []
        failing = ", ".join(self.failing)
        if self.location_local:
            ok = ", ".join(self.succeeding) or "no other location"
            parts.append(f"failing from {failing} only; {ok} succeed: that location's problem, "
                         f"not {service}'s")  # fmt: skip
        elif self.platform:
            parts.append(f"failing from {failing} ({len(self.failing)} locations, quorum "
                         f"{self.quorum}): {service}")  # fmt: skip
        elif self.failing:
            known = f"; {', '.join(self.succeeding)} succeed" if self.succeeding else ""
            parts.append(f"failing from {failing}{known}: not yet known whether it is the "
                         f"location's or {service}'s (quorum {self.quorum})")  # fmt: skip
        if self.stale:
            parts.append(f"{', '.join(self.stale)} not run since")
        if self.silent:
            parts.append(f"no recent runs from {', '.join(self.silent)}")
        return "; ".join(parts)


def latest_runs(
    runs: Iterable[StoredRun], journey: Journey, quorum: Quorum, now: float
) -> dict[str, Seen]:
    """Each location's latest scheduled run (prober faults say nothing about the service)
    over the last RECENT_SLICES slices before `now`, with the start of its streak."""
    since = now - RECENT_SLICES * quorum.slice_s(journey)
    latest: dict[str, Seen] = {}
    for run in sorted(runs, key=lambda r: r.finished_at):
        recent = since < run.finished_at <= now and run.trigger == m.SCHEDULE_TRIGGER
        if recent and run.journey == journey.name and run.status != m.PROBE_ERROR:
            kept = latest.get(run.location)
            same = kept is not None and kept.status == run.status
            since = kept.since if kept is not None and same else run.started_at
            latest[run.location] = Seen(run.status, since, run.finished_at)
    return latest


def verdict(latest: dict[str, Seen], quorum: Quorum) -> Blame:
    def where(status: str) -> list[str]:
        return [loc for loc in quorum.locations if loc in latest and latest[loc].status == status]

    failing = where(m.FAILURE)
    began = min((latest[loc].since for loc in failing), default=float("-inf"))
    succeeded = where(m.SUCCESS)
    return Blame(
        failing=tuple(failing),
        succeeding=tuple(loc for loc in succeeded if latest[loc].finished_at >= began),
        stale=tuple(loc for loc in succeeded if latest[loc].finished_at < began),
        silent=tuple(loc for loc in quorum.locations if loc not in latest),
        quorum=quorum.min_locations,
    )


def blame(runs: Iterable[StoredRun], journey: Journey, quorum: Quorum, now: float) -> Blame:
    """Whose problem the journey's latest runs from every listed location are."""
    return verdict(latest_runs(runs, journey, quorum, now), quorum)


def blame_failed_run(
    journey: Journey, quorum: Quorum, *, here: str, started_at: float, stores: Iterable[Path],
    env: str, now: float,
) -> Blame:  # fmt: skip
    """A scheduled run of `journey` that started at `started_at` just failed at location
    `here`: whose problem is it, as the stores (this location's, whose failing streak it may
    continue, and the others', `slo.stores`) see it now? A store that is missing or cannot be
    read leaves its location silent; reading it creates nothing."""
    since = now - RECENT_SLICES * quorum.slice_s(journey)
    runs: list[StoredRun] = []
    for path in stores:
        if not path.is_file():
            continue
        try:
            store = ResultStore(path)
        except StoreError:
            continue
        try:
            runs += store.runs(journey=journey.name, env=env, since=since)
        except (StoreError, sqlite3.Error):
            pass
        finally:
            store.close()
    latest = latest_runs(runs, journey, quorum, now)
    kept = latest.get(here)
    streak = kept.since if kept is not None and kept.status == m.FAILURE else started_at
    latest[here] = Seen(m.FAILURE, min(streak, started_at), now)
    return verdict(latest, quorum)
