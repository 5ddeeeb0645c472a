"""The classifier's decisions, table-driven, and proof that every foreign exception is decided."""

from __future__ import annotations

import json

import httpx
import playwright.async_api as playwright_api
import pytest

from prober.classify import HTTPX_RULES, PLAYWRIGHT_RULES, classify
from prober.errors import (
    BrowserUnavailable,
    GaveUp,
    JourneyAssertion,
    JourneyExit,
    LoginFailed,
    ReportedFailure,
    RequestFailed,
    UnexpectedStatus,
    WaitTimedOut,
)
from prober.journey import Step
from prober.observe import Exchange, PageError


async def _noop(ctx: object) -> None:
    return None


STEP = Step("open canvas", "frontend-monolith", _noop)


def exported_exceptions(module: object) -> set[type[BaseException]]:
    return {
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    }


def test_every_httpx_exception_has_a_rule() -> None:
    missing = exported_exceptions(httpx) - set(HTTPX_RULES)
    assert not missing, f"decide how to classify: {sorted(c.__name__ for c in missing)}"


def test_every_playwright_exception_has_a_rule() -> None:
    missing = exported_exceptions(playwright_api) - set(PLAYWRIGHT_RULES)
    assert not missing, f"decide how to classify: {sorted(c.__name__ for c in missing)}"


def answered(
    path: str,
    status: int,
    owner: str | None,
    responder: str | None = None,
    reported: str | None = None,
    upstream: str | None = None,
) -> Exchange:
    exchange = Exchange("GET", f"http://t{path}", owner, STEP.name, 0.0, 0.1, status)
    exchange.responder, exchange.reported_service, exchange.upstream = responder, reported, upstream
    return exchange


def pending(path: str, owner: str) -> Exchange:
    return Exchange("GET", f"http://t{path}", owner, STEP.name, 0.0)


def broken(path: str, owner: str, text: str, resource: str | None = "document") -> Exchange:
    exchange = Exchange("GET", f"http://t{path}", owner, STEP.name, 0.0, 0.1, resource=resource)
    exchange.failure = text
    return exchange


WF = "workflow-service"
FE = "frontend-monolith"
ENGINE = "orchestration-engine"


def page_error(kind: str, path: str | None, owner: str | None, text: str = "boom") -> PageError:
    return PageError(STEP.name, kind, text, None if path is None else f"http://t{path}", owner)


def expected(exchange: Exchange) -> Exchange:
    exchange.expected = True
    return exchange


def aborted_after(exchange: Exchange, resource: str) -> Exchange:
    exchange.failure, exchange.resource = "net::ERR_ABORTED", resource
    return exchange


def with_body(exchange: Exchange, problem: str | None, mismatch: str | None = None) -> Exchange:
    exchange.body_problem, exchange.body_mismatch = problem, mismatch
    return exchange


def slow_body(exchange: Exchange) -> Exchange:
    exchange.body_pending = True
    return exchange


def json_error() -> json.JSONDecodeError:
    return json.JSONDecodeError("Expecting value", "<html>", 0)


def reset(path: str, owner: str) -> Exchange:
    return broken(path, owner, "net::ERR_CONNECTION_RESET", "fetch")


