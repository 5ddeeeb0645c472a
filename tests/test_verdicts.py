"""The author's verdict first, expected statuses, journey bugs, the prober's own faults kept out
of verdicts, secrets in what is written, and logins that cannot lock the probe user out."""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from prober import Journey, StepContext, expect
from prober.artifacts import ArtifactStore
from prober.drivers.browser import BrowserDriver
from prober.metrics import INTERNAL_ERRORS, Origin
from prober.result import JourneyResult
from prober.runner import Runner
from prober.sinks import FanOut
from prober.sinks.dogstatsd import DogStatsdSink, parse_url
from prober.sinks.log import LogSink
from prober.sinks.store import StoreSink
from prober.store import ResultStore
from tests import journeys_for_tests as j
from tests.background_agent import BackgroundAgent
from tests.graphs import create
from tests.loop_thread import LoopThread
from tests.sandbox_process import SandboxProcess, login, start_sandbox, wait_for
from tests.targets import sandbox_target

WF = "workflow-service"
FE = "frontend-monolith"


def verdict(result: JourneyResult) -> tuple[str, str | None, str | None, str | None]:
    return (
        str(result.status) if result.error_type is None else str(result.error_type),
        result.failed_step,
        result.failed_service,
        None if result.blame_source is None else str(result.blame_source),
    )


def journey(name: str, channel: str = "api", service: str = WF) -> Journey:
    return Journey(
        name, cuj="verdicts", service=service, team="test", channel=channel, timeout="10s",
        retries=0,
    )  # fmt: skip


@pytest.fixture
def deleted_id(api: httpx.Client) -> str:
    wf = create(api, "to-be-deleted")
    api.delete(f"/api/workflows/{wf['id']}").raise_for_status()
    return str(wf["id"])


# --- the author's verdict, and statuses the journey wanted ------------------------------------


def verify_gone(wf_id: str, *, declare: bool, author: str | None = None) -> Journey:
    gone = journey(f"verify_gone_{'declared' if declare else 'undeclared'}")

    @gone.step("verify gone")
    async def check(ctx: StepContext) -> None:
        answer = await ctx.api.get(f"/api/workflows/{wf_id}")
        if declare:
            ctx.expect_status(answer, 404)
        if author is not None:
            ctx.fail("a deleted workflow is still listed", service=author)
        raise AssertionError("a deleted workflow is still listed")

    return gone


def test_a_wanted_404_is_not_evidence(
    sandbox: SandboxProcess, loop: LoopThread, deleted_id: str
) -> None:
    target = sandbox_target(sandbox.url)
    declared = loop.run(Runner().run(verify_gone(deleted_id, declare=True), target))
    assert verdict(declared) == ("assertion", "verify gone", WF, "step"), declared.to_json()
    # The same step without the declaration: the 404 is the likeliest explanation.
    undeclared = loop.run(Runner().run(verify_gone(deleted_id, declare=False), target))
    assert verdict(undeclared) == ("client_error", "verify gone", WF, "platform")


def test_ctx_fail_naming_a_service_wins_over_a_4xx(
    sandbox: SandboxProcess, loop: LoopThread, deleted_id: str
) -> None:
    gone = verify_gone(deleted_id, declare=False, author="search-service")
    result = loop.run(Runner().run(gone, sandbox_target(sandbox.url)))
    assert verdict(result) == ("assertion", "verify gone", "search-service", "author")
    assert result.failure is not None and result.failure.evidence is None


def test_expect_status_fails_on_another_status(
    sandbox: SandboxProcess, loop: LoopThread, api: httpx.Client
) -> None:
    """A deleted workflow that still answers 200 is an assertion on who answered; a 500 where
    404 was wanted is that service's failure."""
    wf = create(api, "still-here")
    try:
        still = verify_gone(wf["id"], declare=True)
        result = loop.run(Runner().run(still, sandbox_target(sandbox.url)))
        assert verdict(result) == ("assertion", "verify gone", WF, "platform")
        assert "answered 200, not 404" in (result.failure.message if result.failure else "")
        api.post(
            "/_sandbox/faults",
            json={"service": WF, "mode": "error", "path": f"/api/workflows/{wf['id']}"},
        ).raise_for_status()
        result = loop.run(Runner().run(still, sandbox_target(sandbox.url)))
        assert verdict(result) == ("server_error", "verify gone", WF, "platform")
    finally:
        api.delete("/_sandbox/faults")
        api.delete(f"/api/workflows/{wf['id']}")


