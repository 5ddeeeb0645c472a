"""Issue 19 over the wire: the BUNDLED journeys (journeys/workflows) with the repository's
prober.yaml and the packs' own defaults, against faults broken on the wire between the prober
and the reference platform by a real proxy (tests/wire_proxy.py), on each channel where the
fault exists.

`probe_error` is left out of every SLO and pages the prober's owners, so a platform fault that
comes out as `probe_error` is the worst verdict: every row also asserts it is not one.

Each row (a `Leg`) runs one bundled journey once, as `prober run` does (no retries: the first
failure is the verdict; the journeys' waits and timeouts are the shipped ones, untouched), and
compares (status, error_type, failed_service, blame_source) and a piece of the message; it
records the failed attempt's duration (the time to verdict). The legs of one fault run side by
side. Every rule on a request that carries the trace headers (the API client's, the page's own
calls) is scoped to its leg's own run (`x-cuj-probe: <journey>/<run_id>`, and Sec-Fetch-Mode for
what only Chromium must meet), so a journey's API setup (the fixture check, the sweep) passes and
the fault meets the channel the row names; a rule on a page's document or static file, which
carry none, is scoped by Sec-Fetch-Mode alone, in a fault with one browser leg.

Canned answers from the proxy carry no `x-service` header, so their blame comes from the route
map (`route`); answers the sandbox sent and the proxy only broke keep the platform's own header
(`platform`). Set WIRE_VERDICTS=path.jsonl to get every leg's actual verdict written there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from prober.artifacts import ArtifactStore
from prober.catalog import Catalog
from prober.commands.setup import prepare
from prober.config import LoadedConfig
from prober.context import StepContext
from prober.drivers.browser import BrowserDriver
from prober.journey import Journey, Phase, Step
from prober.result import JourneyResult, Status
from prober.runner import Runner, new_run_id
from tests.loop_thread import LoopThread
from tests.prober_cli import CONFIG, prober_env
from tests.sandbox_process import SandboxProcess
from tests.wire_proxy import (
    FROM_BROWSER,
    AddHeaders,
    BadEncoding,
    BrokenChunks,
    ConflictingLength,
    CutShort,
    EmptyBody,
    Garbage,
    Headers,
    HtmlErrorPage,
    InjectHtml,
    RateLimit,
    Redirect,
    Respond,
    Rule,
    Trickle,
    WireProxy,
    self_signed_tls,
)

pytestmark = pytest.mark.browser

C, RB, RA = "workflow_canvas_load", "workflow_run_browser", "workflow_run_api"
CA, CB = "workflow_crud_api", "workflow_crud_browser"
WF, FE = "workflow-service", "frontend-monolith"
OE, OPT = "orchestration-engine", "optimizer-service"
FAILURE, SUCCESS = "failure", "success"
LEG_TIMEOUT_S = 90.0  # one run: 20 s journey timeout, cleanups, artifacts; far above either


# --- the repository's configuration, pointed at the proxy --------------------------------------


@dataclass(frozen=True)
class Loaded:
    config: LoadedConfig
    catalog: Catalog

    def journey(self, name: str) -> Journey:
        return self.catalog.journeys[name]

    @property
    def target(self) -> Any:
        return self.catalog.targets["sandbox"]

    def runner(self, driver: BrowserDriver, artifacts: Path) -> Runner:
        """A fresh Runner wired as `App` (serve, run) wires it: a fresh login gate, no token."""
        return Runner(
            browser=driver,
            artifacts=ArtifactStore(artifacts),
            cleanup_timeout_s=self.config.config.serve.cleanup_timeout,
        )


def load_repository_config(base_url: str, workdir: Path) -> Loaded:
    """prober.yaml as shipped; only the sandbox target's base_url (and where results and
    artifacts go) differ, by the PROBER_ overrides a deployment would use."""
    environ = prober_env(base_url, workdir, "udp://127.0.0.1:9")
    config, catalog = prepare(CONFIG, environ)
    return Loaded(config, catalog)


@pytest.fixture(scope="module")
def proxy(sandbox: SandboxProcess) -> Iterator[WireProxy]:
    with WireProxy(sandbox.url) as wire:
        yield wire


@pytest.fixture(scope="module")
def repo(proxy: WireProxy, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return load_repository_config(proxy.url, tmp_path_factory.mktemp("wire-packs"))


@pytest.fixture(scope="module")
def platform(sandbox: SandboxProcess, token: str) -> Iterator[httpx.Client]:
    """The sandbox directly (not through the proxy): its fault API and fixture lookups."""
    with httpx.Client(
        base_url=sandbox.url, headers={"authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture(scope="module")
def fixture_id(
    repo: Loaded,
    proxy: WireProxy,
    platform: httpx.Client,
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The canvas fixture's id, after one healthy canvas run through the proxy (which creates
    the fixture when missing, and shows the shipped config works through the proxy at all)."""
    proxy.clear()
    runner = repo.runner(driver, tmp_path_factory.mktemp("healthy"))
    result = loop.run(runner.run(repo.journey(C), repo.target, retries=0), LEG_TIMEOUT_S)
    assert result.status is Status.SUCCESS, json.dumps(result.to_json(), indent=1)
    listed = platform.get("/api/workflows", params={"name_prefix": "prober-fixture"}).json()
    return str(listed["workflows"][0]["id"])


