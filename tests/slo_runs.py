"""Result stores of known outcomes for the SLO tests: one scheduled run a minute, on a frozen clock.

Run i of a journey finishes at T0 + i*60 + 30, half a minute before Datadog's evaluation minute
T0 + (i+1)*60, so which window holds which run is plain arithmetic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

from prober.catalog import Catalog, build_catalog
from prober.config import LoadedConfig, load_config
from prober.result import ErrorType, Trigger
from prober.store import ResultStore
from tests.prober_cli import CONFIG
from tests.results import attempt, result

T0 = 1_900_000_000.0
MIN = 60.0
KINDS = {
    "ok": None,
    "fail": ErrorType.SERVER_ERROR,
    "probe": ErrorType.PROBE_ERROR,
}


def finished(i: int) -> float:
    return T0 + i * MIN + 30


def fill(
    path: Path,
    journey: str,
    minutes: Iterable[int],
    kind: Callable[[int], str],
    *,
    env: str = "prod",
    location: str = "eu-west-1",
) -> None:
    """One scheduled run of `journey` at each minute index, of kind ok | fail | slow | probe."""
    store = ResultStore(path)
    for i in minutes:
        what = kind(i)
        one = attempt(error_type=KINDS.get(what), duration=3.0 if what == "slow" else 1.5)
        one = dataclasses.replace(one, started_at=finished(i) - one.duration_s)
        run = result(
            one, journey=journey, trigger=Trigger.SCHEDULE, run_id=f"{journey}-{location}-{i}"
        )
        store.save(run, env, location)
    store.close()


def config(store: Path, **env: str) -> tuple[LoadedConfig, Catalog]:
    """The repository's config on `store` in env prod; `env` adds PROBER_ overrides."""
    loaded = load_config(
        CONFIG,
        {"PROBER_STORE__PATH": str(store), "PROBER_ENV": "prod", "SANDBOX_PASSWORD": "unused",
         **env},
    )  # fmt: skip
    return loaded, build_catalog(loaded)