@pytest.mark.browser
@pytest.mark.parametrize("declare", [True, False])
def test_allow_status_in_the_browser(
    sandbox: SandboxProcess,
    loop: LoopThread,
    driver: BrowserDriver,
    deleted_id: str,
    token: str,
    declare: bool,
) -> None:
    opened = journey(f"open_deleted_{str(declare).lower()}", channel="browser", service=FE)

    @opened.step("open deleted")
    async def open_deleted(ctx: StepContext) -> None:
        if declare:
            ctx.allow_status(404, path="/api/workflows/*")
        await ctx.page.goto(f"{ctx.target.base_url}/login")
        await ctx.page.evaluate(f"localStorage.setItem('sandbox-token', {json.dumps(token)})")
        await ctx.page.goto(f"{ctx.target.base_url}/workflows/{deleted_id}")
        await expect(ctx.page.get_by_test_id("canvas-status")).to_have_text("ready", timeout=1500)

    result = loop.run(Runner(browser=driver).run(opened, sandbox_target(sandbox.url)))
    if declare:
        assert verdict(result) == ("assertion", "open deleted", FE, "step"), result.to_json()
    else:
        assert verdict(result) == ("client_error", "open deleted", WF, "platform")


# --- journey code bugs, and checking the platform's answer ------------------------------------


@pytest.mark.parametrize(
    ("bug", "exception"),
    [
        (lambda ctx: ctx.vars["fixture_id"], "KeyError"),
        (lambda ctx: ctx.vars.setdefault("n", None) + 1, "TypeError"),
        (lambda ctx: ctx.nothing_here, "AttributeError"),
    ],
    ids=["KeyError in its own data", "TypeError", "AttributeError"],
)
def test_journey_code_bugs_are_probe_errors(
    sandbox: SandboxProcess, loop: LoopThread, bug: Any, exception: str
) -> None:
    buggy = journey("buggy")

    @buggy.step("compute")
    async def compute(ctx: StepContext) -> None:
        (await ctx.api.get("/api/workflows")).raise_for_status()
        bug(ctx)

    result = loop.run(Runner().run(buggy, sandbox_target(sandbox.url)))
    assert verdict(result) == ("probe_error", "compute", "cuj-prober", "prober")
    assert result.failure is not None and result.failure.exception == exception


def test_read_json_makes_a_missing_field_an_assertion_on_who_answered(
    sandbox: SandboxProcess, loop: LoopThread
) -> None:
    reads = journey("reads")

    @reads.step("list")
    async def listing(ctx: StepContext) -> None:
        await ctx.read_json(await ctx.api.get("/api/workflows"), "workflows", "next_page.token")

    result = loop.run(Runner().run(reads, sandbox_target(sandbox.url)))
    assert verdict(result) == ("assertion", "list", WF, "platform")
    assert "next_page.token" in (result.failure.message if result.failure else "")


# --- the prober's own faults never change a verdict -------------------------------------------


@pytest.mark.browser
def test_unwritable_artifacts_during_an_outage_keep_the_outage_verdict(
    sandbox: SandboxProcess,
    api: httpx.Client,
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path: Path,
) -> None:
    wf = create(api, "outage")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the artifacts folder should be")
    runner = Runner(browser=driver, artifacts=ArtifactStore(blocker / "artifacts"))
    api.post(
        "/_sandbox/faults", json={"service": WF, "mode": "unavailable", "path": "/api/workflows/*"}
    ).raise_for_status()
    try:
        result = loop.run(runner.run(j.browser_canvas(wf["id"], 4), sandbox_target(sandbox.url)))
    finally:
        api.delete("/_sandbox/faults")
        api.delete(f"/api/workflows/{wf['id']}")
    assert verdict(result)[:3] == ("dependency_error", "open canvas", WF), result.to_json()
    assert [kind for kind, _ in result.final.internal_errors] == ["artifacts"]
    assert result.artifacts == ()
    with BackgroundAgent() as agent:
        sink = DogStatsdSink(parse_url(agent.url), Origin("test", "here"))
        sink.emit(result)
        sink.close()
        points = wait_for(lambda: agent.points(INTERNAL_ERRORS) or None, 5, what="the count")
    assert points[0].tag("kind") == "artifacts"
    assert points[0].tag("journey") == "browser_canvas"


