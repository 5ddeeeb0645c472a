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
class Blame:
    failing: tuple[str, ...]  # locations whose latest scheduled run failed
    succeeding: tuple[str, ...]
    silent: tuple[str, ...]  # listed locations without a recent run (heartbeat monitors)
    quorum: int

    @property
    def location_local(self) -> bool:
        return 0 < len(self.failing) < self.quorum

    def describe(self, service: str) -> str | None:
        if not self.failing and not self.silent:
            return None
        parts = []
        if self.location_local:
            ok = ", ".join(self.succeeding) or "no other location"
            parts.append(f"failing from {', '.join(self.failing)} only; {ok} succeed: that "
                         f"location's problem, not {service}'s")  # fmt: skip
        elif self.failing:
            parts.append(f"failing from {', '.join(self.failing)} ({len(self.failing)} "
                         f"locations, quorum {self.quorum}): {service}")  # fmt: skip
        if self.silent:
            parts.append(f"no recent runs from {', '.join(self.silent)}")
        return "; ".join(parts)


def latest_verdicts(
    runs: Iterable[StoredRun], journey: Journey, quorum: Quorum, now: float
) -> dict[str, str]:
    """Each location's latest scheduled verdict (prober faults say nothing about the service)
    over the last RECENT_SLICES slices before `now`."""
    since = now - RECENT_SLICES * quorum.slice_s(journey)
    latest: dict[str, StoredRun] = {}
    for run in runs:
        recent = since < run.finished_at <= now and run.trigger == m.SCHEDULE_TRIGGER
        if recent and run.journey == journey.name and run.status != m.PROBE_ERROR:
            kept = latest.get(run.location)
            if kept is None or run.finished_at > kept.finished_at:
                latest[run.location] = run
    return {location: run.status for location, run in latest.items()}


def verdict(latest: dict[str, str], quorum: Quorum) -> Blame:
    failing = tuple(loc for loc in quorum.locations if latest.get(loc) == m.FAILURE)
    succeeding = tuple(loc for loc in quorum.locations if latest.get(loc) == m.SUCCESS)
    silent = tuple(loc for loc in quorum.locations if loc not in latest)
    return Blame(failing, succeeding, silent, quorum.min_locations)


def blame(runs: Iterable[StoredRun], journey: Journey, quorum: Quorum, now: float) -> Blame:
    """Whose problem the journey's latest runs from every listed location are."""
    return verdict(latest_verdicts(runs, journey, quorum, now), quorum)


def blame_failed_run(
    journey: Journey, quorum: Quorum, *, here: str, stores: Iterable[Path], env: str, now: float
) -> Blame:
    """A scheduled run of `journey` just failed at location `here`: whose problem is it, as the
    other locations' stores (`slo.stores`) see it now? A store that is missing or cannot be
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
    latest = latest_verdicts(runs, journey, quorum, now)
    latest[here] = m.FAILURE
    return verdict(latest, quorum)