@pytest.fixture(autouse=True)
def _fresh_rules(proxy: WireProxy) -> Iterator[None]:
    proxy.clear()
    yield
    proxy.clear()


# --- the table ---------------------------------------------------------------------------------


def of_run(journey: str, run_id: str) -> Headers:
    """Only this very run's requests (either channel)."""
    return (("x-cuj-probe", f"{journey}/{run_id}"),)


RulesFor = Callable[[str, Headers], list[Rule]]  # (fixture id, this run's selector) -> rules


@dataclass(frozen=True)
class Leg:
    """One row: a bundled journey meets the fault on one channel."""

    channel: str  # "api" | "browser": where the journey meets the fault
    journey: str
    rules: RulesFor
    expected: tuple[str, str | None, str | None, str | None]  # status, type, service, source
    in_message: str = ""  # a regex (case-insensitive) the failure message must contain
    max_s: float | None = None  # the failed attempt must end within this
    # A second run of the same journey with the same Runner, expected to succeed: seconds
    # after the faulted request (0: at once), None: no second run.
    again_after_s: float | None = None
    browser_only: bool = False  # the canvas journey without its API setup (see TLS)


@dataclass(frozen=True)
class Fault:
    name: str
    legs: tuple[Leg, ...]
    sandbox_fault: dict[str, Any] | None = None  # armed through the sandbox's own fault API
    tls: bool = False  # the proxy serves HTTPS with a certificate nobody trusts
    notes: tuple[str, ...] = field(default=())


def _fixture_path(wf: str) -> str:
    return f"/api/workflows/{wf}"


def _page(sel: Headers) -> Headers:
    """The run's requests that Chromium sends (the page's own calls), not its httpx setup."""
    return sel + FROM_BROWSER


# The page's documents and static files carry no trace headers (the prober adds them in the
# page, to its calls: prober/drivers/page_trace.py), so no run id scopes a rule on them: only
# that Chromium sent them. A fault with such a rule has one browser leg, so the rule meets that
# leg's run and no other (test_a_rule_no_run_scopes_meets_one_browser_leg).
PAGE_FILE = FROM_BROWSER


def _service_503(upstream: str | None) -> bytes:
    error: dict[str, Any] = {
        "code": "unavailable",
        "message": "orchestration-engine is unavailable: scheduler pool exhausted",
        "service": OE,
    }
    if upstream is not None:
        error.update(upstream=upstream, message=f"{upstream} is unavailable")
    return json.dumps({"error": error}).encode()


