"""`prober slo export`: golden files per format, Terraform that parses and whose module calls
match the module, JSON the official Datadog models accept field by field."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from datadog_api_client import Configuration
from datadog_api_client.model_utils import OpenApiModel, validate_and_convert_types
from datadog_api_client.v1.model.monitor import Monitor
from datadog_api_client.v1.model.service_level_objective_request import (
    ServiceLevelObjectiveRequest,
)
from datadog_api_client.v1.model.slo_correction_create_request import (
    SLOCorrectionCreateRequest,
)

from prober import metrics as m
from prober.journey import Journey
from prober.loader import load_packs
from prober.maintenance import Maintenance, build_window
from prober.slo import datadog_json, openslo, spec, terraform
from prober.slo.lint import lint
from tests.prober_cli import ROOT, prober

GOLDEN = ROOT / "tests" / "golden" / "slo"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def journeys() -> list[Journey]:
    report = load_packs(["journeys/workflows"], base=ROOT)
    assert report.problems == ()
    return list(report.journeys)


WINDOWS = Maintenance((
    build_window(name="db-upgrade", start="2031-03-01T22:00", end="2031-03-02T01:30",
                 timezone="Europe/Berlin", journeys=["workflow_run_*"],
                 description="orchestration database upgrade, CHG-1234"),
    build_window(name="nightly-deploy", start="2031-01-06T23:30",
                 rrule_text="FREQ=WEEKLY;BYDAY=MO,TH", duration_s=3600,
                 timezone="America/New_York", journeys=["workflow_canvas_load"]),
))  # fmt: skip


def exported() -> spec.Export:
    return spec.build(journeys(), "prod", ["eu-west-1", "us-east-1"],
                      notify_page="@pagerduty-cuj", notify_ticket="@jira-sre",
                      maintenance=WINDOWS)  # fmt: skip


def files() -> dict[str, str]:
    built = exported()
    return {
        **{f"terraform/{k}": v for k, v in terraform.render(built).items()},
        "datadog.json": datadog_json.dumps(built),
        "openslo.yaml": openslo.render(built),
    }


def test_golden_files() -> None:
    produced = files()
    if UPDATE:
        for name, text in produced.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text, encoding="utf-8")
    stored = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file()}
    assert stored == set(produced), "regenerate with UPDATE_GOLDEN=1 and review the diff"
    for name, text in produced.items():
        assert (GOLDEN / name).read_text(encoding="utf-8") == text, name


def _tf(text: str) -> dict[str, Any]:
    return dict(hcl2.loads(text))


def _unquote(value: str) -> str:
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def test_terraform_parses_and_module_calls_match_the_module() -> None:
    rendered = terraform.render(exported())
    # Every .tf file parses; the dashboards' .json templates are JSON.
    parsed = {name: _tf(text) for name, text in rendered.items() if name.endswith(".tf")}
    assert all(json.loads(text) for name, text in rendered.items() if name.endswith(".json"))
    variables = {
        _unquote(name): body
        for block in parsed["modules/datadog_cuj_slo/variables.tf"]["variable"]
        for name, body in block.items()
    }
    required = {name for name, body in variables.items() if "default" not in body}
    calls = [
        (name, body)
        for block in parsed["main.tf"]["module"]
        for name, body in block.items()
    ]  # fmt: skip
    assert len(calls) == 5
    for name, body in calls:
        args = {k for k in body if k not in ("source", "__is_block__")}
        assert args <= set(variables), (name, args - set(variables))
        assert required <= args, (name, required - args)
        assert _unquote(body["source"]) == "./modules/datadog_cuj_slo"
    module = parsed["modules/datadog_cuj_slo/main.tf"]["resource"]
    kinds = [kind for block in module for kind in block]
    assert kinds.count('"datadog_service_level_objective"') == 2
    assert kinds.count('"datadog_monitor"') == 8  # 3 burn rates + 1 budget, per SLO
    # Every var.* the module uses is declared.
    used = set()
    for path in ("main.tf", "outputs.tf"):
        used |= set(re.findall(r"var\.([a-z_]+)", rendered[f"modules/datadog_cuj_slo/{path}"]))
    assert used <= set(variables)


def test_the_export_passes_its_own_lint(tmp_path: Path) -> None:
    done = prober("slo", "export", "--format", "terraform", "--env", "prod", "--out",
                  str(tmp_path), "--prober-team", "observability",
                  env={"PATH": "/usr/bin:/bin", "SANDBOX_PASSWORD": "x"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "10 SLOs, 47 monitors for 5 journeys in env prod" in done.stdout
    assert lint(tmp_path) == []
    root = (tmp_path / "main.tf").read_text()
    heartbeat = root[root.index('resource "datadog_monitor" "cuj_prober_heartbeat') :]
    assert '"service:cuj-prober", "team:observability"' in heartbeat
    # The probe_error-rate monitor goes to the prober's owners too.
    probe = root[root.index('resource "datadog_monitor" "cuj_prober_runs_probe_error_rate') :]
    probe = probe[: probe.index("\n}\n")]
    assert '"service:cuj-prober", "team:observability"' in probe
    assert "monitor_type:probe_error_rate" in probe


def _strict(model: Any, path: str = "") -> None:
    """Every field is one the model declares, and nothing fell back to 'unparsed'."""
    assert not getattr(model, "_unparsed", False), path
    if isinstance(model, OpenApiModel):
        for key, value in model._data_store.items():
            assert key in model.openapi_types, f"{path}.{key} is not a Datadog field"
            _strict(value, f"{path}.{key}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            _strict(item, f"{path}[{i}]")


def test_datadog_json_round_trips_through_the_client_models() -> None:
    body = json.loads(datadog_json.dumps(exported()))
    config = Configuration()
    assert len(body["slos"]) == 10 and len(body["monitors"]) == 48
    for data in body["slos"]:
        model = validate_and_convert_types(data, (ServiceLevelObjectiveRequest,), ["slo"], True,
                                           True, config)  # fmt: skip
        _strict(model, data["name"])
        assert model.to_dict() == data
        assert data["type"] == "metric"
        assert {t["timeframe"] for t in data["thresholds"]} == {"30d", "7d"}
        assert f"trigger:{m.SCHEDULE_TRIGGER}" in data["query"]["denominator"]
        if data["name"].endswith("_latency_prod"):  # successful runs only
            assert f"{m.STATUS}:{m.SUCCESS}" in data["query"]["denominator"]
        else:
            assert f"!status:{m.PROBE_ERROR}" in data["query"]["denominator"]
    for data in body["monitors"]:
        model = validate_and_convert_types(data, (Monitor,), ["monitor"], True, True, config)
        _strict(model, data["name"])
        assert model.to_dict() == data
    # The checker itself catches what Datadog would refuse.
    wrong = {**body["slos"][0], "target_30d": 99.5}
    with pytest.raises(AssertionError, match="not a Datadog field"):
        _strict(validate_and_convert_types(wrong, (ServiceLevelObjectiveRequest,), ["slo"],
                                           True, True, config))  # fmt: skip
    bad_frame = {**body["slos"][0], "thresholds": [{"timeframe": "5d", "target": 99.5}]}
    with pytest.raises(AssertionError):
        _strict(validate_and_convert_types(bad_frame, (ServiceLevelObjectiveRequest,), ["slo"],
                                           True, True, config))  # fmt: skip


def test_queries_names_and_alerts_follow_the_contract() -> None:
    built = exported()
    canvas = next(s for s in built.slos if s.journey == "workflow_canvas_load"
                  and s.slo_type == spec.AVAILABILITY)  # fmt: skip
    assert canvas.name == "cuj_slo_frontend-monolith_workflow_canvas_load_prod"
    assert canvas.numerator == (
        "sum:cuj.journey.runs{journey:workflow_canvas_load,env:prod,trigger:schedule,"
        "status:success}.as_count()"
    )
    assert canvas.denominator == (
        "sum:cuj.journey.runs{journey:workflow_canvas_load,env:prod,trigger:schedule,"
        "!status:probe_error}.as_count()"
    )
    assert canvas.target == 99.5 and canvas.warning == 99.75
    for heading in ("What:", "Why:", "How:", "Runbook: https://"):
        assert heading in canvas.description
    latency = next(s for s in built.slos if s.journey == "workflow_canvas_load"
                   and s.slo_type == spec.LATENCY)  # fmt: skip
    assert latency.name == "cuj_slo_frontend-monolith_workflow_canvas_load_latency_prod"
    assert latency.numerator.endswith("status:success,within_slo:true}.as_count()")
    assert latency.denominator == (
        "sum:cuj.journey.runs{journey:workflow_canvas_load,env:prod,trigger:schedule,"
        "status:success}.as_count()"
    )
    monitors = [mon for mon in built.monitors if mon.slo == canvas]
    assert [(mon.burn_rate.long_window, mon.burn_rate.short_window, mon.critical, mon.severity)
            for mon in monitors if mon.burn_rate] == [
        ("1h", "5m", 14.4, "page"), ("6h", "30m", 6.0, "page"), ("24h", "2h", 3.0, "ticket"),
    ]  # fmt: skip
    assert all(mon.datadog_type == "slo alert" for mon in monitors)
    assert all(b.long_hours <= spec.MAX_LONG_WINDOW_H for b in spec.SHIPPED.burn_rates)
    heartbeats = [mon for mon in built.monitors if mon.monitor_type == "no_data"]
    assert [mon.name for mon in heartbeats] == [
        "cuj-prober_heartbeat_no_data_eu-west-1_prod",
        "cuj-prober_heartbeat_no_data_us-east-1_prod",
    ]
    assert heartbeats[0].query == (
        "max(last_2m):sum:cuj.prober.heartbeat{env:prod,location:eu-west-1} < 1"
    )
    [probe] = [mon for mon in built.monitors if mon.monitor_type == "probe_error_rate"]
    assert probe.query == (
        "sum(last_30m):sum:cuj.journey.runs{env:prod,trigger:schedule,status:probe_error} "
        "by {journey,location}.as_count() / sum:cuj.journey.runs{env:prod,trigger:schedule} "
        "by {journey,location}.as_count() > 0.5"
    )
    assert (probe.name, probe.severity, probe.critical, probe.warning) == (
        "cuj-prober_runs_probe_error_rate_prod", "page", 0.5, 0.2,
    )  # fmt: skip
    assert "team:sre" in probe.tags and "@pagerduty-cuj" in probe.message
    # The error-budget policy is in every SLO's description and OpenSLO annotation.
    assert canvas.description.endswith(
        "Error-budget policy (owner web-platform): 25% of the budget left or less: warn the "
        "owner; budget exhausted: freeze deploys of frontend-monolith; burn rate above 6x over "
        "24h: require a post-mortem."
    )
    parsed = list(yaml.safe_load_all(openslo.render(built)))
    slo_docs = [d for d in parsed if d["kind"] == "SLO"]
    assert len(slo_docs) == 10 and all(d["apiVersion"] == "openslo/v1" for d in parsed)
    assert {d["spec"]["objectives"][0]["target"] for d in slo_docs} == {0.99, 0.995}
    assert all(
        d["metadata"]["annotations"]["cuj-prober/budget-policy"].startswith(
            "Error-budget policy (owner "
        )
        for d in slo_docs
    )


def test_an_impossible_burn_rate_is_a_clear_error(tmp_path: Path) -> None:
    loose = journeys()[0].replace(slo_target=0.9)
    with pytest.raises(spec.SloError) as caught:
        spec.build([loose], "prod", ["eu-west-1"])
    message = str(caught.value)
    assert f"journey {loose.name!r}: slo_target 0.9 allows burn rates up to 10.00x" in message
    assert "fast burn-rate alert needs 14.4x" in message and "at least 0.9306" in message
    done = prober(
        "slo", "export", "--format", "terraform", "--out", str(tmp_path / "tf"),
        env={"PATH": "/usr/bin:/bin", "PROBER_JOURNEYS": f"[{ROOT / 'tests/packs/loose'}]",
             "SANDBOX_PASSWORD": "x"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "slo_target 0.9 allows burn rates up to 10.00x" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "tf").exists()  # nothing half-written


def test_maintenance_windows_become_slo_corrections() -> None:
    built = exported()
    # db-upgrade covers workflow_run_api and workflow_run_browser, nightly-deploy the canvas:
    # three journeys, two SLOs each.
    assert sorted(c.key for c in built.corrections) == sorted(
        f"{j}_{t}_{w}" for j, w in (("workflow_run_api", "db_upgrade"),
                                    ("workflow_run_browser", "db_upgrade"),
                                    ("workflow_canvas_load", "nightly_deploy"))
        for t in ("availability", "latency")
    )  # fmt: skip
    tf = dict(hcl2.loads(terraform.render(built)["corrections.tf"]))
    bodies = {_unquote(name): body for block in tf["resource"]
              for kind, named in block.items() for name, body in named.items()}  # fmt: skip
    one_off = bodies["workflow_run_api_latency_db_upgrade"]
    assert one_off["slo_id"] == "${module.cuj_workflow_run_api.latency_slo_id}"
    assert _unquote(one_off["category"]) == "Scheduled Maintenance"
    # 22:00-01:30 Berlin winter time (UTC+1) = 21:00-00:30 UTC.
    assert (one_off["start"], one_off["end"]) == (1930165200, 1930177800)
    assert "rrule" not in one_off and "duration" not in one_off
    assert "CHG-1234" in one_off["description"]
    recurring = bodies["workflow_canvas_load_availability_nightly_deploy"]
    assert _unquote(recurring["rrule"]) == "FREQ=WEEKLY;BYDAY=MO,TH"
    assert recurring["duration"] == 3600 and "end" not in recurring
    assert _unquote(recurring["timezone"]) == "America/New_York"
    assert recurring["start"] == 1925526600  # Monday 6 Jan 2031 23:30 EST = Tue 04:30 UTC
    # The API bodies go through the client's model, field by field.
    config = Configuration()
    body = json.loads(datadog_json.dumps(built))
    assert len(body["corrections"]) == 6
    for data in body["corrections"]:
        model = validate_and_convert_types(data, (SLOCorrectionCreateRequest,), ["c"], True,
                                           True, config)  # fmt: skip
        _strict(model, "correction")
        assert model.to_dict() == data
        assert data["data"]["attributes"]["slo_id"].startswith("{{slo_id:cuj_slo_")