CASES = [
    # (what happened, exception, traffic, page errors, deadline,
    #  expected error_type, service, blame_source)
    ("plain wrong outcome", AssertionError("empty"), [], [], False, "assertion", FE, "step"),
    ("the author names a service", JourneyAssertion("lost", service=WF), [], [], False,
     "assertion", WF, "author"),
    ("the author's verdict beats a failed answer", JourneyAssertion("lost", service=WF),
     [answered("/api/runs/1", 503, ENGINE, ENGINE)], [], False, "assertion", WF, "author"),
    ("ctx.fail without a service beats a 404", JourneyAssertion("still listed"),
     [answered("/api/workflows/1", 404, WF, WF)], [], False, "assertion", FE, "step"),
    ("an expected 404 is not evidence", AssertionError("expect failed"),
     [expected(answered("/api/workflows/1", 404, WF, WF))], [], False, "assertion", FE, "step"),
    ("an unexpected 404 is", AssertionError("expect failed"),
     [answered("/api/workflows/1", 404, WF, WF)], [], False, "client_error", WF, "platform"),
    ("API 503 behind an empty canvas", AssertionError("not ready"),
     [answered("/api/workflows/1", 503, WF, "edge-gateway", "edge-gateway", WF)], [], False,
     "dependency_error", WF, "platform"),
    # The error type says what the answering service did, whatever the step's own service:
    # one fault, one verdict, on both channels.
    ("API 500 of another service than the step's: its server_error",
     AssertionError("not ready"), [answered("/api/workflows/1", 500, WF, WF, WF)], [], False,
     "server_error", WF, "platform"),
    ("a 500 known only by the route map", AssertionError("not ready"),
     [answered("/api/workflows/1", 500, WF)], [], False, "server_error", WF, "route"),
    ("a 503 naming its own service and no upstream is not a dependency",
     AssertionError("x"), [answered("/api/workflows/1/runs", 503, ENGINE, ENGINE, ENGINE)], [],
     False, "server_error", ENGINE, "platform"),
    ("a 503 naming another service in error.service", AssertionError("x"),
     [answered("/api/workflows/1/runs", 503, ENGINE, ENGINE, "optimizer-service")], [], False,
     "dependency_error", "optimizer-service", "platform"),
    ("a 503 from nobody named: the URL's owner failed", AssertionError("x"),
     [answered("/api/workflows/1", 503, WF)], [], False, "server_error", WF, "route"),
    ("a 502 from an unnamed gateway in front of the owner", AssertionError("x"),
     [answered("/api/workflows/1", 502, WF)], [], False, "dependency_error", WF, "route"),
    ("a 504 from the owner itself, naming nothing", AssertionError("x"),
     [answered("/api/workflows/1", 504, WF, WF)], [], False, "server_error", WF, "platform"),
    ("page 500 of the step's own service", AssertionError("no page"),
     [answered("/workflows/1", 500, FE, FE, FE)], [], False, "server_error", FE, "platform"),
    ("a script that answered 500, body aborted", AssertionError("not drawn"),
     [aborted_after(answered("/static/canvas.js", 500, FE, FE), "script")], [], False,
     "server_error", FE, "platform"),
    ("a script's 500 before an image's 404", AssertionError("not drawn"),
     [aborted_after(answered("/static/logo.png", 404, FE), "image"),
      aborted_after(answered("/static/canvas.js", 500, FE), "script")], [], False,
     "server_error", FE, "route"),
    ("502 naming the upstream", AssertionError("x"),
     [answered("/api/workflows/1/runs", 502, ENGINE, ENGINE, ENGINE, WF)], [], False,
     "dependency_error", WF, "platform"),
    ("401 from the API", AssertionError("redirected to login"),
     [answered("/api/workflows", 401, WF, WF, WF)], [], False, "client_error", WF, "platform"),
    ("favicon 404 is noise", AssertionError("empty"),
     [answered("/favicon.ico", 404, FE, FE)], [], False, "assertion", FE, "step"),
    ("truncated JSON with 200", AssertionError("not drawn"),
     [with_body(answered("/api/workflows/1", 200, WF, WF), "not valid JSON")], [], False,
     "server_error", WF, "platform"),
    ("an HTML page where the journey parsed JSON", json_error(),
     [with_body(answered("/api/workflows/1", 200, WF), None, "a text/html body")], [], False,
     "server_error", WF, "route"),
    ("an HTML page where the page parsed JSON", AssertionError("not drawn"),
     [with_body(answered("/api/workflows/1", 200, WF), None, "a text/html body")],
     [page_error("exception", "/static/canvas.js", FE, "Unexpected token '<' is not valid JSON")],
     False, "server_error", WF, "route"),
    ("HTML where nobody parsed JSON is not evidence", AssertionError("not drawn"),
     [with_body(answered("/inject/1", 200, WF), None, "a text/html body")], [], False,
     "assertion", FE, "step"),
    ("an uncaught exception in a target script", AssertionError("not drawn"), [],
     [page_error("exception", "/static/canvas.js", FE)], False, "assertion", FE, "route"),
    ("an uncaught exception in the API's script", AssertionError("not drawn"), [],
     [page_error("exception", "/api/widget.js", WF)], False, "assertion", WF, "route"),
    ("a response explains better than the page error", AssertionError("not drawn"),
     [answered("/api/workflows/1", 503, WF, WF)],
     [page_error("exception", "/static/canvas.js", FE)], False, "server_error", WF,
     "platform"),
    ("a third-party script's error says nothing", AssertionError("not drawn"), [],
     [page_error("exception", "/x.js", None)], False, "assertion", FE, "step"),
    ("a console error repeating an expected 401", AssertionError("not drawn"),
     [expected(answered("/settings", 401, WF))],
     [page_error("console", "/settings", WF, "Failed to load resource: 401")], False,
     "assertion", FE, "step"),
    ("a page exception at the deadline", TimeoutError(""), [],
     [page_error("exception", "/static/canvas.js", FE)], True, "assertion", FE, "route"),
    ("a request without answer", AssertionError("not ready"),
     [answered("/login", 200, FE), pending("/api/workflows/1", WF)], [], False, "timeout", WF,
     "route"),
    ("deadline with a hung request", TimeoutError(""), [pending("/api/workflows/1", WF)], [],
     True, "timeout", WF, "route"),
    ("deadline after a failed answer", TimeoutError(""),
     [answered("/api/workflows/1", 500, WF, WF, WF)], [], True, "server_error", WF,
     "platform"),
    ("deadline while an answer's body was still arriving", TimeoutError(""),
     [slow_body(answered("/api/workflows/1", 200, WF, WF))], [], True, "timeout", WF,
     "platform"),
    ("a wait that gave up while an answer's body trickled in", GaveUp("not drawn"),
     [slow_body(answered("/api/workflows/1", 200, WF, WF))], [], False, "timeout", WF,
     "platform"),
    ("a wait that reached the deadline, blamed by the last answer it saw",
     WaitTimedOut("still 'queued'", service=ENGINE, blame="platform"), [], [], False,
     "timeout", ENGINE, "platform"),
    ("a wait that ran out of patience, blamed by the last answer it saw",
     GaveUp("still 'queued'", service=ENGINE, blame="platform"), [], [], False,
     "assertion", ENGINE, "platform"),
    ("a hanging request explains a wait that gave up better", GaveUp("x", service=ENGINE),
     [pending("/api/runs/1", ENGINE)], [], False, "timeout", ENGINE, "route"),
    ("deadline with nothing pending", TimeoutError(""), [], [], True, "timeout", FE, "step"),
    ("browser connection refused", playwright_api.Error("net::ERR_CONNECTION_REFUSED at x"),
     [broken("/login", FE, "net::ERR_CONNECTION_REFUSED")], [], False, "connection", FE,
     "route"),
    ("browser redirect loop", playwright_api.Error("net::ERR_TOO_MANY_REDIRECTS at x"),
     [broken("/login", FE, "net::ERR_TOO_MANY_REDIRECTS")], [], False, "server_error", FE,
     "route"),
    ("a reset the step stopped on", RequestFailed("reset", reset("/api/workflows/1", WF)), [],
     [], False, "connection", WF, "route"),
    ("aborted requests are not evidence", AssertionError("x"),
     [broken("/api/x", WF, "net::ERR_ABORTED")], [], False, "assertion", FE, "step"),
    ("platform reports its own failure", ReportedFailure(FE, "render failed"), [], [], False,
     "server_error", FE, "platform"),
    ("platform reports an upstream failure", ReportedFailure("optimizer-service", "down"), [],
     [], False, "dependency_error", "optimizer-service", "platform"),
    ("login refused", LoginFailed("login refused", answered("/api/auth/login", 401, WF, WF)),
     [], [], False, "client_error", WF, "platform"),
    ("journey code bug", TypeError("unsupported operand"), [], [], False, "probe_error",
     "cuj-prober", "prober"),
    ("KeyError in the journey's own data", KeyError("fixture_id"), [], [], False,
     "probe_error", "cuj-prober", "prober"),
    ("journey bug after the target failed: the target's fault shows",
     AttributeError("x"), [answered("/api/workflows/1", 500, WF, WF)], [], False,
     "server_error", WF, "platform"),
    ("journey bug beside a page error: the page's fault shows", NameError("x"), [],
     [page_error("exception", "/static/canvas.js", FE)], False, "assertion", FE, "route"),
    ("sys.exit() in journey code", JourneyExit(SystemExit(3)), [], [], False, "probe_error",
     "cuj-prober", "prober"),
    ("KeyboardInterrupt from journey code after a 503", JourneyExit(KeyboardInterrupt()),
     [answered("/api/workflows/1", 503, WF, WF)], [], False, "server_error", WF, "platform"),
    ("an unknown exception after a reset", RuntimeError("?"),
     [reset("/api/workflows/1", WF)], [], False, "connection", WF, "route"),
    ("a journey bug after a body that was not JSON", KeyError("run"),
     [with_body(answered("/api/runs/1", 200, ENGINE, ENGINE), None, "a text/html body")], [],
     False, "server_error", ENGINE, "platform"),
    ("a script the page's CSP blocked", AssertionError("not drawn"),
     [broken("/static/canvas.js", FE, "net::ERR_BLOCKED_BY_CSP", "script")], [], False,
     "assertion", FE, "route"),
    ("an untrusted certificate", playwright_api.Error("net::ERR_CERT_AUTHORITY_INVALID at x"),
     [broken("/login", FE, "net::ERR_CERT_AUTHORITY_INVALID")], [], False, "connection", FE,
     "route"),
    ("no browser", BrowserUnavailable("no Chromium"), [], [], False, "probe_error",
     "cuj-prober", "prober"),
    ("closed browser", playwright_api.Error("Target page, context or browser has been closed"),
     [], [], False, "probe_error", "cuj-prober", "prober"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "traffic", "errors", "deadline", "error_type", "service", "source"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classification(
    exc: BaseException,
    traffic: list[Exchange],
    errors: list[PageError],
    deadline: bool,
    error_type: str,
    service: str,
    source: str,
) -> None:
    failure = classify(exc, STEP, traffic, errors, deadline=deadline)
    assert (failure.error_type, failure.service, failure.blame_source) == (
        error_type,
        service,
        source,
    )
    assert failure.message


def test_certificate_and_policy_failures_say_what_they_mean() -> None:
    cert = classify(
        playwright_api.Error("net::ERR_CERT_AUTHORITY_INVALID at https://t/login"),
        STEP,
        [broken("/login", FE, "net::ERR_CERT_AUTHORITY_INVALID")],
    )
    assert "TLS certificate" in cert.message and "not trusted" in cert.message
    over_api = classify(
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), STEP, []
    )
    assert over_api.error_type == "connection" and "not trusted" in over_api.message
    csp = classify(
        AssertionError("not drawn"),
        STEP,
        [broken("/static/canvas.js", FE, "net::ERR_BLOCKED_BY_CSP", "script")],
    )
    assert "Content-Security-Policy" in csp.message


def test_a_journey_bug_names_its_file_and_line() -> None:
    def journey_step() -> None:
        known: dict[str, str] = {}
        known["fixture_id"]

    try:
        journey_step()
    except KeyError as exc:
        failure = classify(exc, STEP, [])
    assert failure.error_type == "probe_error"
    assert "tests/test_classify.py:" in failure.message and "in journey_step" in failure.message


def test_http_status_error_uses_the_observed_answer() -> None:
    request = httpx.Request("GET", "http://t/api/workflows/1")
    response = httpx.Response(503, request=request)
    exchange = answered("/api/workflows/1", 503, WF, "edge-gateway", "edge-gateway", WF)
    exchange.message = "workflow-service is unavailable"
    exc = httpx.HTTPStatusError("503", request=request, response=response)
    failure = classify(exc, Step("read", WF, _noop), [exchange])
    assert (failure.error_type, failure.service) == ("dependency_error", WF)  # names upstream
    assert failure.message == "GET /api/workflows/1 answered 503: workflow-service is unavailable"
    assert (
        failure.evidence == "GET /api/workflows/1 -> 503 (edge-gateway, upstream workflow-service)"
    )
    assert failure.blame_source == "platform"


def test_same_fault_same_error_type_on_both_channels() -> None:
    """A redirect loop, a reset, a refused connection and a read timeout mean the same thing
    whichever channel met them."""
    pairs = [
        (httpx.TooManyRedirects("loop"), "net::ERR_TOO_MANY_REDIRECTS"),
        (httpx.RemoteProtocolError("reset"), "net::ERR_CONNECTION_RESET"),
        (httpx.ConnectError("refused"), "net::ERR_CONNECTION_REFUSED"),
        (httpx.ReadTimeout("slow"), "net::ERR_TIMED_OUT"),
        (httpx.DecodingError("gzip"), "net::ERR_CONTENT_DECODING_FAILED"),
    ]
    for api_exc, browser_text in pairs:
        over_api = classify(api_exc, STEP, []).error_type
        in_browser = classify(playwright_api.Error(f"{browser_text} at http://t/x"), STEP, [])
        assert over_api == in_browser.error_type, (api_exc, browser_text)


def test_a_4xx_message_carries_the_body_excerpt() -> None:
    exchange = answered("/api/auth/login", 500, WF, WF)
    exchange.excerpt = "Too many login attempts. Try again later"
    failure = classify(AssertionError("no token"), STEP, [exchange])
    assert "Too many login attempts" in failure.message


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (httpx.ConnectError("refused"), "connection"),
        (httpx.ConnectTimeout("slow connect"), "connection"),
        (httpx.ReadTimeout("no answer"), "timeout"),
        (httpx.RemoteProtocolError("server disconnected"), "connection"),
        (httpx.PoolTimeout("pool"), "probe_error"),
        (httpx.UnsupportedProtocol("ftp"), "probe_error"),
        (httpx.TooManyRedirects("loop"), "server_error"),
    ],
)
def test_httpx_transport_errors(exc: Exception, error_type: str) -> None:
    assert classify(exc, STEP, []).error_type == error_type


def test_a_failed_answer_the_journey_named_still_carries_the_body() -> None:
    exchange = answered("/prober/run/1", 500, "nodered-flows")
    exchange.excerpt = "Error: compute broke"
    wrong = UnexpectedStatus("POST /prober/run/1 answered 500, not 200", exchange)
    failure = classify(wrong, STEP, [])
    assert failure.message == "POST /prober/run/1 answered 500, not 200: Error: compute broke"
