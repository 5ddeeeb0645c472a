"""Page timings: what the page itself measured during each browser step (real Chromium, the real
sandbox, a real UDP socket), and a latency SLI declared on one (export, store, status, gate)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from prober import Journey, PageTiming, StepContext
from prober import metrics as m
from prober.artifacts import ArtifactStore
from prober.dogstatsd_wire import decode
from prober.drivers.browser import BrowserDriver
from prober.drivers.timing_probe import COLLECT_LIMIT_S
from prober.errors import JourneyDefinitionError
from prober.page_timings import Navigation, PageTimings, RequestTiming
from prober.result import (
    AttemptResult,
    JourneyResult,
    Status,
    StepResult,
    StepStatus,
    Trigger,
)
from prober.runner import Runner
from prober.sinks.dogstatsd import Destination, DogStatsdSink
from prober.slo import datadog_json, gate, openslo, spec, status, terraform
from prober.store import ResultStore
from tests import journeys_for_tests as j
from tests.graphs import create
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess
from tests.targets import sandbox_target

CANVAS_API = PageTiming(step="open canvas", request="/api/workflows/*")
INJECTED_MS = 500


@pytest.fixture(scope="module")
def slow_canvas(
    sandbox: SandboxProcess, token: str, loop: LoopThread, driver: BrowserDriver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[JourneyResult, ArtifactStore]]:  # fmt: skip
    """One canvas run with 500 ms injected on the canvas's API call, its SLI on that call."""
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as api:
        wf = create(api, "page-timings")
        api.post(
            "/_sandbox/faults",
            json={"service": "workflow-service", "mode": "latency", "delay_ms": INJECTED_MS,
                  "path": f"/api/workflows/{wf['id']}"},
        ).raise_for_status()  # fmt: skip
        try:
            journey = j.browser_canvas(str(wf["id"]), 5).replace(
                latency_sli=CANVAS_API, latency_threshold="0.45s"
            )
            store = ArtifactStore(tmp_path_factory.mktemp("artifacts"), on_success=True)
            result = loop.run(Runner(browser=driver, artifacts=store).run(journey, sandbox_target(
                sandbox.url), Trigger.SCHEDULE))  # fmt: skip
        finally:
            api.delete("/_sandbox/faults")
            api.delete(f"/api/workflows/{wf['id']}")
    yield result, store


@pytest.mark.browser
def test_each_browser_step_carries_what_the_page_measured(
    slow_canvas: tuple[JourneyResult, ArtifactStore],
) -> None:
    result, _ = slow_canvas
    assert result.status is Status.SUCCESS, result.failure
    assert result.final.internal_errors == ()
    sign_in, canvas = result.steps
    for step in (sign_in, canvas):
        page = step.page
        assert page is not None and page.navigation is not None, step
        assert 0 < page.navigation.ttfb_ms < step.duration_s * 1000
        assert page.navigation.dom_content_loaded_ms is not None
        assert page.lcp_ms is not None and page.lcp_ms > 0
        assert page.cls >= 0 and page.long_tasks >= 0
        # Only the step's own requests: each ended inside it, after it began.
        assert all(0 < r.end_ms <= step.duration_s * 1000 + 5 for r in page.requests)
    assert canvas.page is not None and sign_in.page is not None
    assert {r.resource for r in canvas.page.requests} >= {"document", "script", "fetch"}
    assert not any(r.path.startswith("/api/workflows/wf") for r in sign_in.page.requests)
    # The injected latency, as the page measured it: it cannot come out shorter.
    api = [r for r in canvas.page.requests if r.path.startswith("/api/workflows/wf")]
    assert len(api) == 1 and api[0].service == "workflow-service"
    assert api[0].duration_ms >= INJECTED_MS
    assert api[0].end_ms >= INJECTED_MS
    steps = result.to_json()["steps"]
    assert steps[1]["page"]["requests"] == [r.to_json() for r in canvas.page.requests]
    assert "?" not in json.dumps(steps)  # URLs are kept without their query


