"""What keeps the prober cheap (issue 13, docs/performance.md): trace headers added in the page
(tests/test_page_trace.py), tracing only where a retry cannot follow, the browser's user agent
without a page, TLS contexts once per process, sandbox sockets without Nagle's delay, a CLI that
imports only what its command uses."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from prober.artifacts import ArtifactStore
from prober.drivers.browser import BrowserDriver
from prober.drivers.http import HttpDriver, RunTransport, tls_context
from prober.observe import Observer, Wiring
from prober.redact import Redactor
from prober.result import Status
from prober.runner import Runner
from prober.sandbox.server import bind
from prober.target import Target
from prober.trace import TraceContext
from tests import journeys_for_tests as j
from tests.graphs import create
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess
from tests.targets import sandbox_target

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.browser
def test_only_an_attempt_no_retry_follows_records_a_trace(
    tmp_path: Path, sandbox: SandboxProcess, api: httpx.Client, loop: LoopThread,
    driver: BrowserDriver,
) -> None:  # fmt: skip
    wf = create(api, "trace-policy")
    api.post(
        "/_sandbox/faults",
        json={"service": "workflow-service", "mode": "error", "path": f"/api/workflows/{wf['id']}"},
    ).raise_for_status()
    runner = Runner(browser=driver, artifacts=ArtifactStore(tmp_path / "artifacts"))
    result = loop.run(
        runner.run(j.browser_canvas(str(wf["id"]), 5, retries=1), sandbox_target(sandbox.url))
    )
    assert result.status is Status.FAILURE
    kinds = [{Path(p).name.rsplit("-", 1)[-1] for p in a.artifacts} for a in result.attempts]
    evidence = {"screenshot.png", "console.json", "network.json", "timings.json"}
    # The first attempt would be retried: its evidence, no trace. The retry is the last.
    assert kinds == [evidence, evidence | {"trace.zip"}]


@pytest.mark.browser
def test_the_user_agent_is_the_browsers_own_plus_the_product_token(
    loop: LoopThread, sandbox: SandboxProcess
) -> None:
    own = BrowserDriver()
    try:
        browser = loop.run(own.browser())
        assert browser.contexts == []  # none opened, none left behind

        async def page_agent() -> str:
            context = await browser.new_context()
            try:
                page = await context.new_page()
                return str(await page.evaluate("navigator.userAgent"))
            finally:
                await context.close()

        assert own._user_agent == loop.run(page_agent())
    finally:
        loop.run(own.close())


def _wiring(url: str) -> Wiring:
    target = Target("t", url)
    return Wiring(target, Observer(target), TraceContext.new(), "t/1", Redactor(()))


def test_a_plain_http_target_builds_no_tls_context(
    sandbox: SandboxProcess, loop: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx._transports.default as transports

    built: list[object] = []  # contexts built from scratch (a CA bundle loaded), not reused
    real = transports.create_ssl_context  # type: ignore[attr-defined]

    def counting(verify: object = True, **kwargs: object) -> ssl.SSLContext:
        if not isinstance(verify, ssl.SSLContext):
            built.append(verify)
        return real(verify=verify, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transports, "create_ssl_context", counting)
    tls_context.cache_clear()

    async def two_runs() -> list[int]:
        statuses = []
        for _ in range(2):
            async with HttpDriver().client(_wiring(sandbox.url)) as client:
                statuses.append((await client.get("/login")).status_code)
        return statuses

    assert loop.run(two_runs()) == [200, 200]
    assert built == []
    assert tls_context.cache_info().currsize == 0


def test_https_runs_share_one_tls_context(loop: LoopThread) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once closed

    async def pool_context() -> object:
        transport = RunTransport(verify=True)
        with pytest.raises(httpx.ConnectError):
            await transport.handle_async_request(httpx.Request("GET", f"https://127.0.0.1:{port}/"))
        await transport.aclose()
        return transport._pools[True]._pool._ssl_context

    first, second = loop.run(pool_context()), loop.run(pool_context())
    assert first is second is tls_context(True)


def test_sandbox_connections_send_without_nagles_delay() -> None:
    listener = bind("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


_LOADED = """
import json, sys
from prober.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("starlette", "uvicorn", "playwright", "hcl2", "datadog_api_client", "apscheduler")
print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


@pytest.mark.parametrize(
    ("argv", "code", "allowed"),
    [
        (["run", "--help"], 0, []),
        (["--version"], 0, []),
        # A real `run` loads its journeys (which import Playwright), never the web stack.
        (["run", "no_such_journey"], 2, ["playwright"]),
        (["list"], 0, ["playwright"]),
    ],
)
def test_the_cli_imports_only_what_its_command_uses(
    argv: list[str], code: int, allowed: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *argv],
        cwd=ROOT,
        env={**os.environ, "SANDBOX_PASSWORD": "x"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": code, "loaded": allowed}, done.stderr
