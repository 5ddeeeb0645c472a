"""Maintenance windows on a frozen clock: one-off, recurring across midnight and across daylight
saving changes (zoneinfo), cron, overlaps and malformed windows rejected by `prober validate`,
and `prober run` saying that it runs inside a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from prober.maintenance import Maintenance, WindowError, build_window, covered, notices
from tests.prober_cli import ROOT, prober

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M")


def nightly() -> Maintenance:
    """23:00-01:00 Berlin time, every night, for the run journeys on every target."""
    window = build_window(name="nightly", start="2025-01-01T23:00", timezone="Europe/Berlin",
                          rrule_text="FREQ=DAILY", duration_s=2 * HOUR,
                          journeys=["workflow_run_*"])  # fmt: skip
    return Maintenance((window,))


def test_a_recurring_window_across_midnight_and_the_autumn_clock_change() -> None:
    windows = nightly()
    # Saturday 25 October 2025 (summer time, UTC+2): 23:00 local is 21:00 UTC.
    assert windows.active("workflow_run_api", "sandbox", at("2025-10-25T22:59")) is None
    assert windows.active("workflow_run_api", "sandbox", at("2025-10-25T23:00")) is not None
    assert windows.active("workflow_run_api", "sandbox", at("2025-10-26T00:30")) is not None
    # It lasts 2 h of real time: it ends at 01:00 local, still summer time (the clocks go back
    # at 03:00), so the window does not grow or shrink with the change.
    assert windows.active("workflow_run_api", "sandbox", at("2025-10-26T00:59")) is not None
    assert windows.active("workflow_run_api", "sandbox", at("2025-10-26T01:00")) is None
    # Sunday night, winter time (UTC+1): it starts at 23:00 local again, 22:00 UTC.
    [(_, _), (sunday, end)] = windows.windows[0].occurrences(at("2025-10-25T12:00"),
                                                             at("2025-10-27T12:00"))  # fmt: skip
    assert (utc(sunday), utc(end)) == ("2025-10-26 22:00", "2025-10-27 00:00")
    assert windows.active("workflow_run_api", "x", at("2025-10-26T22:59")) is None
    assert windows.active("workflow_run_api", "x", at("2025-10-26T23:00")) is not None
    # Other journeys are not in it.
    assert windows.active("workflow_canvas_load", "sandbox", at("2025-10-26T00:30")) is None


def test_the_spring_clock_change_and_a_start_time_that_does_not_exist() -> None:
    windows = nightly()
    # Night of 29-30 March 2025: 23:00 (UTC+1) to 01:00, and the clocks skip 02:00-03:00 later.
    assert windows.active("workflow_run_api", "t", at("2025-03-29T23:00")) is not None
    assert windows.active("workflow_run_api", "t", at("2025-03-30T01:00")) is None
    [(start, end)] = windows.windows[0].occurrences(at("2025-03-30T12:00"), at("2025-03-31T12:00"))
    assert (utc(start), utc(end)) == ("2025-03-30 21:00", "2025-03-30 23:00")  # now UTC+2
    with pytest.raises(WindowError, match="does not exist in Europe/Berlin"):
        build_window(name="x", start="2025-03-30T02:30", end="2025-03-30T04:00",
                     timezone="Europe/Berlin")  # fmt: skip


def test_one_off_windows_cron_and_periods() -> None:
    one = build_window(name="upgrade", start="2025-03-01T22:00", end="2025-03-02T01:30",
                       targets=["sandbox"])  # fmt: skip
    windows = Maintenance((one,))
    assert windows.active("any", "sandbox", at("2025-03-01T23:00", ZoneInfo("UTC"))) is one
    assert windows.active("any", "staging", at("2025-03-01T23:00", ZoneInfo("UTC"))) is None
    periods = windows.periods("any", 0, 4e9)
    assert periods == [(at("2025-03-01T22:00", ZoneInfo("UTC")),
                        at("2025-03-02T01:30", ZoneInfo("UTC")))]  # fmt: skip
    assert covered(periods, periods[0][0]) and not covered(periods, periods[0][1])
    # cron: Sundays at 02:30 from 1 Jan 2025 (a Wednesday): the first is on 5 January.
    cron = build_window(name="weekly", start="2025-01-01T00:00", cron="30 2 * * sun",
                        duration_s=HOUR, timezone="Europe/Berlin")  # fmt: skip
    assert (cron.rrule, cron.start.isoformat()) == ("FREQ=WEEKLY;BYDAY=SU",
                                                    "2025-01-05T02:30:00+01:00")  # fmt: skip
    assert build_window(name="m", start="2025-01-01T00:00", cron="0 4 1,15 * *",
                        duration_s=HOUR).rrule == "FREQ=MONTHLY;BYMONTHDAY=1,15"  # fmt: skip
    later = datetime(2025, 1, 12, 2, 45, tzinfo=BERLIN).timestamp()
    assert cron.active(later) is not None and cron.active(later + HOUR) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end": "2025-03-01T21:00"}, "is not after start"),
        ({"rrule_text": "FREQ=HOURLY", "duration_s": 60.0}, "FREQ= one of"),
        ({"rrule_text": "FREQ=DAILY;BYHOUR=3", "duration_s": 60.0}, "BYHOUR is not supported"),
        ({"rrule_text": "FREQ=DAILY", "duration_s": 25 * HOUR}, "would overlap itself"),
        ({"rrule_text": "FREQ=DAILY"}, "needs `duration`"),
        ({"cron": "*/5 2 * * *", "duration_s": 60.0}, "single numbers"),
        ({"cron": "0 2 1 * mon", "duration_s": 60.0}, "not both"),
        ({"end": "2025-03-02T01:00", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({}, "needs `end`"),
    ],
)
def test_malformed_windows_say_what_to_fix(fields: dict[str, object], message: str) -> None:
    with pytest.raises(WindowError, match=message):
        build_window(name="w", start="2025-03-01T22:00", **fields)  # type: ignore[arg-type]


def _config(tmp_path: Path, windows: str) -> Path:
    path = tmp_path / "prober.yaml"
    path.write_text(
        f"journeys: [{ROOT / 'journeys' / 'workflows'}]\n"
        "targets:\n  sandbox: {base_url: 'http://127.0.0.1:9'}\n"
        f"maintenance:\n{windows}"
    )
    return path


def test_validate_rejects_overlapping_and_malformed_windows(tmp_path: Path) -> None:
    overlapping = _config(tmp_path, (
        "  - {name: nightly, start: '2025-10-20T23:00', timezone: Europe/Berlin,\n"
        "     rrule: FREQ=DAILY, duration: 2h, journeys: ['workflow_run_*']}\n"
        "  - {name: upgrade, start: '2025-10-25T23:30', end: '2025-10-26T00:10',\n"
        "     timezone: Europe/Berlin, journeys: ['*_api']}\n"
    ))  # fmt: skip
    done = prober("validate", "-c", str(overlapping))
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "maintenance" in ln]
    assert len(lines) == 1, done.stdout + done.stderr
    assert "prober.yaml:4 maintenance: windows 'nightly' and 'upgrade' overlap" in lines[0]
    assert "2025-10-25 23:30 CEST" in lines[0] and "narrow journeys/targets" in lines[0]
    # Globs no name can match both of do not overlap (workflow_run_* vs workflow_canvas_*).
    apart = _config(tmp_path, (
        "  - {name: a, start: '2025-10-20T23:00', rrule: FREQ=DAILY, duration: 2h,\n"
        "     journeys: ['workflow_run_*']}\n"
        "  - {name: b, start: '2025-10-20T23:00', end: '2025-10-21T00:00',\n"
        "     journeys: ['workflow_canvas_*']}\n"
    ))  # fmt: skip
    assert prober("validate", "-c", str(apart)).returncode == 0
    broken = _config(tmp_path, "  - {name: a, start: 'tomorrow', end: '2025-10-21T00:00'}\n")
    done = prober("validate", "-c", str(broken))
    assert done.returncode == 2
    assert "prober.yaml:5 maintenance.0: window 'a': start 'tomorrow' is not a date-time" in (
        done.stdout + done.stderr
    )


def test_run_says_it_runs_inside_a_window() -> None:
    now = datetime.now(UTC)
    window = build_window(name="now", start=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
                          end=(now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                          journeys=["workflow_run_*"])  # fmt: skip
    lines = notices(Maintenance((window,)), [("workflow_run_api", "sandbox"),
                                             ("workflow_canvas_load", "sandbox")],
                    now.timestamp())  # fmt: skip
    assert len(lines) == 1
    assert lines[0].startswith("note: workflow_run_api@sandbox is in maintenance window 'now'")
    assert "running it anyway" in lines[0]


def test_prober_run_says_so_on_stderr_and_runs(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    config = _config(tmp_path, (
        f"  - {{name: now, start: '{(now - timedelta(minutes=5)):%Y-%m-%dT%H:%M}', "
        f"end: '{(now + timedelta(hours=1)):%Y-%m-%dT%H:%M}', journeys: ['workflow_run_*']}}\n"
    ))  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PROBER_STORE__PATH": str(tmp_path / "r.db"),
           "PROBER_DATADOG__STATSD_URL": "udp://127.0.0.1:9"}  # fmt: skip
    done = prober("run", "-c", str(config), "workflow_run_api", "--json", env=env)
    # Nothing listens on the target: the run happens, and fails.
    assert done.returncode == 1, done.stderr
    assert '"journey": "workflow_run_api"' in done.stdout
    assert "note: workflow_run_api@sandbox is in maintenance window 'now'" in done.stderr
