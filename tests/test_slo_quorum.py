"""The quorum SLI (several locations): one definition in export, `slo status`, the gate and the
backtest. Stored runs from three locations in three SQLite stores (one per location, read
together through `slo.stores`), one scheduled run a minute each, frozen clock: a location
failing alone spends nothing and is blamed on the location; two failing spend the budget and
page the service's team."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from datadog_api_client import Configuration
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v1.model.service_level_objective_request import (
    ServiceLevelObjectiveRequest,
)

from prober import metrics as m
from prober.commands import slo
from prober.config import ConfigError, load_config
from prober.slo import datadog_json, openslo, spec, terraform
from prober.slo import gate as gates
from prober.slo.blame import blame
from prober.store import StoredRun
from tests.prober_cli import CONFIG
from tests.slo_runs import MIN, T0, config, fill, finished

DAY = 1440
CANVAS = "workflow_canvas_load"
LOCATIONS = ("eu-west-1", "us-east-1", "ap-south-1")
QUORUM_ENV = {"PROBER_SLO__LOCATIONS": json.dumps(list(LOCATIONS)), "PROBER_LOCATION": "eu-west-1"}


def stores(tmp_path: Path, *failing: str, minutes: int = 30) -> dict[str, str]:
    """A store per location; `failing` fail from minute DAY for `minutes`. The config's env."""
    paths = {loc: tmp_path / f"{loc}.db" for loc in LOCATIONS}
    for location, path in paths.items():

        def kind(i: int, broken: bool = location in failing) -> str:
            return "fail" if broken and DAY <= i < DAY + minutes else "ok"

        fill(path, CANVAS, range(DAY - 60, DAY + 60), kind, location=location)
    others = [str(paths[loc]) for loc in LOCATIONS[1:]]
    return {**QUORUM_ENV, "PROBER_SLO__STORES": json.dumps(others),
            "PROBER_STORE__PATH": str(paths[LOCATIONS[0]])}  # fmt: skip


def status(env: dict[str, str], now: float) -> dict[str, Any]:
    loaded, catalog = config(Path(env["PROBER_STORE__PATH"]), **env)
    out = io.StringIO()
    slo.status(loaded, catalog, window="2h", window_s=7200, env=None, as_json=True, now=now,
               min_runs=1, stdout=out)  # fmt: skip
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    return next(r for r in rows if r["journey"] == CANVAS)


def alerts(env: dict[str, str]) -> list[dict[str, Any]]:
    loaded, catalog = config(Path(env["PROBER_STORE__PATH"]), **env)
    out = io.StringIO()
    slo.backtest(loaded, catalog, patterns=[CANVAS], env=None, start=T0 + (DAY - 30) * MIN,
                 end=T0 + (DAY + 60) * MIN, last_s=0, incidents_path=None, rules_path=None,
                 time_scale=1.0, grace_s=0.0, as_json=True, stdout=out)  # fmt: skip
    report: dict[str, Any] = [json.loads(line) for line in out.getvalue().splitlines()][-1]
    return list(report["alerts"])


def test_one_location_failing_spends_nothing_and_is_blamed_on_the_location(
    tmp_path: Path,
) -> None:
    env = stores(tmp_path, "us-east-1")
    during = status(env, now=finished(DAY + 10) + 1)
    availability = during["availability"]
    assert availability["good"] == availability["total"] > 0  # not one bad slice
    assert during["blame"] is not None
    blamed = "failing from us-east-1 only; eu-west-1, ap-south-1 succeed"
    assert during["blame"].startswith(blamed)
    found = alerts(env)
    service_pages = [a for a in found if a["severity"] == "page"
                     and not a["monitor"].startswith(spec.PROBER_SERVICE)]  # fmt: skip
    assert service_pages == []
    local = [a for a in found if a["monitor_type"] == "location_local"]
    assert [a["group"] for a in local] == [f"journey:{CANVAS},location:us-east-1"]
    # It names the location to the prober's owners within 5 minutes of the first failure.
    assert local[0]["fired_at"] - (T0 + DAY * MIN) <= 5 * MIN


