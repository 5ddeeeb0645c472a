"""Journey-down monitors: the exported query evaluated on stored runs from three locations (one
scheduled run a minute each, frozen clock). N = 2 of 3: one failing location does not page, two
failing for the window do; per-journey settings come from `slo export --rules`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from prober.commands import slo
from tests.slo_runs import MIN, T0, config, fill

DAY = 1440
CANVAS = "workflow_canvas_load"
LOCATIONS = ("eu-west-1", "us-east-1", "ap-south-1")


def down_alerts(store: Path, rules: Path | None = None) -> list[tuple[float, float | None]]:
    loaded, catalog = config(store)
    out = io.StringIO()
    slo.backtest(loaded, catalog, patterns=[CANVAS], env=None, start=T0 + DAY * MIN,
                 end=T0 + (DAY + 60) * MIN, last_s=0, incidents_path=None, rules_path=rules,
                 time_scale=1.0, grace_s=0.0, as_json=True, stdout=out)  # fmt: skip
    reports: list[dict[str, Any]] = [json.loads(line) for line in out.getvalue().splitlines()]
    report = reports[-1]
    return [(a["fired_at"], a["recovered_at"]) for a in report["alerts"]
            if a["monitor_type"] == "journey_down"]  # fmt: skip


def outage_at(*failing: str, minutes: int = 30) -> Any:
    def fill_all(path: Path) -> None:
        for location in LOCATIONS:

            def kind(i: int, broken: bool = location in failing) -> str:
                return "fail" if broken and DAY <= i < DAY + minutes else "ok"

            fill(path, CANVAS, range(DAY - 30, DAY + 60), kind, location=location)

    return fill_all


def test_one_of_three_locations_failing_does_not_page(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    outage_at("us-east-1")(store)  # a local network problem, 30 minutes long
    assert down_alerts(store) == []


def test_two_of_three_failing_for_five_minutes_pages_and_recovers(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    outage_at("eu-west-1", "us-east-1")(store)
    start, end = T0 + DAY * MIN, T0 + (DAY + 30) * MIN
    # Run i finishes 10 s into its 60 s bucket (T0 is 40 s past a whole minute). At minute
    # 1440 + 6 the five complete buckets of the last 5 min are runs 1440-1444: all failed at
    # two locations. A complete bucket with no failure (run 1470) clears it at minute 1472.
    assert down_alerts(store) == [(start + 6 * MIN, end + 2 * MIN)]


def test_a_four_minute_outage_at_two_locations_does_not_page(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    outage_at("eu-west-1", "us-east-1", minutes=4)(store)
    assert down_alerts(store) == []


def test_per_journey_settings_from_the_rules_file(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    outage_at("us-east-1")(store)
    rules = tmp_path / "rules.yaml"
    rules.write_text("name: one-location\njourney_down:\n  journeys:\n"
                     f"    {CANVAS}: {{min_locations: 1, for: 3m}}\n")  # fmt: skip
    start = T0 + DAY * MIN
    assert down_alerts(store, rules) == [(start + 4 * MIN, start + 32 * MIN)]
    # The export writes the same rule.
    out = io.StringIO()
    loaded, catalog = config(store)
    slo.export(loaded, catalog, fmt="datadog-json", env=None, out_dir=None,
               locations=list(LOCATIONS), notify_page="", notify_ticket="", rules_path=rules,
               stdout=out)  # fmt: skip
    monitors = {mon["name"]: mon for mon in json.loads(out.getvalue())["monitors"]}
    canvas = monitors["frontend-monolith_workflow_canvas_load_runs_journey_down_prod"]
    assert canvas["query"].startswith("min(last_3m):count_nonzero(") and canvas["query"].endswith(
        "by {location}.as_count().rollup(sum, 60)) >= 1"
    )
    assert "critical_recovery" not in canvas["options"]["thresholds"]
    other = monitors["workflow-service_workflow_crud_api_runs_journey_down_prod"]
    assert other["query"].endswith(">= 2") and other["options"]["thresholds"] == {
        "critical": 2.0,
        "critical_recovery": 1.0,
    }
    assert other["options"]["on_missing_data"] == "resolve"