@pytest.mark.browser
def test_a_page_timing_sli_judges_the_run_and_is_kept_in_the_artifacts_and_store(
    slow_canvas: tuple[JourneyResult, ArtifactStore], tmp_path: Path,
) -> None:  # fmt: skip
    result, _ = slow_canvas
    canvas = result.steps[1]
    assert canvas.page is not None
    # From the navigation's start to the API answer's end: the page's clock only.
    assert INJECTED_MS / 1000 <= result.latency_s < canvas.duration_s
    assert not result.within_slo  # 0.45 s threshold
    shown = result.to_json()
    assert shown["latency_sli"] == "request:open canvas:/api/workflows/*"
    assert shown["latency_s"] == pytest.approx(result.latency_s, abs=1e-6)
    timings = next(Path(p) for p in result.artifacts if p.endswith("-timings.json"))
    written = json.loads(timings.read_text())
    assert [t["step"] for t in written] == ["sign in", "open canvas"]
    assert written[1]["requests"] == json.loads(json.dumps(shown["steps"][1]["page"]["requests"]))
    store = ResultStore(tmp_path / "results.db")
    store.save(result, "prod", "eu-west-1")
    (stored,) = store.runs()
    assert stored.latency_s == pytest.approx(result.latency_s)
    assert not stored.within_slo
    store.close()


@pytest.mark.browser
def test_page_timings_arrive_as_distributions_with_the_steps_tags(
    slow_canvas: tuple[JourneyResult, ArtifactStore],
) -> None:
    result, _ = slow_canvas
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    sink = DogStatsdSink(
        Destination("127.0.0.1", sock.getsockname()[1]), m.Origin("prod", "eu-west-1")
    )
    try:
        sink.emit(result)
        points: list[Any] = []
        while True:
            try:
                points.extend(decode(sock.recv(65536)))
            except TimeoutError:
                break
            sock.settimeout(0.2)
    finally:
        sink.close()
        sock.close()

    def of(name: str, step: str) -> list[Any]:
        return [p for p in points if p.name == name and f"step:{step}" in p.tags]

    canvas = {"step:open_canvas", "step_service:frontend-monolith", "status:passed",
              "journey:browser_canvas", "env:prod", "location:eu-west-1"}  # fmt: skip
    for name in (m.PAGE_TTFB, m.PAGE_DOM_CONTENT_LOADED, m.PAGE_LOAD, m.PAGE_LCP, m.PAGE_CLS,
                 m.PAGE_LONG_TASKS, m.PAGE_LONG_TASK_TIME):  # fmt: skip
        for step in ("sign_in", "open_canvas"):
            (point,) = of(name, step)
            assert point.kind == "distribution", point
        (point,) = of(name, "open_canvas")
        assert canvas <= set(point.tags)
    api = [p for p in of(m.PAGE_REQUEST_DURATION, "open_canvas")
           if "resource:fetch" in p.tags]  # fmt: skip
    assert len(api) == 1 and "request_service:workflow-service" in api[0].tags
    assert api[0].value >= INJECTED_MS / 1000
    ends = [p for p in of(m.PAGE_REQUEST_END, "open_canvas") if "resource:fetch" in p.tags]
    assert ends[0].value >= INJECTED_MS / 1000


@pytest.mark.browser
def test_a_page_that_hangs_does_not_hold_the_step(
    sandbox: SandboxProcess, loop: LoopThread, driver: BrowserDriver
) -> None:
    journey = Journey(
        "hung_page", cuj="hung_page", service="frontend-monolith", team="test",
        channel="browser", timeout="5s", retries=0,
    )  # fmt: skip

    @journey.step("hang the page")
    async def hang(ctx: StepContext) -> None:
        await ctx.page.goto(f"{ctx.target.base_url}/login")
        # The page's script spins forever once this step has returned.
        await ctx.page.evaluate("setTimeout(() => { for (;;) {} }, 0)")

    began = time.monotonic()
    result = loop.run(Runner(browser=driver).run(journey, sandbox_target(sandbox.url)))
    took = time.monotonic() - began
    assert result.status is Status.SUCCESS
    assert [k for k, _ in result.final.internal_errors] == ["page_timings"]
    assert "within 0.5s" in result.final.internal_errors[0][1]
    assert result.steps[0].page is None
    assert result.steps[0].duration_s < 2
    assert took < result.steps[0].duration_s + COLLECT_LIMIT_S + 3  # collection, context close


