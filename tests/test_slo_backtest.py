"""`prober slo backtest`: the exported alert rules replayed on stores of known outcomes (one
scheduled run a minute, frozen clock), against expectations worked out by hand."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from prober.commands import slo
from prober.slo import datadog_json, spec
from prober.slo.incidents import IncidentError
from tests.prober_cli import ROOT, prober
from tests.slo_runs import MIN, T0, config, fill

DAY = 1440  # runs a day at one a minute
CANVAS = "workflow_canvas_load"  # slo_target 0.995: the fast burn (14.4x) needs > 7.2% bad
RUN_API = "workflow_run_api"  # slo_target 0.99


def backtest(
    store: Path, end_minute: int, *, incidents: Path | None = None, rules: Path | None = None
) -> list[dict[str, Any]]:
    loaded, catalog = config(store)
    out = io.StringIO()
    code = slo.backtest(
        loaded, catalog, patterns=[], env=None, start=T0 + DAY * MIN,
        end=T0 + end_minute * MIN, last_s=0, incidents_path=incidents, rules_path=rules,
        time_scale=1.0, grace_s=0.0, as_json=True, stdout=out,
    )  # fmt: skip
    assert code == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def alerts_of(report: dict[str, Any], monitor_part: str) -> list[tuple[float, float | None]]:
    return [(a["fired_at"], a["recovered_at"]) for a in report["alerts"]
            if monitor_part in a["monitor"]]  # fmt: skip


def outage(start: int, length: int) -> Any:
    return lambda i: "fail" if start <= i < start + length else "ok"


def write_incidents(path: Path, rows: list[tuple[float, float, str, str]]) -> Path:
    lines = ["start,end,journey,service,label"]
    lines += [f"{s:.0f},{e:.0f},{j},,{label}" for s, e, j, label in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def hard_outage(tmp_path: Path) -> Path:
    """A day of healthy canvas runs, then 30 failed runs (minutes 1440-1469), then healthy."""
    path = tmp_path / "results.db"
    fill(path, CANVAS, range(DAY + 240), outage(DAY, 30))
    return path


def test_a_hard_outage_pages_through_the_fast_burn_after_five_runs(
    hard_outage: Path, tmp_path: Path
) -> None:
    start, end = T0 + DAY * MIN, T0 + (DAY + 30) * MIN
    incidents = write_incidents(tmp_path / "inc.csv", [(start, end, CANVAS, "hard outage")])
    [report] = backtest(hard_outage, DAY + 240, incidents=incidents)
    fast = "workflow_canvas_load_availability_fast_burn"
    # At minute 1440+k the 1h window holds 60 runs, k of them failed: 5/60 = 8.3% > 7.2% first
    # at k = 5 (4/60 = 6.7%), and the 5m window is all failures. It recovers once the 5m window
    # holds no failure: the last failed run finishes at minute 1469.5, so at minute 1475.
    assert alerts_of(report, fast) == [(start + 5 * MIN, end + 5 * MIN)]
    # Failed runs are not in the latency SLO's denominator (successful runs only): the outage
    # pages once, through availability, and the latency SLO stays quiet.
    assert [a for a in report["alerts"] if "_latency_" in a["monitor"]] == []
    # Medium (6x over 6h/30m: > 3% of 360 runs) needs 11 failed runs, slow (3x over 24h/2h:
    # > 1.5% of 1440) 22; the 30-day budget (90% of 0.5%) is spent at 7 of 1447 runs.
    assert alerts_of(report, "availability_medium_burn")[0][0] == start + 11 * MIN
    assert alerts_of(report, "availability_slow_burn")[0][0] == start + 22 * MIN
    assert alerts_of(report, "availability_error_budget") == [(start + 7 * MIN, None)]
    [incident] = report["incidents"]
    assert incident["detected"] and incident["time_to_detect_s"] == 5 * MIN
    assert incident["still_firing"]  # the 30-day budget does not come back within the period
    overall = report["overall"]
    assert (overall["incidents"], overall["detected"], overall["false_negatives"]) == (1, 1, 0)
    # Journey-down (one location: N = 1; 60 s buckets, 5 min): 4 of the last 5 complete
    # buckets hold a failure at minute 1445; fewer than half of them (2 of 5) at minute 1474.
    assert alerts_of(report, "runs_journey_down") == [(start + 5 * MIN, end + 4 * MIN)]
    assert overall["alerts"] == 5 and overall["false_positive_alerts"] == 0
    # fast + medium burns and journey-down page; the slow burn and the budget are tickets
    assert (overall["pages"], overall["tickets"]) == (3, 2)
    assert overall["mean_time_to_detect_s"] == overall["p95_time_to_detect_s"] == 5 * MIN


def test_a_two_run_blip_does_not_page(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    fill(path, CANVAS, range(DAY + 120), outage(DAY + 10, 2))
    start, end = T0 + (DAY + 10) * MIN, T0 + (DAY + 12) * MIN
    incidents = write_incidents(tmp_path / "inc.yaml", [])
    incidents.write_text(f"- {{start: {start:.0f}, end: {end:.0f}, journey: {CANVAS}}}\n")
    [report] = backtest(path, DAY + 120, incidents=incidents)
    # 2/60 = 3.3% in the hour (< 7.2%), 2/360 in 6 h, 2/1440 in a day; 2 of a 7.3-run budget.
    assert report["alerts"] == []
    assert report["overall"]["false_negatives"] == 1 and report["overall"]["pages"] == 0


def test_a_slow_five_percent_failure_rate_raises_only_tickets(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    # From minute 1440 every 20th run fails (1459, 1479, ...): 5% = 5x burn at 99%.
    fill(path, RUN_API, range(DAY + 1000), lambda i: "fail" if i >= DAY and i % 20 == 19 else "ok")
    [report] = backtest(path, DAY + 1000)
    assert report["overall"]["pages"] == 0
    assert {a["severity"] for a in report["alerts"]} == {"ticket"}
    # Slow burn: the 24h window must hold > 3% of 1440 = 44 failures; the 44th is run
    # 1459 + 43*20 = 2319, in the window from minute 2320 (the 2h window then holds 6/120 = 5%).
    assert alerts_of(report, "availability_slow_burn") == [(T0 + 2320 * MIN, None)]


def test_false_positives_and_negatives_are_counted_exactly(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    fill(path, CANVAS, range(DAY + 240), outage(DAY, 30))  # an outage nobody declared
    fill(path, RUN_API, range(DAY + 240), lambda i: "ok")  # declared, but nothing failed
    fill(path, "workflow_crud_api", range(DAY + 240), outage(DAY + 60, 30))  # declared, real
    declared = [
        (T0 + (DAY + 100) * MIN, T0 + (DAY + 130) * MIN, RUN_API, "phantom"),
        (T0 + (DAY + 60) * MIN, T0 + (DAY + 90) * MIN, "workflow_crud_api", "real"),
    ]
    [report] = backtest(path, DAY + 240, incidents=write_incidents(tmp_path / "i.csv", declared))
    rows = {r["row"]: r for r in report["rows"]}
    # The canvas outage raises its five alerts (3 burns + budget + journey-down): all false.
    assert (rows[CANVAS]["alerts"], rows[CANVAS]["false_positive_alerts"]) == (5, 5)
    assert rows[CANVAS]["incidents"] == 0 and rows[CANVAS]["alignment"] is None
    assert (rows[RUN_API]["incidents"], rows[RUN_API]["false_negatives"]) == (1, 1)
    assert rows[RUN_API]["alerts"] == 0
    crud = rows["workflow_crud_api"]  # 0.995 too: the same five alerts, all matching
    assert (crud["incidents"], crud["detected"], crud["alerts"], crud["false_positive_alerts"]) \
        == (1, 1, 5, 0)  # fmt: skip
    assert crud["mean_time_to_detect_s"] == 5 * MIN
    overall = report["overall"]
    assert (overall["incidents"], overall["detected"], overall["false_negatives"]) == (2, 1, 1)
    assert overall["alignment"] == 0.5
    assert (overall["alerts"], overall["false_positive_alerts"]) == (10, 5)
    assert overall["false_positive_rate"] == 0.5


def test_the_probe_error_rate_alert_is_evaluated_and_routed_to_the_prober(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    # From minute 1450 every run is a prober fault: the SLOs see nothing, the prober monitor
    # fires when more than half of the 30-minute window is probe_error: 16 of 30, minute 1466.
    fill(path, CANVAS, range(DAY + 60), lambda i: "probe" if i >= DAY + 10 else "ok")
    inc = write_incidents(tmp_path / "i.csv", [])
    inc.write_text(f"start,end,journey,service,label\n{T0 + (DAY + 10) * MIN:.0f},"
                   f"{T0 + (DAY + 60) * MIN:.0f},,cuj-prober,browser gone\n")  # fmt: skip
    [report] = backtest(path, DAY + 60, incidents=inc)
    probe = [a for a in report["alerts"] if a["monitor_type"] == "probe_error_rate"]
    assert [(a["fired_at"], a["recovered_at"], a["severity"], a["group"]) for a in probe] == [
        (T0 + (DAY + 26) * MIN, None, "page",
         f"journey:{CANVAS},location:eu-west-1"),
    ]  # fmt: skip
    assert [a for a in report["alerts"] if a["monitor_type"] != "probe_error_rate"] == []
    prober_row = next(r for r in report["rows"] if r["row"] == "cuj-prober")
    assert (prober_row["incidents"], prober_row["detected"], prober_row["alerts"]) == (1, 1, 1)
    assert prober_row["mean_time_to_detect_s"] == 16 * MIN


def test_one_definition_feeds_export_and_backtest(
    hard_outage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, catalog = config(hard_outage)
    journeys = [catalog.journeys[CANVAS]]
    fast = "workflow_canvas_load_availability_fast_burn"
    before = backtest(hard_outage, DAY + 240)[0]
    assert alerts_of(before, fast)[0][0] == T0 + (DAY + 5) * MIN
    lower = dataclasses.replace(spec.SHIPPED.burn_rates[0], threshold=10.0)
    monkeypatch.setattr(spec, "SHIPPED", dataclasses.replace(
        spec.SHIPPED, burn_rates=(lower, *spec.SHIPPED.burn_rates[1:])))  # fmt: skip
    # The export writes the new threshold ...
    body = json.loads(datadog_json.dumps(spec.build(journeys, "prod", ["eu-west-1"])))
    queries = [mon["query"] for mon in body["monitors"] if "fast_burn" in mon["name"]]
    assert queries and all(q.endswith('.short_window("5m") > 10') for q in queries)
    # ... and the backtest evaluates it: 10x of 0.5% is 5%, passed at 4 of 60 runs (6.7%).
    after = backtest(hard_outage, DAY + 240)[0]
    assert alerts_of(after, fast)[0][0] == T0 + (DAY + 4) * MIN


def test_rules_alternatives_on_the_same_data(hard_outage: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- name: fast-only\n"
        "  burn_rates: [{name: fast, long_window: 1h, short_window: 5m, threshold: 14.4,"
        " severity: page}]\n"
        "  error_budget: {critical: 100}\n"
        "- name: strict\n"
        "  slo_target: 0.999\n"
    )
    shipped, fast_only, strict = backtest(hard_outage, DAY + 240, rules=rules)
    assert [r["candidate"] for r in (shipped, fast_only, strict)] == ["shipped", "fast-only",
                                                                       "strict"]  # fmt: skip
    assert {a["monitor"].split("_")[-3] for a in fast_only["alerts"]} == {
        "fast",
        "error",
        "journey",
    }
    # at 99.9% the fast burn needs > 1.44% of 60 runs: the first failure pages
    assert alerts_of(strict, "availability_fast_burn")[0][0] == T0 + (DAY + 1) * MIN


def test_the_command_line(hard_outage: Path, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SANDBOX_PASSWORD": "unused",
        "PROBER_STORE__PATH": str(hard_outage),
        "PROBER_ENV": "prod",
    }
    incidents = write_incidents(tmp_path / "inc.csv", [(T0 + DAY * MIN, T0 + (DAY + 30) * MIN,
                                                        CANVAS, "hard outage")])  # fmt: skip
    period = ["--from", f"{T0 + DAY * MIN:.0f}", "--to", f"{T0 + (DAY + 240) * MIN:.0f}"]
    done = prober("slo", "backtest", *period, "--incidents", str(incidents), env=env)
    assert done.returncode == 0, done.stderr
    assert "fast_burn" in done.stdout and "hard outage" in done.stdout
    assert "100%" in done.stdout  # alignment
    bad = tmp_path / "bad.csv"
    bad.write_text("start,end,journey\nyesterday,2026-01-01T00:00:00Z,x\n")
    for args, message in (
        (["--incidents", str(bad)], f"{bad}: incident 1: start: 'yesterday' is not a time"),
        (["--last", "7x"], "--last '7x' is not a duration"),
        (["--time-scale", "0.5"], "--time-scale '0.5' is out of range"),
        (["--rules", str(ROOT / "prober.yaml")], "unknown field(s)"),
    ):
        done = prober("slo", "backtest", *args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_malformed_window_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SANDBOX_PASSWORD": "unused",
        "PROBER_STORE__PATH": str(tmp_path / "r.db"),
    }
    for args in (["status", "--window", "30x"], ["status", "--window", "0s"],
                 ["gate", "--timeout", "soon"], ["backtest", "--grace=-1m"]):  # fmt: skip
        done = prober("slo", *args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith(f"prober: {args[1].split('=')[0]} "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_an_incident_naming_an_unknown_journey_or_service_is_an_error(tmp_path: Path) -> None:
    # It used to be scored as an incident nothing detected (a false negative), exit 0.
    store = tmp_path / "results.db"
    fill(store, CANVAS, range(DAY + 60), lambda i: "ok")
    typo = write_incidents(tmp_path / "i.csv", [(T0, T0 + 60, "workflow_canvas_lod", "typo")])
    with pytest.raises(IncidentError) as raised:
        backtest(store, DAY + 60, incidents=typo)
    message = str(raised.value)
    assert message.startswith(f"{typo}: incident 1: journey: no journey 'workflow_canvas_lod'")
    assert f"the known ones are {CANVAS}, " in message
    service = tmp_path / "s.yaml"
    service.write_text(f"- {{start: {T0:.0f}, end: {T0 + 60:.0f}, service: billing}}\n")
    with pytest.raises(IncidentError, match=r"service: no service 'billing' is configured; the "
                       r"known ones are cuj-prober, frontend-monolith, "):  # fmt: skip
        backtest(store, DAY + 60, incidents=service)
