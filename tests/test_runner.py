"""The runner against the real sandbox: cleanups, retries, trace headers, secrets, relaunch."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from prober import Journey, StepContext, expect
from prober.artifacts import ArtifactStore
from prober.drivers.browser import BrowserDriver
from prober.result import Status, StepStatus, Trigger
from prober.runner import Runner
from prober.trace import PRODUCT_TOKEN
from tests import journeys_for_tests as j
from tests.graphs import create, diamond
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess, login, start_sandbox
from tests.targets import sandbox_target

pytestmark = pytest.mark.browser


def prober_workflows(api: httpx.Client) -> list[str]:
    """Test data left on the shared platform; the journeys' permanent canvas fixture is not."""
    listed = api.get("/api/workflows", params={"name_prefix": "prober-"}).json()["workflows"]
    return [w["name"] for w in listed if not w["name"].startswith("prober-fixture-")]


def creating_journey(
    name: str, then: str, *, channel: str = "api", reached: asyncio.Event | None = None
) -> Journey:
    """Creates a workflow, registers its cleanup, then fails in the way `then` says."""
    journey = Journey(
        name, cuj="workflow_crud", service="workflow-service", team="test", channel=channel,
        timeout="4s", retries=0,
    )  # fmt: skip

    @journey.step("create")
    async def create_step(ctx: StepContext) -> None:
        body = diamond(ctx.run.resource_name())
        answer = await ctx.api.post("/api/workflows", json=body)
        answer.raise_for_status()
        wf_id = answer.json()["id"]

        async def delete() -> None:
            (await ctx.api.delete(f"/api/workflows/{wf_id}")).raise_for_status()

        ctx.cleanup(delete, "delete workflow")

    @journey.step("then")
    async def then_step(ctx: StepContext) -> None:
        if then == "assert":
            ctx.fail("the saved workflow is wrong")
        if reached is not None:
            reached.set()
        if then in ("hang", "cancel"):
            await asyncio.sleep(60)

    @journey.step("never runs")
    async def never(ctx: StepContext) -> None:
        raise AssertionError("steps after a failure are skipped")

    return journey


@pytest.mark.parametrize(("then", "error_type"), [("assert", "assertion"), ("hang", "timeout")])
@pytest.mark.parametrize("channel", ["api", "browser"])
def test_cleanups_run_after_failure_and_timeout(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread, driver: BrowserDriver,
    then: str, error_type: str, channel: str,
) -> None:  # fmt: skip
    journey = creating_journey(f"cleanup_{then}_{channel}", then, channel=channel)
    result = loop.run(Runner(browser=driver).run(journey, sandbox_target(sandbox.url)))
    assert result.status is Status.FAILURE
    assert result.error_type == error_type
    assert result.failed_step == "then"
    assert [s.status for s in result.steps] == [
        StepStatus.PASSED, StepStatus.FAILED, StepStatus.SKIPPED,
    ]  # fmt: skip
    assert result.final.cleanup_failures == ()
    assert prober_workflows(api) == []