@pytest.mark.parametrize(
    ("declared", "channel", "problem"),
    [
        ("lcp", "browser", "is not <timing>:<step>"),
        ("paint:open canvas", "browser", "timing 'paint' is not one of"),
        (PageTiming(step="open canvas"), "browser", "exactly one of request="),
        (PageTiming(step="open canvas", request="api/*"), "browser", "path glob starting with /"),
        (PageTiming(step="", timing="lcp"), "browser", "needs the step's name"),
        ("lcp:open canvas", "api", "this is an api journey"),
        ("lcp:no such step", "browser", "'no such step' is not one of the journey's steps"),
        (42, "browser", "is not a PageTiming"),
    ],
)
def test_a_wrong_latency_sli_is_refused_naming_the_field(
    declared: object, channel: str, problem: str
) -> None:
    with pytest.raises(JourneyDefinitionError, match="latency_sli: ") as caught:
        journey = Journey("sli", cuj="sli", service="svc", team="t", channel=channel,
                          latency_sli=declared)  # type: ignore[arg-type]  # fmt: skip

        @journey.step("open canvas")
        async def step(ctx: StepContext) -> None: ...

        journey.validate_complete()
    assert problem in str(caught.value)


def _declared() -> Journey:
    journey = Journey(
        "canvas_sli", cuj="canvas_sli", service="frontend-monolith", team="web",
        channel="browser", timeout="20s", latency_threshold="0.5s", slo_target=0.99,
        latency_sli=CANVAS_API,
    )  # fmt: skip

    @journey.step("open canvas")
    async def step(ctx: StepContext) -> None: ...

    journey.validate_complete()
    return journey


def _run(journey: Journey, i: int, api_end_ms: float, finished: float) -> JourneyResult:
    """A fast run (0.3 s of steps) whose page saw the canvas's API answer end `api_end_ms`
    after its navigation began (4 ms into the step)."""
    page = PageTimings(
        navigation=Navigation("http://x/workflows/wf_1", 4.0, 3.0, 50.0, 60.0),
        requests=(RequestTiming("http://x/api/workflows/wf_1", "fetch", "workflow-service",
                                api_end_ms - 20, api_end_ms + 4.0),),
    )  # fmt: skip
    step = StepResult("open canvas", "frontend-monolith", StepStatus.PASSED, 0.3, page=page)
    attempt = AttemptResult(1, Status.SUCCESS, "0" * 32, finished - 0.3, 0.3, (step,))
    return JourneyResult(
        journey.name, journey.cuj, journey.service, journey.team, "browser", "sandbox",
        Trigger.SCHEDULE, f"run-{i}", journey.latency_threshold_s, (attempt,),
        latency_sli=journey.latency_sli,
    )  # fmt: skip


def test_a_page_timing_sli_is_exported_and_status_and_gate_read_it(tmp_path: Path) -> None:
    journey = _declared()
    export = spec.build([journey], "prod", ["eu-west-1"])
    latency = next(s for s in export.slos if s.slo_type == spec.LATENCY)
    # The query counts the runs' within_slo decision, which the page timing made.
    assert latency.numerator.endswith(f"{m.WITHIN_SLO}:true}}.as_count()")
    said = "by latency_sli request:open canvas:/api/workflows/*"
    assert said in latency.description and "answer to /api/workflows/*" in latency.description
    assert said in "".join(terraform.render(export).values())
    assert said in json.dumps(json.loads(datadog_json.dumps(export)))
    slos = [d for d in yaml.safe_load_all(openslo.render(export)) if d["kind"] == "SLO"]
    assert any(said in d["spec"]["description"] for d in slos)

    now = 1_900_000_000.0
    store = ResultStore(tmp_path / "results.db")
    # 40 runs a minute apart, each 0.3 s by the prober's clock; the page saw every fourth
    # API answer end after the 0.5 s threshold.
    for i in range(40):
        store.save(_run(journey, i, 900.0 if i % 4 == 0 else 120.0, now - 2400 + i * 60),
                   "prod", "eu-west-1")  # fmt: skip
    runs = store.runs()
    store.close()
    assert sum(not r.within_slo for r in runs) == 10
    assert {round(r.latency_s or 0, 3) for r in runs} == {0.12, 0.9}  # from the navigation's start
    (shown,) = status.compute(runs, {journey.name: journey}, now=now, window="30d",
                              window_s=30 * 86400)  # fmt: skip
    assert (shown.slos[spec.LATENCY].sli.good, shown.slos[spec.LATENCY].sli.total) == (30, 40)
    assert shown.slos[spec.AVAILABILITY].sli.good == 40
    budget = gate.StoreBudgets(runs, now=now, env="prod").budget(journey, spec.LATENCY, ["1h"])
    assert budget.budget_left == pytest.approx(1 - 0.25 / 0.01)
    available = gate.StoreBudgets(runs, now=now, env="prod")
    assert available.budget(journey, spec.AVAILABILITY, ["1h"]).budget_left == 1.0