JSON = "application/json"
NOT_EMPTY_HTML = r"text/html"


def _closed_port() -> int:
    """A loopback port nothing listens on (and not one Chromium refuses as unsafe)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


OFF_TARGET = f"http://127.0.0.1:{_closed_port()}/moved"


def _mistyped(wf: str) -> bytes:
    """The fixture's fields, of the wrong types."""
    return json.dumps(
        {"id": wf, "name": "prober-fixture-canvas", "version": 1, "nodes": "x", "edges": 5}
    ).encode()


def _huge(wf: str) -> bytes:
    """20 MB of JSON without the workflow's fields."""
    return b'{"padding": "' + b"x" * 20_000_000 + b'"}'


def _both(
    rules: Callable[[str, Headers], list[Rule]],
    expected: tuple[str, str | None, str | None, str | None],
    in_message: str = "",
    journeys: tuple[str, str] = (RA, C),
) -> tuple[Leg, Leg]:
    """The same fault on the API read (the fixture check) and on the page's read."""
    return (
        Leg("api", journeys[0], rules, expected, in_message),
        Leg(
            "browser",
            journeys[1],
            lambda wf, sel: rules(wf, _page(sel)),
            expected,
            in_message,
            max_s=8.0,
        ),
    )


FAULTS = [
    # Over the API on crud's own read ("verify saved": its first GET of a /api/workflows/{id}):
    # a trickled fixture read would hold the process's fixture lock for the whole deadline, and
    # the browser leg beside it would spend its own deadline waiting for that lock.
    Fault("trickled body of a workflow read", (
        Leg("api", CA, lambda wf, sel: [Trickle("GET", "/api/workflows/*", when=sel)],
            (FAILURE, "timeout", WF, "platform"), r"/api/workflows/"),
        Leg("browser", C, lambda wf, sel: [Trickle("GET", _fixture_path(wf), when=_page(sel))],
            (FAILURE, "timeout", WF, "platform"), r"/api/workflows/"),
    )),
    Fault("gzip-labelled body that does not decode on the fixture read", (
        Leg("api", RA, lambda wf, sel: [BadEncoding("GET", _fixture_path(wf), when=sel)],
            (FAILURE, "server_error", WF, "platform"), r"decod"),
        Leg("browser", C, lambda wf, sel: [BadEncoding("GET", _fixture_path(wf),
                                                       when=_page(sel))],
            (FAILURE, "server_error", WF, "platform"), r"decod"),
    )),
    Fault("HTML page with 200 on the fixture read", (
        Leg("api", RA, lambda wf, sel: [HtmlErrorPage("GET", _fixture_path(wf), when=sel)],
            (FAILURE, "server_error", WF, "route"), NOT_EMPTY_HTML),
        Leg("browser", C, lambda wf, sel: [HtmlErrorPage("GET", _fixture_path(wf),
                                                         when=_page(sel))],
            (FAILURE, "server_error", WF, "route"), NOT_EMPTY_HTML),
    )),
    Fault("empty 204 on the fixture read", (
        Leg("api", RA, lambda wf, sel: [EmptyBody("GET", _fixture_path(wf), when=sel)],
            (FAILURE, "server_error", WF, "route"), r"204|empty"),
        Leg("browser", C, lambda wf, sel: [EmptyBody("GET", _fixture_path(wf), when=_page(sel))],
            (FAILURE, "server_error", WF, "route"), r"204|empty"),
    )),
    Fault("empty 200 on the fixture read", (
        Leg("api", RA, lambda wf, sel: [EmptyBody("GET", _fixture_path(wf), status=200,
                                                  content_type=JSON, when=sel)],
            (FAILURE, "server_error", WF, "route"), r"empty|json"),
        Leg("browser", C, lambda wf, sel: [EmptyBody("GET", _fixture_path(wf), status=200,
                                                     content_type=JSON, when=_page(sel))],
            (FAILURE, "server_error", WF, "route"), r"empty|json"),
    )),
    # The engine's own header on a body it could not have meant: `platform`.
    Fault("{} with 200 on the run read", (
        Leg("api", RA, lambda wf, sel: [Respond("GET", "/api/runs/*", status=200, body=b"{}",
                                                content_type=JSON,
                                                headers=(("x-service", OE),), when=sel)],
            (FAILURE, "assertion", OE, "platform"), r"status"),
        Leg("browser", RB, lambda wf, sel: [Respond("GET", "/api/runs/*", status=200, body=b"{}",
                                                    content_type=JSON,
                                                    headers=(("x-service", OE),),
                                                    when=_page(sel))],
            (FAILURE, "assertion", OE, "platform")),
    )),
    Fault("HTML page with 200 on the run read", (
        Leg("api", RA, lambda wf, sel: [HtmlErrorPage("GET", "/api/runs/*", when=sel)],
            (FAILURE, "server_error", OE, "route"), NOT_EMPTY_HTML),
        Leg("browser", RB, lambda wf, sel: [HtmlErrorPage("GET", "/api/runs/*",
                                                          when=_page(sel))],
            (FAILURE, "server_error", OE, "route"), NOT_EMPTY_HTML),
    )),
    # The engine says it is itself unavailable (no upstream): its own failure, not a dependency.
    Fault("503 naming orchestration-engine on starting a run", (
        Leg("api", RA, lambda wf, sel: [Respond("POST", "/api/workflows/*/runs", status=503,
                                                body=_service_503(None), content_type=JSON,
                                                when=sel)],
            (FAILURE, "server_error", OE, "platform"), r"503"),
        Leg("browser", RB, lambda wf, sel: [Respond("POST", "/api/workflows/*/runs", status=503,
                                                    body=_service_503(None), content_type=JSON,
                                                    when=_page(sel))],
            (FAILURE, "server_error", OE, "platform"), r"503|unavailable"),
    )),
    Fault("503 from the engine naming optimizer-service as upstream", (
        Leg("api", RA, lambda wf, sel: [Respond("POST", "/api/workflows/*/runs", status=503,
                                                body=_service_503(OPT), content_type=JSON,
                                                when=sel)],
            (FAILURE, "dependency_error", OPT, "platform"), OPT),
    )),
    # Both keep the sandbox's own head (x-service: frontend-monolith); only Chromium meets them.
    # Two faults, not two legs of one: both journeys open the fixture's canvas.
    Fault("the canvas's scripts are blocked by its CSP", (
        Leg("browser", C, lambda wf, sel: [AddHeaders(
                "GET", f"/workflows/{wf}", when=PAGE_FILE,
                headers=(("content-security-policy", "script-src 'none'"),))],
            (FAILURE, "assertion", FE, None), r"content.security.policy|csp|script"),
    )),
    Fault("the canvas's script is text/plain with nosniff", (
        Leg("browser", RB, lambda wf, sel: [AddHeaders(
                "GET", "/static/canvas.js", when=PAGE_FILE,
                headers=(("content-type", "text/plain"), ("x-content-type-options", "nosniff")))],
            (FAILURE, "assertion", FE, None), r"mime|nosniff|text/plain"),
    )),
    Fault("untrusted self-signed certificate", tls=True, legs=(
        Leg("api", RA, lambda wf, sel: [], (FAILURE, "connection", WF, None), r"certificate"),
        # Every bundled browser journey starts with an API setup step (the fixture check, or
        # the sweep), which meets the certificate first; this leg runs the canvas journey's own
        # browser steps with the fixture id handed over, so Chromium is what meets it.
        Leg("browser", C, lambda wf, sel: [], (FAILURE, "connection", FE, None),
            r"cert", browser_only=True),
    )),
    # Malformed HTTP on the fixture read, broken by the proxy after the sandbox answered: a
    # connection closed before the announced length is the network's (connection), a chunked
    # body whose framing is garbage does not decode (server_error), both on the platform's own
    # header; a status line that is not HTTP and two Content-Lengths never become an answer
    # (connection, on the route's owner).
    Fault("broken framing on the fixture read", (
        *_both(lambda wf, sel: [CutShort("GET", _fixture_path(wf), when=sel)],
               (FAILURE, "connection", WF, "platform")),
        *_both(lambda wf, sel: [BrokenChunks("GET", _fixture_path(wf), when=sel)],
               (FAILURE, "server_error", WF, "platform"), r"chunking"),
    )),
    Fault("not HTTP on the fixture read", (
        *_both(lambda wf, sel: [Garbage("GET", _fixture_path(wf), when=sel)],
               (FAILURE, "connection", WF, "route")),
        *_both(lambda wf, sel: [ConflictingLength("GET", _fixture_path(wf), when=sel)],
               (FAILURE, "connection", WF, "route")),
    )),
    # An API call redirected where the client cannot use it: off the target, to an origin
    # that refuses, or to the login page (a lost session). The service that redirected is
    # blamed, not the network nor the page it pointed to.
    Fault("an API read redirected where it cannot go", (
        Leg("api", RA, lambda wf, sel: [Redirect("GET", _fixture_path(wf), location=OFF_TARGET,
                                                 when=sel)],
            (FAILURE, "server_error", WF, "route"), r"redirect"),
        # Chromium sometimes reports the refused next hop on the original request, with no
        # 3xx ever shown to the page's observers (a race in how it surfaces redirects): then
        # all the browser saw is a refused connection on workflow-service's URL, and that is
        # its verdict. The service and the blame must hold either way.
        Leg("browser", C, lambda wf, sel: [Redirect("GET", _fixture_path(wf),
                                                    location=OFF_TARGET, when=_page(sel))],
            (FAILURE, None, WF, "route"), r"redirect|ERR_CONNECTION_REFUSED", max_s=8.0),
        *_both(lambda wf, sel: [Redirect("GET", _fixture_path(wf), location="/login",
                                         when=sel)],
               (FAILURE, "server_error", WF, "route"), r"302, redirecting to /login"),
    )),
    # Valid JSON the journey cannot use: fields of the wrong types (the API journey walked
    # them into an AttributeError: a probe_error), a 20 MB body without the fields (Chromium
    # does not keep it for the journey to read: a probe_error).
    Fault("a workflow read with fields of wrong types, or 20 MB without them", (
        *_both(lambda wf, sel: [Respond("GET", _fixture_path(wf), status=200,
                                        body=_mistyped(wf), content_type=JSON, when=sel)],
               (FAILURE, "assertion", WF, "route"), r"'nodes' a str"),
        *_both(lambda wf, sel: [Respond("GET", _fixture_path(wf), status=200,
                                        body=_huge(wf), content_type=JSON, when=sel)],
               (FAILURE, "assertion", WF, "route")),
    )),
    # A script that answers 404 never runs: the step fails fast, not at its 20 s deadline.
    Fault("a page script answers 404", (
        Leg("browser", C, lambda wf, sel: [Respond("GET", "/static/canvas.js", status=404,
                                                   when=PAGE_FILE)],
            (FAILURE, "client_error", FE, "route"), r"404", max_s=8.0),
    )),
    # What is not the target's - the browser's own favicon, a third-party script and image
    # whose host does not resolve - never fails a run.
    Fault("noise outside the target", (
        Leg("browser", CB, lambda wf, sel: [
            Respond("GET", "/favicon.ico", status=500, when=PAGE_FILE),
            InjectHtml("GET", "/", when=PAGE_FILE, html=(
                '<script src="http://no-such-host.invalid/tag.js"></script>'
                '<img src="http://no-such-host.invalid/pixel.png">'))],
            (SUCCESS, None, None, None)),
    )),
    Fault("500 on the canvas document", (
        Leg("browser", C, lambda wf, sel: [Respond("GET", f"/workflows/{wf}", status=500,
                                                   body=b"frontend exploded", when=PAGE_FILE)],
            (FAILURE, "server_error", FE, "route"), r"500", max_s=8.0),
    )),
    # A 503 holds nothing back: a second run right after succeeds.
    Fault("one 503 on the login", (
        Leg("api", RA, lambda wf, sel: [Respond("POST", "/api/auth/login", status=503,
                                                body=b"login briefly unavailable", times=1,
                                                when=sel)],
            (FAILURE, None, None, None), r"503", again_after_s=0.0),
    )),
    Fault("429 with Retry-After: 2 on the login", (
        Leg("api", RA, lambda wf, sel: [RateLimit("POST", "/api/auth/login", retry_after=2,
                                                  times=1, when=sel)],
            # The hold counts from when the prober read the 429, a moment after the proxy sent
            # it: the next run comes a little after Retry-After, as a scheduled one would.
            (FAILURE, "client_error", WF, None), r"retry.?after", again_after_s=2.5),
    )),
    # The silent failure, by the sandbox's own fault API: every answer a 2xx, runs stay queued.
    Fault("runs stay queued (sandbox fault: engine silent stuck)",
          sandbox_fault={"service": OE, "mode": "silent", "variant": "stuck"}, legs=(
        Leg("api", RA, lambda wf, sel: [], (FAILURE, "assertion", OE, "platform"), r"'queued'"),
        Leg("browser", RB, lambda wf, sel: [], (FAILURE, "assertion", OE, "platform"),
            r"'queued'"),
    )),
]  # fmt: skip


