"""Journey-down monitors: the exported query evaluated on stored runs from three locations (one
scheduled run a minute each, frozen clock). N = 2 of 3: one failing location does not page, two
failing in each of 2 minutes do (the shipped `consecutive` rule); the `average` rule and
per-journey settings come from `slo export --rules`.

Run i finishes 10 s into its 60 s bucket (T0 is 40 s past a whole minute), so at evaluation
minute 1441 + j the complete buckets of a 5-minute window hold runs 1435 + j .. 1439 + j."""

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


def test_two_of_three_failing_page_within_three_minutes_and_recover(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    outage_at("eu-west-1", "us-east-1")(store)
    start, end = T0 + DAY * MIN, T0 + (DAY + 30) * MIN
    # The shipped rule with three locations: two of them in each of the last 2 buckets, runs
    # 1440-1441, at minute 1443. Recovery: neither bucket at two, runs 1470-1471, minute 1473.
    assert down_alerts(store) == [(start + 3 * MIN, end + 3 * MIN)]


AVERAGE = "name: average\njourney_down: {rule: average, for: 5m}\n"


def test_the_average_rule_over_five_minutes_pages_later_and_lets_three_minutes_pass(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(AVERAGE)
    start, end = T0 + DAY * MIN, T0 + (DAY + 30) * MIN
    long = tmp_path / "long.db"
    outage_at("eu-west-1", "us-east-1")(long)
    # Critical: 2 x (5 - 1) = 8 failing locations summed over the 5 buckets, so 4 of them at
    # two locations: runs 1439-1443 at minute 1445. Recovery below 2 x 5 / 2 = 5: at most 2
    # failing buckets of 5, runs 1468-1472, at minute 1474.
    assert down_alerts(long, rules) == [(start + 5 * MIN, end + 4 * MIN)]
    short = tmp_path / "short.db"
    outage_at("eu-west-1", "us-east-1", minutes=3)(short)  # 3 buckets of 5: 6 < 8
    assert down_alerts(short, rules) == []
    assert down_alerts(short) != []  # the shipped rule pages a 3-minute outage: its price


def test_per_journey_settings_from_the_rules_file(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    outage_at("us-east-1")(store)
    rules = tmp_path / "rules.yaml"
    rules.write_text("name: one-location\njourney_down:\n  journeys:\n"
                     f"    {CANVAS}: {{min_locations: 1, for: 3m}}\n")  # fmt: skip
    start = T0 + DAY * MIN
    # N = 1 over three buckets: critical 2 (2 of 3 buckets), from minute 1443; recovery below
    # 1.5 (at most 1 of 3), from minute 1473.
    assert down_alerts(store, rules) == [(start + 3 * MIN, start + 33 * MIN)]
    # The export writes the same rule.
    out = io.StringIO()
    loaded, catalog = config(store)
    slo.export(loaded, catalog, fmt="datadog-json", env=None, out_dir=None,
               locations=list(LOCATIONS), notify_page="", notify_ticket="", rules_path=rules,
               stdout=out)  # fmt: skip
    monitors = {mon["name"]: mon for mon in json.loads(out.getvalue())["monitors"]}
    canvas = monitors["frontend-monolith_workflow_canvas_load_runs_journey_down_prod"]
    # A sum over the window, not an average: Datadog averages the points present only, so an
    # avg would fire on the first failing bucket after a quiet spell (no point is no failure).
    assert canvas["query"].startswith("sum(last_3m):count_nonzero(") and canvas["query"].endswith(
        "by {location}.as_count().rollup(sum, 60)) >= 2"
    )
    assert canvas["options"]["thresholds"] == {"critical": 2.0, "critical_recovery": 1.5}
    other = monitors["workflow-service_workflow_crud_api_runs_journey_down_prod"]
    assert other["query"].endswith("- 1, 0), 1) >= 2") and other["options"]["thresholds"] == {
        "critical": 2.0,
        "critical_recovery": 1.0,
    }
    assert other["options"]["on_missing_data"] == "resolve"


def test_one_failed_run_at_every_location_does_not_page_and_the_query_says_why(
    tmp_path: Path,
) -> None:
    blip = tmp_path / "blip.db"
    outage_at(*LOCATIONS, minutes=1)(blip)  # every location fails one run
    assert down_alerts(blip) == []
    # The shipped rule's bucket value in Datadog's language: 1 when at least 2 locations
    # failed, else 0; summed over the last 2 buckets, it pages at 2.
    out = io.StringIO()
    loaded, catalog = config(blip)
    slo.export(loaded, catalog, fmt="datadog-json", env=None, out_dir=None,
               locations=list(LOCATIONS), notify_page="", notify_ticket="", rules_path=None,
               stdout=out)  # fmt: skip
    monitors = {mon["name"]: mon for mon in json.loads(out.getvalue())["monitors"]}
    query = monitors["frontend-monolith_workflow_canvas_load_runs_journey_down_prod"]["query"]
    assert query.startswith("sum(last_2m):clamp_max(clamp_min(count_nonzero(sum:cuj.journey.runs")
    assert query.endswith(".rollup(sum, 60)) - 1, 0), 1) >= 2")
