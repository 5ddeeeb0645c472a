"""The classifier's decisions, table-driven, and proof that every foreign exception is decided."""

from __future__ import annotations

import httpx
import playwright.async_api as playwright_api
import pytest

from prober.classify import HTTPX_RULES, PLAYWRIGHT_RULES, classify
from prober.errors import BrowserUnavailable, JourneyAssertion, ReportedFailure
from prober.journey import Step
from prober.observe import Exchange
from prober.result import ErrorType


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


def broken(path: str, owner: str, text: str, kind: ErrorType | None) -> Exchange:
    exchange = Exchange("GET", f"http://t{path}", owner, STEP.name, 0.0, 0.1)
    exchange.failure, exchange.failure_kind = text, kind
    return exchange


WF = "workflow-service"
FE = "frontend-monolith"

CASES = [
    # (what happened, exception, traffic, deadline, expected error_type, expected service)
    ("plain wrong outcome", AssertionError("empty"), [], False, "assertion", FE),
    ("assertion naming a service", JourneyAssertion("lost", service=WF), [], False,
     "assertion", WF),
    ("API 503 behind an empty canvas", AssertionError("not ready"),
     [answered("/api/workflows/1", 503, WF, "edge-gateway", "edge-gateway", WF)], False,
     "dependency_error", WF),
    ("API 500 of another service", AssertionError("not ready"),
     [answered("/api/workflows/1", 500, WF, WF, WF)], False, "dependency_error", WF),
    ("page 500 of the step's own service", AssertionError("no page"),
     [answered("/workflows/1", 500, FE, FE, FE)], False, "server_error", FE),
    ("502 naming the upstream", AssertionError("x"),
     [answered("/api/workflows/1/runs", 502, "orchestration-engine", "orchestration-engine",
               "orchestration-engine", WF)], False, "dependency_error", WF),
    ("401 from the API", AssertionError("redirected to login"),
     [answered("/api/workflows", 401, WF, WF, WF)], False, "client_error", WF),
    ("favicon 404 is noise", AssertionError("empty"),
     [answered("/favicon.ico", 404, FE, FE)], False, "assertion", FE),
    ("a request without answer", AssertionError("not ready"),
     [answered("/login", 200, FE), pending("/api/workflows/1", WF)], False, "timeout", WF),
    ("deadline with a hung request", TimeoutError(""), [pending("/api/workflows/1", WF)], True,
     "timeout", WF),
    ("deadline after a failed answer", TimeoutError(""),
     [answered("/api/workflows/1", 500, WF, WF, WF)], True, "dependency_error", WF),
    ("deadline with nothing pending", TimeoutError(""), [], True, "timeout", FE),
    ("browser connection refused", playwright_api.Error("net::ERR_CONNECTION_REFUSED at x"),
     [broken("/login", FE, "net::ERR_CONNECTION_REFUSED", ErrorType.CONNECTION)], False,
     "connection", FE),
    ("aborted requests are not evidence", AssertionError("x"),
     [broken("/api/x", WF, "net::ERR_ABORTED", None)], False, "assertion", FE),
    ("platform reports its own failure", ReportedFailure(FE, "render failed"), [], False,
     "server_error", FE),
    ("platform reports an upstream failure", ReportedFailure("optimizer-service", "down"), [],
     False, "dependency_error", "optimizer-service"),
    ("journey code bug", TypeError("unsupported operand"), [], False, "probe_error",
     "cuj-prober"),
    ("journey code bug despite a failed answer", AttributeError("x"),
     [answered("/api/workflows/1", 500, WF, WF)], False, "probe_error", "cuj-prober"),
    ("no browser", BrowserUnavailable("no Chromium"), [], False, "probe_error", "cuj-prober"),
    ("closed browser", playwright_api.Error("Target page, context or browser has been closed"),
     [], False, "probe_error", "cuj-prober"),
    ("missing JSON field", KeyError("nodes"), [], False, "assertion", FE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "traffic", "deadline", "error_type", "service"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classification(
    exc: BaseException, traffic: list[Exchange], deadline: bool, error_type: str, service: str
) -> None:
    failure = classify(exc, STEP, traffic, deadline=deadline)
    assert (failure.error_type, failure.service) == (error_type, service)
    assert failure.message


def test_http_status_error_uses_the_observed_answer() -> None:
    request = httpx.Request("GET", "http://t/api/workflows/1")
    response = httpx.Response(503, request=request)
    exchange = answered("/api/workflows/1", 503, WF, "edge-gateway", "edge-gateway", WF)
    exchange.message = "workflow-service is unavailable"
    exc = httpx.HTTPStatusError("503", request=request, response=response)
    failure = classify(exc, Step("read", WF, _noop), [exchange])
    assert (failure.error_type, failure.service) == ("dependency_error", WF)
    assert failure.message == "GET /api/workflows/1 answered 503: workflow-service is unavailable"
    assert (
        failure.evidence == "GET /api/workflows/1 -> 503 (edge-gateway, upstream workflow-service)"
    )


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
