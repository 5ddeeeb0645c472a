"""Maintenance windows in `slo status`, the gate and the backtest: the runs of a window are out
of the SLOs, as the exported SLO corrections take them out in Datadog."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from prober.commands import slo
from tests.slo_runs import MIN, T0, config, fill

DAY = 1440
CANVAS = "workflow_canvas_load"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def window(first_minute: int, minutes: int, journeys: str = CANVAS) -> str:
    start, end = T0 + first_minute * MIN, T0 + (first_minute + minutes) * MIN
    return (
        f"[{{name: upgrade, start: '{_iso(start)}', end: '{_iso(end)}', journeys: [{journeys}]}}]"
    )


def test_an_outage_inside_a_window_spends_no_budget_and_raises_no_alert(tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    fill(store, CANVAS, range(DAY + 120), lambda i: "fail" if DAY <= i < DAY + 30 else "ok")
    for windows, alerts in (
        (window(DAY, 30), 0),
        ("[]", 4),
        (window(DAY, 30, "workflow_run_*"), 4),
    ):
        loaded, catalog = config(store, PROBER_MAINTENANCE=windows)
        out = io.StringIO()
        slo.backtest(loaded, catalog, patterns=[CANVAS], env=None, start=T0 + DAY * MIN,
                     end=T0 + (DAY + 120) * MIN, last_s=0, incidents_path=None, rules_path=None,
                     time_scale=1.0, grace_s=0.0, as_json=True, stdout=out)  # fmt: skip
        [report] = [json.loads(line) for line in out.getvalue().splitlines()]
        burns = [a["monitor"] for a in report["alerts"] if a["monitor_type"] != "journey_down"]
        assert len(burns) == alerts, (windows, burns)
        out = io.StringIO()
        slo.status(loaded, catalog, window="1d", window_s=86400.0, env=None, as_json=True,
                   now=T0 + (DAY + 120) * MIN, stdout=out)  # fmt: skip
        [row] = [json.loads(line) for line in out.getvalue().splitlines()]
        availability = row["availability"]
        if alerts:  # 30 failed of the day's 1440 runs
            assert (availability["good"], availability["total"]) == (1410, 1440)
        else:  # the window's 30 runs are out of the SLO
            assert (availability["good"], availability["total"]) == (1410, 1410)
            assert availability["firing"] == []