def test_a_failing_sink_is_counted_and_the_others_still_get_the_run(
    sandbox: SandboxProcess, loop: LoopThread, tmp_path: Path, api: httpx.Client
) -> None:
    store = ResultStore(tmp_path / "results.db")
    store.close()  # a real store that can no longer write
    wf = create(api, "sinks")
    try:
        result = loop.run(Runner().run(j.api_read(wf["id"]), sandbox_target(sandbox.url)))
    finally:
        api.delete(f"/api/workflows/{wf['id']}")
    lines = tmp_path / "log.jsonl"
    with BackgroundAgent() as agent, lines.open("w") as stream:
        statsd = DogStatsdSink(parse_url(agent.url), Origin("test", "here"))
        fanout = FanOut(
            [StoreSink(store, Origin("test", "here")), statsd, LogSink(Origin("t", "h"), stream)],
            on_internal_error=statsd.internal_error,
        )
        assert fanout.emit(result) == ["store"]
        points = wait_for(lambda: agent.points(INTERNAL_ERRORS) or None, 5, what="the count")
    assert points[0].tag("kind") == "sink:store"
    assert json.loads(lines.read_text())["status"] == "success"


# --- secrets ------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("password", ["abc123", "a-much-longer-secret-passphrase"])
def test_passwords_never_reach_what_is_written(
    sandbox: SandboxProcess,
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path: Path,
    password: str,
) -> None:
    """A login form's fallback GET puts the password in the URL: short or long, plain or
    percent-encoded, it must not reach the network log, the trace, the result or the log."""
    leaky = journey("leaky_form", channel="browser", service=FE)

    @leaky.step("submit")
    async def submit(ctx: StepContext) -> None:
        base = ctx.target.base_url
        await ctx.page.goto(f"{base}/login?username=prober&password={password}")
        await ctx.page.goto(f"{base}/login?user=prober&pw={quote(password)}&next=/")
        await ctx.page.goto(f"{base}/login#pw={password}")
        ctx.fail("the sign-in form sent the password in the URL")

    target = sandbox_target(sandbox.url, password=password)
    runner = Runner(browser=driver, artifacts=ArtifactStore(tmp_path / "artifacts"))
    result = loop.run(runner.run(leaky, target))
    assert result.artifacts, "the failed run wrote no artifacts"
    written: dict[str, str] = {}
    for path in map(Path, result.artifacts):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    written[f"{path.name}:{name}"] = archive.read(name).decode("utf-8", "replace")
        elif path.suffix == ".json":
            written[path.name] = path.read_text()
    stream = tmp_path / "log.jsonl"
    with stream.open("w") as out:
        LogSink(Origin("t", "h"), out).emit(result)
    written["result"] = json.dumps(result.to_json())
    written["log"] = stream.read_text()
    network = next(text for name, text in written.items() if name.endswith("network.json"))
    assert "/login?" in network, "the leaky URL is not in the network log at all"
    leaks = [name for name, text in written.items() if password in text]
    assert leaks == [], f"{password!r} reached {leaks}"


# --- logins that cannot lock the probe user out -----------------------------------------------


@pytest.fixture
def locking_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A platform that locks a user after more than 5 failed logins in 10 minutes and keeps
    counting while locked, as Node-RED does."""
    process = start_sandbox(tmp_path_factory.mktemp("locking"), env={"SANDBOX_LOCKOUT": "5/600"})
    yield process
    process.stop()


def logins(sandbox: SandboxProcess) -> int:
    return sum(
        1
        for line in sandbox.logged_requests()
        if line.get("path") == "/api/auth/login" and line.get("method") == "POST"
    )


def test_twenty_runs_with_a_wrong_password_do_not_lock_the_account(
    locking_sandbox: SandboxProcess, loop: LoopThread
) -> None:
    wrong = sandbox_target(locking_sandbox.url, password="wrong-password")
    runner = Runner()  # one process: one memory of refused logins
    results = [loop.run(runner.run(j.api_read("wf_x"), wrong)) for _ in range(20)]
    assert {verdict(r)[:3] for r in results} == {("client_error", "read workflow", WF)}
    messages = [r.failure.message if r.failure else "" for r in results]
    assert messages[0].startswith("login refused: POST /api/auth/login answered 401")
    assert all(m.startswith("login held back") for m in messages[1:]), messages[1]
    assert logins(locking_sandbox) == 1
    login(locking_sandbox.url)  # the right password still works: not locked
    # Control: a prober that forgot every refusal (a new runner per run) locks the account,
    # and the failure then says why in the platform's own words.
    began = time.monotonic()
    forgetful = [loop.run(Runner().run(j.api_read("wf_x"), wrong)) for _ in range(8)]
    assert time.monotonic() - began < 60
    last = forgetful[-1].failure
    assert last is not None
    assert "Too many login attempts" in last.message, last.message
    with pytest.raises(httpx.HTTPStatusError):
        login(locking_sandbox.url)