# --- running a leg ------------------------------------------------------------------------------


def browser_only(journey: Journey, fixture_id: str) -> Journey:
    """`journey` with its API setup replaced by handing over the fixture id (see the TLS row)."""

    async def handed_over(ctx: StepContext) -> None:
        ctx.vars["fixture_id"] = fixture_id

    clone = copy.copy(journey)
    clone.steps = [
        Step("ensure fixture", WF, handed_over, phase=Phase.SETUP),
        *(step for step in journey.steps if step.phase is not Phase.SETUP),
    ]
    clone.sweep = None
    return clone


@dataclass
class Verdict:
    fault: str
    channel: str
    journey: str
    status: str
    error_type: str | None
    failed_service: str | None
    blame_source: str | None
    failed_step: str | None
    duration_s: float
    message: str
    again: str | None = None  # the second run's status and first line, when there is one

    def got(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.status, self.error_type, self.failed_service, self.blame_source)

    def line(self) -> str:
        first = self.message.splitlines()[0] if self.message else ""
        again = f" | again: {self.again}" if self.again is not None else ""
        return (
            f"{self.fault} [{self.channel}, {self.journey}]: {self.status} {self.error_type} "
            f"{self.failed_service} ({self.blame_source}) step={self.failed_step!r} "
            f"{self.duration_s:.1f}s :: {first}{again}"
        )