def test_two_locations_failing_spend_the_budget_and_page_the_service(tmp_path: Path) -> None:
    env = stores(tmp_path, "us-east-1", "ap-south-1", minutes=30)
    during = status(env, now=finished(DAY + 10) + 1)["availability"]
    assert "fast_burn (page)" in during["firing"]  # bad slices burn the quorum SLI's budget
    after = status(env, now=finished(DAY + 40) + 1)
    availability = after["availability"]
    assert availability["total"] - availability["good"] == 30  # one bad minute per failed minute
    assert "us-east-1, ap-south-1 (2 locations, quorum 2)" not in (after["blame"] or "")
    found = alerts(env)
    down = [a for a in found if a["monitor_type"] == "journey_down"]
    assert len(down) == 1 and down[0]["fired_at"] - (T0 + DAY * MIN) <= 5 * MIN
    # The platform's outage is not the locations': the composite keeps the prober's owners out
    # of it from its start to after its end.
    assert [a for a in found if a["service"] == spec.PROBER_SERVICE] == []


def test_the_gate_reads_the_same_slices(tmp_path: Path) -> None:
    now = finished(DAY + 40) + 1
    for failing, spent in ((("us-east-1",), 0), (("us-east-1", "ap-south-1"), 30)):
        env = stores(tmp_path / "-".join(failing), *failing)
        loaded, catalog = config(Path(env["PROBER_STORE__PATH"]), **env)
        runs = slo._stored(loaded, env="prod", since=now - 30 * DAY * MIN)
        budgets = gates.StoreBudgets(runs, now=now, env="prod", min_runs=1,
                                     quorum=slo.quorum(loaded))  # fmt: skip
        journey = catalog.journeys[CANVAS]
        budget = budgets.budget(journey, spec.AVAILABILITY, ["1h"])
        slices = (DAY + 40) - (DAY - 60)  # complete minutes since the first run
        allowed = (1 - journey.slo_target) * slices
        assert budget.budget_left == pytest.approx(1 - spent / allowed)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"PROBER_LOCATION": "mars"}, "location 'mars' is not in slo.locations"),
        ({"PROBER_SLO__QUORUM": "4"}, "quorum 4 is more than the 3 locations"),
        ({"PROBER_SLO__LOCATIONS": '["a", "a"]', "PROBER_LOCATION": "a"}, "a listed twice"),
        ({"PROBER_SLO__LOCATIONS": '["a"]', "PROBER_LOCATION": "a", "PROBER_SLO__QUORUM": "1"},
         "quorum needs two or more locations"),
    ],
)  # fmt: skip
def test_the_config_refuses_a_quorum_it_cannot_keep(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, {"SANDBOX_PASSWORD": "x", **QUORUM_ENV, **extra})
    assert message in str(caught.value)


def quorum_export() -> spec.Export:
    loaded, catalog = config(Path("unused.db"), **QUORUM_ENV)
    return spec.build(catalog.select([]), "prod", list(LOCATIONS), notify_page="@pagerduty-cuj",
                      quorum=slo.quorum(loaded))  # fmt: skip


