"""The repository's own prober.yaml stays true to the reference platform it targets."""

from __future__ import annotations

from pathlib import Path

import yaml

from prober.loader import load_packs
from prober.sandbox.services import service_for_path
from prober.target import ServiceMap
from tests.targets import ROUTES

ROOT = Path(__file__).resolve().parent.parent


def test_route_map_matches_the_platform() -> None:
    config = yaml.safe_load((ROOT / "prober.yaml").read_text())
    services = config["targets"]["sandbox"]["services"]
    assert services == ROUTES
    route_map = ServiceMap.from_mapping(services)
    for path in ["/", "/login", "/workflows/wf_1", "/static/app.js", "/api/workflows",
                 "/api/workflows/wf_1", "/api/workflows/wf_1/runs", "/api/runs/run_1",
                 "/api/optimize", "/api/auth/login"]:  # fmt: skip
        assert route_map.service_for(path) == service_for_path(path), path


def test_configured_packs_load_cleanly() -> None:
    config = yaml.safe_load((ROOT / "prober.yaml").read_text())
    report = load_packs(config["journeys"], base=ROOT)
    assert report.problems == ()
    assert len(report.journeys) == 5
    assert config["targets"]["sandbox"]["password"].startswith("${")  # never a literal secret
