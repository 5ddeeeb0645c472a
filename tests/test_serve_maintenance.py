"""`prober serve` across a maintenance window that starts and ends while it runs: no scheduled
run starts inside it, each skipped one is counted as `skipped{reason:maintenance}`, and the
schedule resumes on time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.background_agent import BackgroundAgent
from tests.sandbox_process import SandboxProcess, wait_for
from tests.test_serve import Serving, agent, serving, start_serve

__all__ = ["agent", "serving"]  # fixtures used by name
INTERVAL_S = 2.0
WINDOW_S = 5.0


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_serve_skips_runs_inside_a_window_and_resumes_on_time(
    sandbox: SandboxProcess, tmp_path: Path, agent: BackgroundAgent, serving: list[Serving]
) -> None:
    begin = float(int(datetime.now(UTC).timestamp()) + 4)  # whole seconds, as written
    end = begin + WINDOW_S
    window = f"[{{name: test, start: '{_iso(begin)}', end: '{_iso(end)}', journeys: [fast_*]}}]"
    serve = start_serve(sandbox, tmp_path, agent, "fast_api", PROBER_MAINTENANCE=window,
                        PROBER_SERVE__JITTER="0")  # fmt: skip
    serving.append(serve)
    wait_for(lambda: len([r for r in serve.runs("fast_api") if r.started_at >= end]) >= 2,
             30, 0.2, "two runs after the window")  # fmt: skip
    with httpx.Client(base_url=serve.base, timeout=10) as health:
        status = health.get("/status").json()
    assert serve.stop() == 0, serve.output()

    started = [r.started_at for r in serve.runs("fast_api")]
    assert any(t < begin for t in started), started  # it ran before the window
    inside = [t for t in started if begin + 0.5 <= t < end]
    assert inside == [], (begin, end, started)
    skips = [p for p in agent.points("cuj.prober.runs.skipped") if p.tag("reason") == "maintenance"]
    # A 5 s window on a 2 s interval holds two or three due runs.
    assert 2 <= len(skips) <= 3, skips
    assert {p.tag("journey") for p in skips} == {"fast_api"}
    assert status["skipped"]["maintenance"] == len(skips)
    # On time: the first run after the window is the next slot of the unchanged interval.
    after = min(t for t in started if t >= end - 0.5)
    assert after - end < INTERVAL_S + 1.0, (end, after)
    assert "skipped: maintenance window 'test'" in serve.output()
