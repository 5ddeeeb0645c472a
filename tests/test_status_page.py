"""The status page of `prober serve` (prober/status_page.py) in a real Chromium: a failure
injected in the sandbox shows with its blame, screenshot and trace link, and clears when the
fault does; nothing a failure carries runs in the page; artifacts come from their folder only."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page

from prober.artifacts import ArtifactStore
from prober.reports.console import why_blamed
from prober.result import BlameSource
from prober.status_page import JobView, PageView, render
from prober.store import ResultStore, StoredRun
from prober.trace_links import trace_url
from tests.background_agent import BackgroundAgent
from tests.prober_cli import ROOT
from tests.sandbox_process import SandboxProcess, wait_for
from tests.test_serve import PACK, Serving, start_serve

STATUS_PACK = ROOT / "tests" / "packs" / "status_page"
LOGIN_DOWN = {"service": "frontend-monolith", "mode": "unavailable", "path": "/login"}
SITE = "datadoghq.eu"


@pytest.fixture(scope="module")
def serve(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """`prober serve` of a browser journey whose login page is down and of a journey failing
    with a hostile message; returned once both have failed."""
    tmp = tmp_path_factory.mktemp("status")
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=LOGIN_DOWN).raise_for_status()
    with BackgroundAgent() as agent:
        serving = start_serve(
            sandbox, tmp, agent, "fast_browser", "crafted",
            PROBER_JOURNEYS=f"[{PACK}, {STATUS_PACK}]", DD_SITE=SITE,
        )  # fmt: skip
        try:
            for journey in ("fast_browser", "crafted"):
                wait_for(partial(_failed, serving, journey), 30, 0.2, f"{journey} to fail")
            yield serving
        finally:
            httpx.delete(f"{sandbox.url}/_sandbox/faults").raise_for_status()
            if serving.proc.poll() is None:
                serving.proc.kill()
                serving.proc.wait()


def _failed(serving: Serving, journey: str) -> bool:
    return any(r.status == "failure" for r in serving.runs(journey))


def _job(page: Page, journey: str) -> Any:
    return page.locator(f'[data-testid="job"][data-journey="{journey}"]')


@pytest.mark.browser
def test_the_page_shows_a_failure_with_its_blame_screenshot_trace_link_and_logs(
    serve: Serving, page: Page
) -> None:
    answer = page.goto(serve.base + "/")
    assert answer is not None and answer.status == 200
    job = _job(page, "fast_browser")
    assert job.get_attribute("data-state") == "failure"
    assert job.get_by_test_id("state").inner_text() == "failure"
    [failed] = [r for r in serve.runs("fast_browser") if r.status == "failure"][-1:]
    stored = httpx.get(serve.base + "/status").json()
    assert stored["journeys"]
    box = job.get_by_test_id("last-failure")
    text = box.inner_text()
    assert failed.error_type is not None and failed.failed_service == "frontend-monolith"
    for expected in (failed.error_type, "frontend-monolith", failed.failed_step or "",
                     failed.trace_id, failed.run_id):  # fmt: skip
        assert expected in text, expected
    result = _result(serve, failed.run_id)
    assert f"({_why(result['blame_source'])})" in text
    # The trace id links to its trace in Datadog APM, in the one form the prober builds.
    link = box.get_by_test_id("trace-link")
    assert link.get_attribute("href") == trace_url(SITE, failed.trace_id)
    # The screenshot is shown (loaded from the artifacts route, within the page's CSP)...
    shot = box.get_by_test_id("screenshot").first
    shot.scroll_into_view_if_needed()
    wait_for(lambda: shot.evaluate("img => img.complete && img.naturalWidth > 0"), 10, 0.1,
             "the screenshot to load")  # fmt: skip
    # ...the console and network logs (and the trace, when recorded) download.
    names = [a.inner_text() for a in box.get_by_test_id("artifact").all()]
    assert any(n.endswith("-console.json") for n in names), names
    assert any(n.endswith("-network.json") for n in names), names
    for anchor in box.get_by_test_id("artifact").all():
        href = anchor.get_attribute("href") or ""
        got = httpx.get(serve.base + href)
        assert got.status_code == 200, href
        assert got.headers["content-disposition"].startswith("attachment"), href
    # The strip: the last runs, each with status, duration and whether within the SLO.
    runs = job.get_by_test_id("run").all()
    assert runs and runs[-1].get_attribute("data-status") == "failure"
    assert runs[-1].get_attribute("data-within-slo") == "false"
    summary = page.get_by_test_id("summary").inner_text()
    assert "failing" in summary and "heartbeat" in summary
    assert page.get_by_test_id("heartbeat").inner_text() != "never"


def _result(serve: Serving, run_id: str) -> dict[str, Any]:
    store = ResultStore(serve.store)
    try:
        found = store.result(run_id)
    finally:
        store.close()
    assert found is not None
    return found


def _why(source: str) -> str:
    return why_blamed(BlameSource(source))


@pytest.mark.browser
def test_nothing_a_failure_carries_runs_in_the_page_and_no_secret_shows(
    serve: Serving, page: Page
) -> None:
    answer = page.goto(serve.base + "/")
    assert answer is not None
    headers = answer.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # none, by default-src
    assert headers["x-content-type-options"] == "nosniff"
    message = _job(page, "crafted").get_by_test_id("failure-message").inner_text()
    # Shown as text, as it came...
    assert "<script>window.pwned=1</script>" in message
    assert '<img src=x onerror="window.pwned=2">' in message
    # ...and never run: not by the markup (escaped), not by anything the CSP would let through.
    assert page.evaluate("typeof window.pwned") == "undefined"
    html = page.content()
    assert "<script" not in html and "<img src=x" not in html
    # Results are redacted before they are stored; the page shows what was stored.
    assert "hunter2-secret" not in html and "password=[REDACTED]" in message


def _raw_get(base: str, path: str) -> int:
    """GET with the path exactly as written: no client normalizing `..` away."""
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_artifacts_come_from_the_artifacts_folder_only(serve: Serving) -> None:
    root = serve.store.parent / "artifacts"
    outside = serve.store.parent / "outside.png"  # a served suffix: only containment stops it
    outside.write_bytes(b"\x89PNG not yours")
    folder = next((root / "fast_browser").iterdir())
    (folder / "escape.png").symlink_to(outside)
    (root / "linked").symlink_to(serve.store.parent, target_is_directory=True)
    shot = next(folder.glob("*-screenshot.png")).relative_to(root).as_posix()
    assert _raw_get(serve.base, f"/artifacts/{shot}") == 200  # the control
    for path in (
        "/artifacts/../outside.png",
        "/artifacts/fast_browser/../../outside.png",
        "/artifacts/%2e%2e/outside.png",
        "/artifacts/%2E%2E%2Foutside.png",
        "/artifacts/..%2foutside.png",
        f"/artifacts/{outside}",  # absolute
        f"/artifacts/%2F{str(outside).lstrip('/')}",
        f"/artifacts/{folder.relative_to(root).as_posix()}/escape.png",  # a symlink out
        "/artifacts/linked/outside.png",  # through a symlinked folder
        "/artifacts/../results.db",
        "/artifacts/",
    ):
        assert _raw_get(serve.base, path) == 404, path
    assert os.path.exists(outside)


@pytest.mark.browser
def test_the_page_recovers_when_the_fault_clears(
    serve: Serving, sandbox: SandboxProcess, page: Page
) -> None:
    httpx.delete(f"{sandbox.url}/_sandbox/faults").raise_for_status()

    def recovered() -> bool:
        page.goto(serve.base + "/")
        return bool(_job(page, "fast_browser").get_attribute("data-state") == "success")

    wait_for(recovered, 30, 0.5, "the page to show fast_browser passing again")
    job = _job(page, "fast_browser")
    assert job.get_by_test_id("state").inner_text() == "success"
    assert "since" in job.locator(".state").inner_text()
    # The last failure stays for whoever looks next; the crafted journey still fails.
    assert job.get_by_test_id("last-failure").count() == 1
    assert _job(page, "crafted").get_attribute("data-state") == "failure"


def test_the_page_says_which_maintenance_window_is_in_force_and_counts_skips(
    tmp_path: Path,
) -> None:
    run = StoredRun("r1", "j<b>", "t", "e", "l", "schedule", "success", None, None, None, 3.0,
                    False, 1_800_000_000.0, 1_800_000_003.0, "0" * 32, 1, "success")  # fmt: skip
    job = JobView(
        journey="j<b>", target="t&", channel="api", interval_s=60, state="success",
        since=1_800_000_000.0, next_run=None, recent=(run,), last_failure=None,
        skipped={"maintenance": 3, "overlap": 0}, maintenance="deploy window <until 12:00>",
    )  # fmt: skip
    page = PageView(env="prod", location="eu", scheduler_running=True, runs=1,
                    skipped={"maintenance": 3}, last_heartbeat=None, now=1_800_000_010.0,
                    site=None, jobs=(job,))  # fmt: skip
    html = render(page, ArtifactStore(tmp_path))
    assert "deploy window &lt;until 12:00&gt;" in html and "3 maintenance" in html
    assert "j&lt;b&gt;" in html and "t&amp;" in html and "<b>" not in html
    # A success outside the SLO is marked slow in the strip.
    assert 'class="run success slow"' in html and 'data-within-slo="false"' in html
