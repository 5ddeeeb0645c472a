"""The one place foreign exceptions are interpreted: exception + observed traffic -> Failure.

Rules, most specific first (DESIGN §3):
1. the prober's own breakage (ProbeError, programming errors)          -> probe_error
2. the platform reported a service's failure (ReportedFailure)         -> server/dependency_error
3. an HTTP status the journey raised on (httpx.HTTPStatusError)        -> by status
4. a transport failure (httpx/Playwright network errors)              -> connection / timeout
5. a wrong outcome or a deadline (AssertionError, expect, timeouts):
   the step's own traffic explains it when it can - a failed answer first, then a request still
   without answer (timeout) - else it is an `assertion` (or `timeout` for deadlines)

Blame (failed_service): the upstream the answer names, else the service the platform says
answered or failed (header / error field), else the route map's owner of the URL, else the
step's declared service. A 5xx of a service other than the step's own is a dependency_error.
Every exception type httpx and Playwright export is decided on in the tables below; a test fails
when a new one appears.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from prober.errors import JourneyAssertion, ProbeError, ReportedFailure
from prober.journey import Step
from prober.observe import Exchange
from prober.result import ErrorType, Failure

PROBER_SERVICE = "cuj-prober"


class Rule(Enum):
    STATUS = "by HTTP status"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    SERVER = "server error"
    OUTCOME = "wrong outcome: read the traffic, else assertion"
    BY_MESSAGE = "Playwright error: read its message"
    PROBE = "the prober's own fault"


HTTPX_RULES: dict[type[BaseException], Rule] = {
    httpx.HTTPStatusError: Rule.STATUS,
    httpx.ConnectError: Rule.CONNECTION,
    httpx.ConnectTimeout: Rule.CONNECTION,  # could not reach the target in time
    httpx.ReadTimeout: Rule.TIMEOUT,
    httpx.WriteTimeout: Rule.TIMEOUT,
    httpx.PoolTimeout: Rule.PROBE,  # the prober's own connection pool ran dry
    httpx.TimeoutException: Rule.TIMEOUT,
    httpx.ReadError: Rule.CONNECTION,
    httpx.WriteError: Rule.CONNECTION,
    httpx.CloseError: Rule.CONNECTION,
    httpx.NetworkError: Rule.CONNECTION,
    httpx.RemoteProtocolError: Rule.CONNECTION,  # e.g. the server reset the connection
    httpx.LocalProtocolError: Rule.PROBE,
    httpx.ProtocolError: Rule.CONNECTION,
    httpx.ProxyError: Rule.CONNECTION,
    httpx.UnsupportedProtocol: Rule.PROBE,  # a bad URL in config or journey
    httpx.TransportError: Rule.CONNECTION,
    httpx.DecodingError: Rule.SERVER,  # the target sent a body it could not have meant
    httpx.TooManyRedirects: Rule.SERVER,
    httpx.RequestError: Rule.PROBE,
    httpx.HTTPError: Rule.PROBE,
    httpx.InvalidURL: Rule.PROBE,
    httpx.CookieConflict: Rule.PROBE,
    httpx.StreamError: Rule.PROBE,
    httpx.StreamConsumed: Rule.PROBE,
    httpx.StreamClosed: Rule.PROBE,
    httpx.ResponseNotRead: Rule.PROBE,
    httpx.RequestNotRead: Rule.PROBE,
}

PLAYWRIGHT_RULES: dict[type[BaseException], Rule] = {
    PlaywrightTimeoutError: Rule.OUTCOME,  # a wait for the page to reach a state ran out
    PlaywrightError: Rule.BY_MESSAGE,
}

BASE_RULES: dict[type[BaseException], Rule] = {
    ProbeError: Rule.PROBE,
    TimeoutError: Rule.TIMEOUT,  # the journey's own asyncio wait expired
    AssertionError: Rule.OUTCOME,
    KeyError: Rule.OUTCOME,  # a response body without the field the journey read
    IndexError: Rule.OUTCOME,
    ValueError: Rule.OUTCOME,  # includes a body that is not JSON
}

_NET_ERROR = re.compile(r"net::ERR_([A-Z0-9_]+)")
_NET_TIMEOUT = {"TIMED_OUT"}
_NET_IGNORED = {"ABORTED", "BLOCKED_BY_CLIENT", "BLOCKED_BY_RESPONSE"}
# A request still open when the step failed counts as "no answer" only after this long; a poll
# that started a moment before is not a hang.
PENDING_EVIDENCE_S = 1.0
# Requests the browser makes on its own; their failure says nothing about the journey.
_NOISE_PATHS = ("/favicon.ico",)


def rule_for(exc: BaseException) -> Rule:
    for cls in type(exc).__mro__:
        for table in (HTTPX_RULES, PLAYWRIGHT_RULES, BASE_RULES):
            if cls in table:
                return table[cls]
    return Rule.PROBE


def classify(
    exc: BaseException,
    step: Step,
    traffic: Sequence[Exchange],
    *,
    deadline: bool = False,
    now: float | None = None,
) -> Failure:
    """Decide why `step` failed. `deadline` means the runner's own step/journey timeout fired;
    `now` (the observer's clock) lets a request count as hanging only once it is stale."""
    name = type(exc).__name__
    traffic = [e for e in traffic if not e.pending or _stale(e, now)]
    message = _message(exc)
    if deadline:
        return _from_traffic(traffic, step, name, message) or _timeout(traffic, step, name, message)
    if isinstance(exc, ReportedFailure):
        kind = ErrorType.SERVER_ERROR if exc.service == step.service else ErrorType.DEPENDENCY_ERROR
        return Failure(kind, exc.service, message, exception=name)
    rule = rule_for(exc)
    if rule is Rule.BY_MESSAGE:
        rule = _playwright_rule(message)
    if rule is Rule.PROBE:
        return Failure(ErrorType.PROBE_ERROR, PROBER_SERVICE, f"{name}: {message}", exception=name)
    if rule is Rule.STATUS and isinstance(exc, httpx.HTTPStatusError):
        return _from_http_status(exc, traffic, step, name)
    if rule is Rule.TIMEOUT:
        return _from_traffic(traffic, step, name, message) or _timeout(traffic, step, name, message)
    if rule in (Rule.CONNECTION, Rule.SERVER):
        kind = ErrorType.CONNECTION if rule is Rule.CONNECTION else ErrorType.SERVER_ERROR
        broken = _first_failed(traffic, statuses=False)
        service = _url_owner(exc, traffic) or (broken and broken.owner) or step.service
        evidence = broken.describe() if broken else None
        return Failure(kind, service, message, evidence=evidence, exception=name)
    # Rule.OUTCOME: the page or the answer was not what the journey needed.
    explained = _from_traffic(traffic, step, name, message)
    if explained is not None:
        return explained
    if any(e.pending for e in traffic):
        return _timeout(traffic, step, name, message)
    blamed = exc.service if isinstance(exc, JourneyAssertion) and exc.service else step.service
    return Failure(ErrorType.ASSERTION, blamed, message, exception=name)


def _stale(exchange: Exchange, now: float | None) -> bool:
    return now is None or now - exchange.started >= PENDING_EVIDENCE_S


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # Playwright appends a long call log; the first lines carry the meaning.
    return "\n".join(text.splitlines()[:6])[:1000]


def _playwright_rule(message: str) -> Rule:
    match = _NET_ERROR.search(message)
    if match:
        return Rule.TIMEOUT if match.group(1) in _NET_TIMEOUT else Rule.CONNECTION
    # A closed or crashed browser, a bad selector, a strict-mode clash: the prober's side.
    return Rule.PROBE


def browser_failure_kind(failure: str) -> ErrorType | None:
    """What a browser request failure (`net::ERR_...`) means; None for the harmless ones."""
    match = _NET_ERROR.search(failure)
    code = match.group(1) if match else failure.upper()
    if code in _NET_IGNORED:
        return None
    return ErrorType.TIMEOUT if code in _NET_TIMEOUT else ErrorType.CONNECTION


def transport_failure_kind(exc: BaseException) -> ErrorType:
    """What an httpx exception on one request means, for the traffic record."""
    return {
        Rule.CONNECTION: ErrorType.CONNECTION,
        Rule.TIMEOUT: ErrorType.TIMEOUT,
        Rule.SERVER: ErrorType.SERVER_ERROR,
    }.get(rule_for(exc), ErrorType.PROBE_ERROR)


def _is_evidence(exchange: Exchange, statuses: bool) -> bool:
    if exchange.path in _NOISE_PATHS:
        return False
    if exchange.failure is not None:
        return exchange.failure_kind is not None
    if exchange.status is None or exchange.status < 400:
        return False
    return statuses


def _first_failed(traffic: Sequence[Exchange], statuses: bool = True) -> Exchange | None:
    return next((e for e in traffic if _is_evidence(e, statuses)), None)


def _blame(exchange: Exchange) -> str | None:
    return exchange.reported_service or exchange.responder or exchange.owner


def _from_exchange(exchange: Exchange, step: Step, name: str, message: str) -> Failure:
    evidence = exchange.describe()
    if exchange.failure_kind is not None:
        blamed = exchange.owner or step.service
        return Failure(exchange.failure_kind, blamed, message, evidence, name)
    status = exchange.status or 0
    said = _blame(exchange) or step.service
    if status in (502, 503, 504) or (exchange.upstream and exchange.upstream != said):
        blamed = exchange.upstream or exchange.reported_service or exchange.owner or said
        return Failure(ErrorType.DEPENDENCY_ERROR, blamed, message, evidence, name)
    if status >= 500:
        kind = ErrorType.SERVER_ERROR if said == step.service else ErrorType.DEPENDENCY_ERROR
        return Failure(kind, said, message, evidence, name)
    return Failure(ErrorType.CLIENT_ERROR, said, message, evidence, name)


def _from_traffic(
    traffic: Sequence[Exchange], step: Step, name: str, message: str
) -> Failure | None:
    failed = _first_failed(traffic)
    return None if failed is None else _from_exchange(failed, step, name, message)


def _timeout(traffic: Sequence[Exchange], step: Step, name: str, message: str) -> Failure:
    pending = [e for e in traffic if e.pending and e.path not in _NOISE_PATHS]
    if pending:
        oldest = pending[0]
        blamed = oldest.owner or step.service
        return Failure(ErrorType.TIMEOUT, blamed, message, oldest.describe(), name)
    return Failure(ErrorType.TIMEOUT, step.service, message, None, name)


def _from_http_status(
    exc: httpx.HTTPStatusError, traffic: Sequence[Exchange], step: Step, name: str
) -> Failure:
    url = str(exc.request.url)
    status = exc.response.status_code
    match = next((e for e in reversed(traffic) if e.url == url and e.status == status), None)
    if match is None:
        # Traffic outside the observed client (another origin): judge the response alone.
        match = Exchange(exc.request.method, url, None, step.name, 0.0, 0.0, status)
    message = f"{exc.request.method} {exc.request.url.path} answered {status}"
    if match.message:
        message += f": {match.message}"
    return _from_exchange(match, step, name, message)


def _url_owner(exc: BaseException, traffic: Sequence[Exchange]) -> str | None:
    request = getattr(exc, "_request", None)  # httpx keeps the failed request here
    if isinstance(request, httpx.Request):
        url = str(request.url)
        for exchange in reversed(traffic):
            if exchange.url == url:
                return exchange.owner
    return None