def test_cleanups_run_when_the_run_is_cancelled(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread
) -> None:
    target = sandbox_target(sandbox.url)

    async def cancel_midway() -> None:
        reached = asyncio.Event()
        journey = creating_journey("cleanup_cancel", "cancel", reached=reached)
        task = asyncio.create_task(Runner().run(journey, target))
        # Cancel while the run sits in its hanging step, its workflow created.
        await asyncio.wait_for(reached.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run(cancel_midway())
    assert prober_workflows(api) == []


def test_a_cleanup_that_fails_is_reported_and_the_others_still_run(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread
) -> None:
    ran: list[str] = []
    journey = Journey(
        "cleanup_failing", cuj="workflow_crud", service="workflow-service", team="test",
        channel="api", retries=0,
    )  # fmt: skip

    @journey.step("register")
    async def register(ctx: StepContext) -> None:
        ctx.cleanup(lambda: ran.append("first"), "first")

        def broken() -> None:
            raise RuntimeError("cannot delete")

        ctx.cleanup(broken, "broken")
        ctx.cleanup(lambda: ran.append("last"), "last")

    result = loop.run(Runner().run(journey, sandbox_target(sandbox.url)))
    assert result.status is Status.SUCCESS
    assert ran == ["last", "first"]
    assert result.final.cleanup_failures == ("register: broken",)


def test_one_transient_fault_then_success_counts_as_success_with_two_attempts(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread
) -> None:
    wf = create(api, "retry-target")
    api.post(
        "/_sandbox/faults",
        json={"service": "workflow-service", "mode": "error", "path": "/api/workflows/*",
              "times": 1},
    ).raise_for_status()  # fmt: skip
    result = loop.run(
        Runner().run(j.api_read(wf["id"], retries=1), sandbox_target(sandbox.url), Trigger.SCHEDULE)
    )
    assert result.status is Status.SUCCESS
    assert [a.status for a in result.attempts] == [Status.FAILURE, Status.SUCCESS]
    assert result.attempts[0].error_type == "server_error"
    assert result.attempts[0].trace_id != result.attempts[1].trace_id
    assert result.to_json()["attempts"][0]["failed_service"] == "workflow-service"
    assert result.trace_id == result.attempts[1].trace_id
    api.delete(f"/api/workflows/{wf['id']}")


def test_without_retries_the_first_failure_decides(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread
) -> None:
    wf = create(api, "no-retry")
    api.post(
        "/_sandbox/faults",
        json={"service": "workflow-service", "mode": "error", "times": 1,
              "path": "/api/workflows/*"},
    )  # fmt: skip
    journey = j.api_read(wf["id"], retries=1)
    result = loop.run(Runner().run(journey, sandbox_target(sandbox.url), retries=0))
    assert result.status is Status.FAILURE
    assert len(result.attempts) == 1
    api.delete(f"/api/workflows/{wf['id']}")


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b"ok"
        self.send_response(200)
        self.send_header("access-control-allow-origin", "*")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def third_party() -> Iterator[str]:
    """A second origin, as a page's third-party script host would be."""
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


TRACE_HEADERS = {
    "traceparent", "x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-origin",
    "x-datadog-sampling-priority", "x-cuj-probe", "x-datadog-tags",
}  # fmt: skip


def test_trace_headers_reach_the_target_and_never_a_third_party(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread, driver: BrowserDriver,
    third_party: str, workflow_id: str,
) -> None:  # fmt: skip
    journey = j.browser_canvas(workflow_id, 5)

    @journey.step("call a third party")
    async def third(ctx: StepContext) -> None:
        await ctx.page.evaluate(f"fetch('{third_party}/pixel').then(r => r.text())")
        (await ctx.api.get(f"{third_party}/api")).raise_for_status()
        (await ctx.api.get(f"/api/workflows/{workflow_id}")).raise_for_status()
        await expect(ctx.page.get_by_test_id("canvas-status")).to_have_text("ready")

    since = api.get("/_sandbox/requests").json()["requests"][-1]["seq"]
    result = loop.run(Runner(browser=driver).run(journey, sandbox_target(sandbox.url)))
    assert result.status is Status.SUCCESS, result.to_json()

    logged = api.get("/_sandbox/requests", params={"since": since}).json()["requests"]
    from_probe = [e for e in logged if e["caller"] == "client"
                  and e["headers"].get("user-agent", "").endswith(PRODUCT_TOKEN)]  # fmt: skip
    # The API client's requests and the page's calls (fetch, XHR) carry the trace; the page's
    # documents and static files do not (each would wait for a round trip to Python, which the
    # page's timings count: prober/drivers/page_trace.py; `trace_documents` adds documents).
    calls = [e for e in from_probe if e["path"].startswith("/api/")]
    pages = [e for e in from_probe if not e["path"].startswith("/api/")]
    assert {"/api/auth/login", f"/api/workflows/{workflow_id}"} <= {e["path"] for e in calls}
    by_page = {e["path"] for e in calls if "Chrome" in e["headers"]["user-agent"]}
    assert f"/api/workflows/{workflow_id}" in by_page  # the canvas's own call, from Chromium
    assert {"/login", f"/workflows/{workflow_id}", "/static/canvas.js"} <= {
        e["path"] for e in pages
    }
    trace_id = result.trace_id
    parent_ids = set()
    for entry in calls:
        headers = entry["headers"]
        assert headers["traceparent"].startswith(f"00-{trace_id}-")
        assert headers["x-datadog-trace-id"] == str(int(trace_id[16:], 16))
        assert headers["x-datadog-origin"] == "synthetics"
        assert headers["x-datadog-sampling-priority"] == "1"
        assert headers["x-cuj-probe"] == f"browser_canvas/{result.run_id}"
        parent_ids.add(headers["x-datadog-parent-id"])
    assert len(parent_ids) == len(calls), "every request gets its own span id"
    assert [e["path"] for e in pages if TRACE_HEADERS & set(e["headers"])] == []

    assert len(_Recorder.seen) == 2, _Recorder.seen
    for headers in _Recorder.seen:
        assert not TRACE_HEADERS & set(headers), headers
        assert "authorization" not in headers


@pytest.fixture
def workflow_id(api: httpx.Client) -> Iterator[str]:
    wf = create(api, "trace-fixture")
    yield str(wf["id"])
    api.delete("/_sandbox/faults")
    api.delete(f"/api/workflows/{wf['id']}").raise_for_status()


SECRET_PASSWORD = "Pa55-word-that-must-never-leak"


def test_no_secret_reaches_results_or_artifacts(
    tmp_path: Path, loop: LoopThread, driver: BrowserDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_PASSWORD", SECRET_PASSWORD)
    own = start_sandbox(tmp_path / "sandbox", "--faults")
    try:
        token = login(own.url, password=SECRET_PASSWORD)
        headers = {"authorization": f"Bearer {token}"}
        wf = httpx.post(f"{own.url}/api/workflows", json=diamond("secret"), headers=headers).json()
        httpx.post(
            f"{own.url}/_sandbox/faults",
            json={"service": "workflow-service", "mode": "error", "path": "/api/workflows/*"},
        ).raise_for_status()
        store = ArtifactStore(tmp_path / "artifacts")
        target = sandbox_target(own.url, password=SECRET_PASSWORD)
        runner = Runner(browser=driver, artifacts=store)
        browser_result = loop.run(runner.run(j.browser_canvas(wf["id"], 5), target))
        api_result = loop.run(runner.run(j.api_read(wf["id"]), target))
    finally:
        own.stop()
    assert browser_result.status is Status.FAILURE
    assert api_result.status is Status.FAILURE
    kinds = {Path(p).name.split("-")[-1] for p in browser_result.artifacts}
    assert kinds == {"screenshot.png", "trace.zip", "console.json", "network.json", "timings.json"}
    assert all(browser_result.trace_id in Path(p).name for p in browser_result.artifacts)
    trace_zip = next(Path(p) for p in browser_result.artifacts if p.endswith("trace.zip"))
    with zipfile.ZipFile(trace_zip) as archive:
        assert any(name.endswith(".trace") for name in archive.namelist())
        blobs = [archive.read(name) for name in archive.namelist()]
    assert Path(browser_result.artifacts[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with sqlite3.connect(own.db) as conn:
        tokens = [row[0] for row in conn.execute("SELECT token FROM tokens")]
    assert len(tokens) >= 3  # ours, the browser's login, the api client's login
    secrets = [SECRET_PASSWORD, *tokens]
    written = [p.read_bytes() for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    written += blobs
    written.append(json.dumps([browser_result.to_json(), api_result.to_json()]).encode())
    for secret in secrets:
        for data in written:
            assert secret.encode() not in data
    assert any(b"[REDACTED]" in data for data in blobs), "the trace held credentials to redact"


def test_browser_is_relaunched_after_it_goes_away(
    sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread, workflow_id: str
) -> None:
    own_driver = BrowserDriver()
    try:
        runner = Runner(browser=own_driver)
        target = sandbox_target(sandbox.url)
        first = loop.run(runner.run(j.browser_canvas(workflow_id, 5), target))
        browser = loop.run(own_driver.browser())
        loop.run(browser.close())  # as if Chromium crashed
        second = loop.run(runner.run(j.browser_canvas(workflow_id, 5), target))
        assert (first.status, second.status) == (Status.SUCCESS, Status.SUCCESS)
        assert own_driver.launches == 2
    finally:
        loop.run(own_driver.close())