def _verdict(fault: Fault, leg: Leg, result: JourneyResult) -> Verdict:
    attempt = result.attempts[0] if result.attempts else None
    failure = result.failure
    return Verdict(
        fault=fault.name,
        channel=leg.channel,
        journey=leg.journey,
        status=str(result.status),
        error_type=None if result.error_type is None else str(result.error_type),
        failed_service=result.failed_service,
        blame_source=None if result.blame_source is None else str(result.blame_source),
        failed_step=result.failed_step,
        duration_s=attempt.duration_s if attempt is not None else float("nan"),
        message="" if failure is None else failure.message,
    )


def _crashed(fault: Fault, leg: Leg, exc: Exception, took: float) -> Verdict:
    """The runner itself raised: `prober run`/`serve` turn that into a probe_error."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/prober/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return Verdict(
        fault=fault.name,
        channel=leg.channel,
        journey=leg.journey,
        status=str(Status.PROBE_ERROR),
        error_type=None,
        failed_service=None,
        blame_source=None,
        failed_step=None,
        duration_s=took,
        message=f"the runner crashed: {type(exc).__name__}: {exc} (raised in {where})",
    )


async def _run_leg(
    fault: Fault,
    leg: Leg,
    loaded: Loaded,
    runner: Runner,
    proxy: WireProxy,
    fixture_id: str,
) -> tuple[Verdict, JourneyResult | None, JourneyResult | None]:
    journey = loaded.journey(leg.journey)
    if leg.browser_only:
        journey = browser_only(journey, fixture_id)
    run_id = new_run_id()
    rules = [proxy.add(rule) for rule in leg.rules(fixture_id, of_run(leg.journey, run_id))]
    # As `prober run` does: no retries, so the first failure is the verdict.
    began = time.monotonic()
    try:
        result = await runner.run(journey, loaded.target, retries=0, run_id=run_id)
    except Exception as exc:  # App.execute would report it as a probe_error
        return _crashed(fault, leg, exc, time.monotonic() - began), None, None
    verdict = _verdict(fault, leg, result)
    second = None
    if leg.again_after_s is not None:
        faulted = [r.at for r in proxy.requests if any(r.rule is rule for rule in rules)]
        assert faulted, f"{fault.name}: the proxy never applied the fault"
        ready = faulted[0] + leg.again_after_s
        # The moment the fault itself allows another try (Retry-After), not a guessed pause.
        await asyncio.sleep(max(0.0, ready - time.monotonic()))
        second = await runner.run(journey, loaded.target, retries=0)
        message = "" if second.failure is None else second.failure.message.splitlines()[0]
        verdict.again = f"{second.status} {second.error_type or ''} {message}".strip()
    return verdict, result, second


def _check(
    leg: Leg, verdict: Verdict, result: JourneyResult | None, second: JourneyResult | None
) -> str:
    """Every way the leg missed its contract, as one paragraph ("" when it held)."""
    problems = []
    if verdict.status == str(Status.PROBE_ERROR):
        problems.append("a platform fault came out as probe_error")
    expected = leg.expected
    got = verdict.got()
    for i, name in enumerate(("status", "error_type", "failed_service", "blame_source")):
        if expected[i] is not None and got[i] != expected[i]:
            problems.append(f"{name} {got[i]!r}, expected {expected[i]!r}")
    if leg.in_message and not re.search(leg.in_message, verdict.message, re.IGNORECASE):
        problems.append(f"the message lacks /{leg.in_message}/")
    if leg.max_s is not None and not verdict.duration_s < leg.max_s:
        problems.append(f"the failed attempt took {verdict.duration_s:.1f}s, not < {leg.max_s}s")
    if second is not None and second.status is not Status.SUCCESS:
        problems.append(f"the run after it did not succeed: {verdict.again}")
    if not problems:
        return ""
    shown = "" if result is None else f"evidence: {result.to_json().get('evidence')}"
    return f"{verdict.line()}\n    " + "\n    ".join([*problems, shown])


def _record(verdicts: list[Verdict]) -> None:
    out = os.environ.get("WIRE_VERDICTS")
    for verdict in verdicts:
        print(verdict.line())
    if out:
        with Path(out).open("a", encoding="utf-8") as sink:
            for verdict in verdicts:
                sink.write(json.dumps(verdict.__dict__) + "\n")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_bundled_journeys_judge_the_wire_fault(
    fault: Fault,
    repo: Loaded,
    proxy: WireProxy,
    platform: httpx.Client,
    sandbox: SandboxProcess,
    fixture_id: str,
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        loaded, wire = repo, proxy
        if fault.tls:
            wire = stack.enter_context(WireProxy(sandbox.url, tls=self_signed_tls(tmp_path)))
            loaded = load_repository_config(wire.url, tmp_path / "tls")
            assert loaded.target.verify_tls  # the default, as shipped
        if fault.sandbox_fault is not None:
            platform.post("/_sandbox/faults", json=fault.sandbox_fault).raise_for_status()
            stack.callback(lambda: platform.delete("/_sandbox/faults").raise_for_status())
        runner = loaded.runner(driver, tmp_path / "artifacts")

        async def legs() -> list[tuple[Verdict, JourneyResult | None, JourneyResult | None]]:
            return list(
                await asyncio.gather(
                    *(_run_leg(fault, leg, loaded, runner, wire, fixture_id) for leg in fault.legs)
                )
            )

        outcomes = loop.run(legs(), LEG_TIMEOUT_S * 2)
    _record([verdict for verdict, _, _ in outcomes])
    problems = [
        _check(leg, verdict, result, second)
        for leg, (verdict, result, second) in zip(fault.legs, outcomes, strict=True)
    ]
    assert not any(problems), "\n".join(p for p in problems if p)


def test_a_slow_fixture_read_fails_the_runs_waiting_for_it_in_their_own_setup(
    repo: Loaded,
    proxy: WireProxy,
    fixture_id: str,
    loop: LoopThread,
    driver: BrowserDriver,
    tmp_path: Path,
) -> None:
    """Runs of one process check a shared fixture one at a time. When the platform answers one
    run's fixture read slowly, the runs waiting for their turn fail in their own fixture step
    (a timeout on its service) before their deadline - not in a later step that the wait left
    with no time at all, blamed on a service that did nothing wrong."""
    runner = repo.runner(driver, tmp_path / "artifacts")

    def shortened(name: str) -> Journey:
        # What is judged here is the turn at the fixture, not a pack's timing: both runs get
        # an 8 s timeout instead of 20 s, so the test waits out two deadlines of 8 s.
        return repo.journey(name).replace(timeout="8s")

    slow_id = new_run_id()
    proxy.add(Trickle("GET", _fixture_path(fixture_id), when=of_run(RA, slow_id)))

    async def both() -> tuple[JourneyResult, JourneyResult]:
        slow = asyncio.ensure_future(
            runner.run(shortened(RA), repo.target, retries=0, run_id=slow_id)
        )
        deadline = time.monotonic() + 10
        while not _trickling(proxy, slow_id) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the slow run holds the fixture's turn from here on
        waiting = await runner.run(shortened(C), repo.target, retries=0)
        return await slow, waiting

    slow, waiting = loop.run(both(), LEG_TIMEOUT_S * 2)
    assert (slow.error_type, slow.failed_service) == ("timeout", WF), slow.to_json()
    got = (waiting.error_type, waiting.failed_step, waiting.failed_service)
    assert got == ("timeout", "ensure fixture", WF), waiting.to_json()
    assert waiting.failure is not None and "another run" in waiting.failure.message


def test_a_rule_no_run_scopes_meets_one_browser_leg() -> None:
    """A rule on what Chromium sends without trace headers (PAGE_FILE) would meet every browser
    leg of its fault, so such a fault has one."""
    for fault in FAULTS:
        unscoped = [
            leg.journey
            for leg in fault.legs
            for rule in leg.rules("wf", of_run(leg.journey, "r1"))
            if not any(name == "x-cuj-probe" for name, _ in rule.when)
        ]
        browser_legs = [leg for leg in fault.legs if leg.channel == "browser"]
        assert not unscoped or len(browser_legs) == 1, (fault.name, unscoped)


def _trickling(proxy: WireProxy, run_id: str) -> bool:
    return any(isinstance(r.rule, Trickle) and run_id in (r.header("x-cuj-probe") or "")
               for r in proxy.requests)  # fmt: skip