def test_the_export_writes_a_time_slice_sli_from_the_emitted_metric() -> None:
    built = quorum_export()
    availability = [s for s in built.slos if s.slo_type == spec.AVAILABILITY]
    assert availability and all(s.time_slice and s.quorum == 2 for s in availability)
    for s in availability:
        # The metric and tags the DogStatsD sink emits (tests/test_slo_locations.py sends them).
        assert s.slice_query == (
            f"sum:{m.RUNS}{{journey:{s.journey},env:prod,trigger:schedule,status:failure}} "
            "by {location}.as_count()"
        )
    types = {mon.monitor_type for mon in built.monitors if mon.slo is not None and
             mon.slo.slo_type == spec.AVAILABILITY}  # fmt: skip
    # Datadog takes burn-rate alerts on time-slice SLOs: bad slices burn the budget.
    assert types == {"burn_rate", "error_budget"}
    downs = [mon for mon in built.monitors if mon.monitor_type == "journey_down"]
    assert downs and all(mon.down is not None and mon.down.min_locations == 2 for mon in downs)
    local = [mon for mon in built.monitors if mon.monitor_type == "location_local"]
    assert len(local) == len(availability)
    assert all("team:sre" in mon.tags and "{{location.name}}" in mon.message for mon in local)
    heartbeats = sorted(mon.name for mon in built.monitors if mon.monitor_type == "no_data")
    assert len(heartbeats) == 3

    body = json.loads(datadog_json.dumps(built))
    config_ = Configuration()
    for slo_body in body["slos"]:
        validate_and_convert_types(slo_body, (ServiceLevelObjectiveRequest,), ["slo"], True,
                                   True, config_)  # fmt: skip
    names = [mon["name"] for mon in body["monitors"]]
    for mon in body["monitors"]:
        if mon["type"] == "composite":  # its parts by id, created before it
            parts = re.findall(r"\{\{monitor_id:([^{}]+)\}\}", mon["query"])
            assert len(parts) == 2 and all(names.index(p) < names.index(mon["name"])
                                           for p in parts)  # fmt: skip
            assert "thresholds" not in mon["options"]
    sliced = [b for b in body["slos"] if b["type"] == "time_slice"]
    assert len(sliced) == len(availability)
    condition = sliced[0]["sli_specification"]["time_slice"]
    assert (condition["comparator"], condition["threshold"]) == ("<", 2.0)
    assert condition["query"]["formulas"] == [{"formula": "count_nonzero(query1)"}]

    rendered = terraform.render(built)
    parsed = {n: dict(hcl2.loads(t)) for n, t in rendered.items() if n.endswith(".tf")}
    module = rendered[f"{terraform.QUORUM_MODULE_DIR}/main.tf"]
    assert 'type        = "time_slice"' in module
    assert 'burn_rate(\\"${datadog_service_level_objective.availability.id}\\")' in module
    # The location-local composite names its parts by their Terraform ids.
    monitors_tf = [body_ for block in parsed["main.tf"]["resource"]
                   for kind, named in block.items() if kind.strip('"') == "datadog_monitor"
                   for body_ in named.values()]  # fmt: skip
    composites = [body_ for body_ in monitors_tf if body_["type"].strip('"') == "composite"]
    assert len(composites) == len(availability)
    assert re.fullmatch(r"\$\{datadog_monitor\.cuj_prober_\w+_location_failing_prod\.id\} && "
                        r"!\$\{datadog_monitor\.cuj_prober_\w+_quorum_failing_prod\.id\}",
                        composites[0]["query"].strip('"'))  # fmt: skip
    assert "monitor_thresholds" not in composites[0]
    declared = {
        k.strip('"')
        for block in parsed[f"{terraform.QUORUM_MODULE_DIR}/variables.tf"]["variable"]
        for k in block
    }
    assert set(re.findall(r"var\.([a-z_]+)", module)) <= declared  # fmt: skip
    for block in parsed["main.tf"]["module"]:
        for body_ in block.values():
            assert set(body_) - {"source", "__is_block__"} <= declared

    documents = list(yaml.safe_load_all(openslo.render(built)))
    timeslices = [d for d in documents if d["kind"] == "SLO" and
                  d["spec"]["budgetingMethod"] == "Timeslices"]  # fmt: skip
    assert len(timeslices) == len(availability)
    assert timeslices[0]["spec"]["objectives"][0]["op"] == "lt"


def _seen(location: str, status: str, started: float, finished: float) -> StoredRun:
    return StoredRun(f"r-{location}-{finished}", CANVAS, "sandbox", "prod", location,
                     m.SCHEDULE_TRIGGER, status, None, None, None, 1.0, True, started, finished,
                     "0" * 32, 1, status)  # fmt: skip


def test_a_location_is_blamed_only_once_the_others_succeeded_while_it_failed() -> None:
    loaded, catalog = config(Path("unused.db"), **QUORUM_ENV)
    journey, quorum = catalog.journeys[CANVAS], slo.quorum(loaded)
    assert quorum is not None
    now = T0 + 10 * MIN
    # The first failure of an outage: the others' last successes are older than it.
    first = [_seen("us-east-1", m.SUCCESS, now - 70, now - 65),
             _seen("ap-south-1", m.SUCCESS, now - 40, now - 35),
             _seen("eu-west-1", m.FAILURE, now - 20, now - 5)]  # fmt: skip
    verdict = blame(first, journey, quorum, now)
    assert not verdict.location_local and not verdict.platform
    assert verdict.describe("s") == ("failing from eu-west-1: not yet known whether it is the "
                                     "location's or s's (quorum 2); us-east-1, ap-south-1 not "
                                     "run since")  # fmt: skip
    # A minute later it still fails (its streak began at now - 20) and both others succeeded
    # since: that location's problem.
    later = [*first, _seen("us-east-1", m.SUCCESS, now + 5, now + 10),
             _seen("ap-south-1", m.SUCCESS, now + 30, now + 35),
             _seen("eu-west-1", m.FAILURE, now + 40, now + 55)]  # fmt: skip
    verdict = blame(later, journey, quorum, now + 60)
    assert verdict.location_local
    # One of them succeeded since, the other failed too: the platform.
    spread = [*first, _seen("us-east-1", m.FAILURE, now + 5, now + 10)]
    assert blame(spread, journey, quorum, now + 60).platform
