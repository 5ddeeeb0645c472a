"""`prober slo status`: SLI, error budget and burn rates from a store of known outcomes, with a
frozen clock, against values computed by hand."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from prober.catalog import build_catalog
from prober.commands import slo
from prober.config import load_config
from prober.result import AttemptResult, ErrorType, Trigger
from prober.store import ResultStore
from tests.prober_cli import CONFIG
from tests.results import attempt, result

NOW = 1_900_000_000.0
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0


class Runs:
    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self.count = 0

    def add(self, journey: str, age_s: float, kind: str = "ok", *,
            trigger: Trigger = Trigger.SCHEDULE, env: str = "prod") -> None:  # fmt: skip
        def at(a: AttemptResult, offset: float = 0.0) -> AttemptResult:
            return dataclasses.replace(a, started_at=NOW - age_s - a.duration_s - offset)

        attempts = {
            "ok": (at(attempt()),),
            "slow": (at(attempt(duration=3.0)),),  # over the 2 s threshold: not within_slo
            "fail": (at(attempt(error_type=ErrorType.SERVER_ERROR)),),
            "retried": (at(attempt(1, ErrorType.TIMEOUT), 5.0), at(attempt(2))),
            "probe": (at(attempt(error_type=ErrorType.PROBE_ERROR)),),
        }[kind]
        self.count += 1
        run = result(*attempts, journey=journey, trigger=trigger, run_id=f"r{self.count}")
        self.store.save(run, env, "eu-west-1")


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "results.db"
    store = ResultStore(path)
    runs = Runs(store)
    canvas = "workflow_canvas_load"  # slo_target 0.995
    for i in range(970):  # 2..29 days old, all good
        runs.add(canvas, 2 * DAY + i * (27 * DAY / 970))
    for i in range(10):  # good in the end, but only on the second attempt
        runs.add(canvas, 3 * DAY + i * HOUR, "retried")
    for age in (7.0, 8.0, 9.0, 10.0, 12.0, 14.0, 16.0):  # 6-24 h: 7 good, 1 slow, 2 failed
        runs.add(canvas, age * HOUR)
    runs.add(canvas, 18 * HOUR, "slow")
    runs.add(canvas, 20 * HOUR, "fail")
    runs.add(canvas, 22 * HOUR, "fail")
    for age, kind in ((1.5, "fail"), (2.5, "ok"), (3.0, "fail"), (4.0, "ok"), (5.0, "fail"),
                      (5.5, "ok")):  # fmt: skip
        runs.add(canvas, age * HOUR, kind)  # 1-6 h: 3 of 6 failed
    for age in (10.0, 20.0, 40.0):
        runs.add(canvas, age * MIN, "fail")  # 5 min - 1 h: all failed
    runs.add(canvas, 2 * MIN, "fail")  # the last 5 minutes
    # Not counted: the prober's own faults, manual and CI runs, another env, too old.
    for age in (1.2, 2.2, 3.2, 4.2, 5.2):
        runs.add(canvas, age * HOUR, "probe")
    for _ in range(4):
        runs.add(canvas, 1 * MIN, "fail", trigger=Trigger.MANUAL)
    runs.add(canvas, 1 * MIN, "fail", trigger=Trigger.CI)
    runs.add(canvas, 1 * MIN, "fail", env="staging")
    runs.add(canvas, 31 * DAY, "fail")
    run_api = "workflow_run_api"  # slo_target 0.99: only the slow burn should fire
    runs.add(run_api, 2 * MIN)
    for i in range(10):
        runs.add(run_api, 6 * MIN + i * 5 * MIN)  # 6..51 min
    for age, kind in ((1.2, "ok"), (1.5, "fail"), (1.7, "ok"), (1.9, "ok")):
        runs.add(run_api, age * HOUR, kind)
    for i in range(10):
        runs.add(run_api, 2.2 * HOUR + i * 20 * MIN)  # 2.2..5.2 h
    for i in range(25):
        kind = "fail" if i == 12 else "ok"
        runs.add(run_api, 6.5 * HOUR + i * 40 * MIN, kind)  # 6.5..22.5 h
    store.close()
    return path


def status_of(
    store: Path, window: str = "30d", window_s: float = 30 * DAY, min_runs: int = 30
) -> dict[str, dict[str, Any]]:
    loaded = load_config(CONFIG, {"PROBER_STORE__PATH": str(store), "PROBER_ENV": "prod",
                                  "SANDBOX_PASSWORD": "unused"})  # fmt: skip
    out = io.StringIO()
    slo.status(loaded, build_catalog(loaded), window=window, window_s=window_s, env=None,
               as_json=True, min_runs=min_runs, now=NOW, stdout=out)  # fmt: skip
    return {row["journey"]: row for row in map(json.loads, out.getvalue().splitlines())}


def test_sli_budget_and_burn_rates_by_hand(filled: Path) -> None:
    rows = status_of(filled)
    canvas = rows["workflow_canvas_load"]
    # 1000 counted runs: 970 + 10 retried + 10 (6-24 h) + 6 (1-6 h) + 3 + 1; 9 failed.
    availability = canvas["availability"]
    assert (availability["good"], availability["total"]) == (991, 1000)
    assert availability["sli"] == pytest.approx(0.991)
    # Budget: 0.5% of 1000 = 5 bad runs allowed, 9 spent -> 1 - 9/5 = -0.8.
    assert availability["error_budget_left"] == pytest.approx(-0.8)
    # Burn = error rate / 0.005. 5m: 1/1; 1h: 4/4; 6h: 7/10; 24h: 9/20.
    assert availability["burn_rates"] == pytest.approx(
        {"5m": 200.0, "1h": 200.0, "6h": 140.0, "24h": 90.0}
    )
    assert availability["firing"] == ["fast_burn (page)", "medium_burn (page)",
                                      "slow_burn (ticket)"]  # fmt: skip
    # The shipped policy: budget overspent (warn, freeze); 90x over 24 h (post-mortem).
    assert availability["policy_actions"] == [
        "25% of the budget left or less: warn the owner",
        "budget exhausted: freeze deploys of frontend-monolith",
        "burn rate above 6x over 24h: require a post-mortem",
    ]
    # Latency counts the 991 successful runs only: the one slow success is its only bad run
    # (the 9 failures spend the availability budget alone).
    latency = canvas["latency"]
    assert (latency["good"], latency["total"]) == (990, 991)
    assert latency["error_budget_left"] == pytest.approx(1 - 1 / (0.005 * 991))
    assert latency["burn_rates"]["24h"] == pytest.approx((1 / 11) / 0.005)  # 11 successes
    assert latency["burn_rates"]["5m"] is None  # the last 5 minutes hold one failure only
    assert latency["firing"] == []  # the 2 h window holds no success: no latency burn
    # First attempts: the 10 retried runs failed their first attempt -> 981/1000.
    assert canvas["first_attempt_sli"] == pytest.approx(0.981)

    run_api = rows["workflow_run_api"]["availability"]
    # 50 runs, 2 failed (1.5 h and 14.5 h): budget 1% of 50 = 0.5 -> 1 - 2/0.5 = -3.
    assert (run_api["good"], run_api["total"]) == (48, 50)
    assert run_api["error_budget_left"] == pytest.approx(-3.0)
    # 5m: 0/1; 1h: 0/11; 6h: 1/25 -> 4x; 24h: 2/50 -> 4x; and 2h: 1/15 -> 6.67x.
    assert run_api["burn_rates"] == pytest.approx({"5m": 0.0, "1h": 0.0, "6h": 4.0, "24h": 4.0})
    assert run_api["firing"] == ["slow_burn (ticket)"]
    assert run_api["policy_actions"] == [
        "25% of the budget left or less: warn the owner",
        "budget exhausted: freeze deploys of orchestration-engine",
    ]  # 4x over 24 h: no post-mortem


def test_a_shorter_window_and_no_runs(filled: Path, tmp_path: Path) -> None:
    # 20 runs in a day are fewer than the 30 the gate needs: no budget, no policy action.
    canvas = status_of(filled, "1d", DAY)["workflow_canvas_load"]
    day = canvas["availability"]
    assert (day["good"], day["total"]) == (11, 20)
    assert day["error_budget_left"] is None and day["policy_actions"] == []
    assert canvas["too_few_runs"].startswith("too few runs: 20 scheduled run(s) of ")
    assert "30 needed to decide" in canvas["too_few_runs"]
    day = status_of(filled, "1d", DAY, min_runs=20)["workflow_canvas_load"]["availability"]
    assert day["error_budget_left"] == pytest.approx(1 - 9 / (0.005 * 20))
    assert status_of(tmp_path / "empty.db") == {}
