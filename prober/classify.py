"""The one place a verdict is decided: the exception + what the step saw -> a `Failure`.

The drivers record evidence as plain data (prober/observe.py); this module reads it in one pass,
strongest reason first, and is the only code that interprets foreign exceptions:

1. the prober's own breakage (ProbeError)                      -> probe_error, blame the prober
2. the author's verdict, ctx.fail(...)                         -> assertion on the service named
                                                                  (author), else the step's (step)
3. the platform reported a service's failure (ReportedFailure) -> server/dependency_error (platform)
   a failure with one answer as its evidence (FailedAnswer: a refused login, a request the
   browser step awaited that failed on the network)              -> by that answer
4. an HTTP status the journey raised on (HTTPStatusError)      -> by that answer
5. a transport failure of the journey's own request            -> by the network table, on the
                                                                  URL's owner (route)
6. anything else - a wrong outcome, a deadline, a bug or any exception of journey code (even
   SystemExit/KeyboardInterrupt it raised, as JourneyExit) - reads the step's record:
   a. a failed answer, awaited resources (documents, scripts, fetches, API calls) first, then in
      time order: a status >= 400 the journey did not declare expected (also when Chromium
      aborted its body), a network failure, a 2xx body that does not parse as its declared type
      (or, when the failure is a JSON parse error or journey code, a body that was not JSON)
   b. an uncaught page exception or console error from a target script  -> assertion (route)
   c. journey code with nothing above                           -> probe_error, with file:line
   d. a request still without an answer, then an answer whose body was still arriving
                                                                      -> timeout (route/platform)
   e. a wait that ran out (GaveUp / WaitTimedOut) -> on whoever kept answering its last state
   f. nothing: a deadline -> timeout; else assertion (step)

Blame from an answer: the service the platform names (error body, then the service header) ->
`platform`; else the route map's owner of the URL -> `route`; else the step's declared service.
dependency_error needs evidence of a service other than the one answering (an upstream, an
error.service naming another, a 502/504 from in front of the owner); any other 5xx or bad 2xx
body is the answering service's server_error, whatever the step's service.

The same network fault gets the same error_type on both channels: NET_KINDS (Chromium's
net::ERR_ codes) and HTTPX_RULES decide it once. Every exception type httpx and Playwright export
is decided on; a test fails when a new one appears.
"""

from __future__ import annotations

import json
import re
import sysconfig
import traceback
from collections.abc import Sequence
from dataclasses import replace
from enum import Enum
from pathlib import Path

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from prober.errors import (
    FailedAnswer,
    GaveUp,
    JourneyAssertion,
    JourneyExit,
    ProbeError,
    ReportedFailure,
    Unreadable,
    WaitTimedOut,
)
from prober.journey import Step
from prober.observe import AWAITED_RESOURCES, Exchange, PageError
from prober.result import BlameSource, ErrorType, Failure

PROBER_SERVICE = "cuj-prober"


class Rule(Enum):
    STATUS = "by HTTP status"
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    REDIRECT_LOOP = "redirect loop: the server's misconfiguration"
    BAD_BODY = "an answer the client could not decode"
    BLOCKED = "the page's own policy refused a resource (CSP, nosniff, mixed content, CORP)"
    OFF_TARGET = "a redirect off the target that failed: the redirecting service's answer"
    OUTCOME = "wrong outcome: read the record, else assertion"
    JSON = "a body the journey could not parse: read the record, else assertion"
    BY_MESSAGE = "Playwright error: read its net::ERR_ code"
    BUG = "a bug in journey code: read the record, else probe_error"
    PROBE = "the prober's own fault"
    IGNORED = "not a failure (an aborted request)"


# What each network-level rule means, for both channels.
NETWORK_KINDS: dict[Rule, ErrorType] = {
    Rule.CONNECTION: ErrorType.CONNECTION,
    Rule.TIMEOUT: ErrorType.TIMEOUT,
    Rule.REDIRECT_LOOP: ErrorType.SERVER_ERROR,
    Rule.BAD_BODY: ErrorType.SERVER_ERROR,
    # The target's 3xx sent the client to another origin, which failed: the target's answer.
    Rule.OFF_TARGET: ErrorType.SERVER_ERROR,
    # Not a network failure: the target served something its own page's policy refuses.
    Rule.BLOCKED: ErrorType.ASSERTION,
}

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
    httpx.RemoteProtocolError: Rule.CONNECTION,  # reset, closed mid-body, garbled answer
    httpx.LocalProtocolError: Rule.PROBE,
    httpx.ProtocolError: Rule.CONNECTION,
    httpx.ProxyError: Rule.CONNECTION,
    httpx.UnsupportedProtocol: Rule.PROBE,  # a bad URL in config or journey
    httpx.TransportError: Rule.CONNECTION,
    httpx.DecodingError: Rule.BAD_BODY,  # e.g. a gzip body that is not gzip
    httpx.TooManyRedirects: Rule.REDIRECT_LOOP,
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
    AssertionError: Rule.OUTCOME,  # expect(), assert, ctx.wait giving up
    json.JSONDecodeError: Rule.JSON,  # response.json() on a body that is not JSON
    # Journey code reading its own data wrongly. Checking the platform's answer is an
    # assertion the author writes (ctx.read_json, ctx.expect_status): see docs/verdicts.md.
    KeyError: Rule.BUG,
    IndexError: Rule.BUG,
    ValueError: Rule.BUG,
    TypeError: Rule.BUG,
    AttributeError: Rule.BUG,
    NameError: Rule.BUG,
    JourneyExit: Rule.BUG,  # sys.exit() or KeyboardInterrupt raised by journey code
}

# Chromium's net::ERR_ codes, by meaning; codes not listed are connection failures (DNS, TCP,
# TLS, resets). TIMED_OUT is a read that got no answer; CONNECTION_TIMED_OUT a connect. A
# BLOCKED_BY_* code not listed is the page's policy (BLOCKED).
NET_CODES: dict[str, Rule] = {
    "TIMED_OUT": Rule.TIMEOUT,
    "TOO_MANY_REDIRECTS": Rule.REDIRECT_LOOP,
    "CONTENT_DECODING_FAILED": Rule.BAD_BODY,
    "INVALID_CHUNKED_ENCODING": Rule.BAD_BODY,
    "ABORTED": Rule.IGNORED,  # navigation away, or Chromium dropped a body it did not need
    "BLOCKED_BY_CLIENT": Rule.IGNORED,  # a browser extension or the prober's own routing
    "BLOCKED_BY_CSP": Rule.BLOCKED,  # the document's Content-Security-Policy
    "BLOCKED_BY_RESPONSE": Rule.BLOCKED,  # Cross-Origin-Resource-Policy, COEP, X-Frame-Options
    "BLOCKED_BY_ORB": Rule.BLOCKED,  # opaque-response blocking (a MIME type that does not fit)
    "MIXED_CONTENT": Rule.BLOCKED,
}
# Chromium's reasons for blocking a request before it is sent (CDP Network.BlockedReason), which
# Playwright gives as the whole failure text: the page's own policy, except the tools' own.
BLOCKED_REASONS: dict[str, Rule] = {
    "csp": Rule.BLOCKED,
    "mixed-content": Rule.BLOCKED,
    "origin": Rule.BLOCKED,
    "content-type": Rule.BLOCKED,
    "corp-not-same-origin": Rule.BLOCKED,
    "corp-not-same-origin-after-defaulted-to-same-origin-by-coep": Rule.BLOCKED,
    "corp-not-same-site": Rule.BLOCKED,
    "coep-frame-resource-needs-coep-header": Rule.BLOCKED,
    "other": Rule.BLOCKED,
    "inspector": Rule.IGNORED,  # blocked by DevTools itself
    "subresource-filter": Rule.IGNORED,  # the browser's ad filter, not the target's doing
}
# Certificate problems: a connection failure whose message says what to check.
_TLS_TRUST = re.compile(
    r"CERTIFICATE_VERIFY_FAILED|ERR_CERT_|ERR_SSL_|self[- ]signed certificate|"
    r"unable to get local issuer",
    re.IGNORECASE,
)
_NET_ERROR = re.compile(r"net::ERR_([A-Z0-9_]+)")
# h11's words for a chunked body whose framing is malformed (not one that stopped short): the
# fault Chromium calls ERR_INVALID_CHUNKED_ENCODING.
_BAD_CHUNKING = re.compile(r"illegal chunk header|malformed chunk footer", re.IGNORECASE)
_JSON_PARSE = re.compile(r"JSON|Unexpected token|Unexpected end of", re.IGNORECASE)
# A request still open when the step failed counts as "no answer" only after this long; a poll
# that started a moment before is not a hang.
PENDING_EVIDENCE_S = 1.0
# Requests the browser makes on its own; their failure says nothing about the journey.
_NOISE_PATHS = ("/favicon.ico",)


def rule_for(exc: BaseException) -> Rule:
    if isinstance(exc, httpx.RemoteProtocolError) and _BAD_CHUNKING.search(str(exc)):
        return Rule.BAD_BODY
    for cls in type(exc).__mro__:
        for table in (HTTPX_RULES, PLAYWRIGHT_RULES, BASE_RULES):
            if cls in table:
                return table[cls]
    return Rule.PROBE


def net_rule(text: str) -> Rule:
    """What a `net::ERR_...` failure means (browser requests and Playwright errors alike); a
    request Chromium blocked before sending it fails with the reason alone ("csp")."""
    match = _NET_ERROR.search(text)
    if match is None:
        reason = text.strip().lower()
        if reason.startswith("blocked:"):  # a resource the page refused (the browser driver)
            return Rule.BLOCKED
        return BLOCKED_REASONS.get(reason, Rule.CONNECTION)
    code = match.group(1)
    if code in NET_CODES:
        return NET_CODES[code]
    return Rule.BLOCKED if code.startswith("BLOCKED_BY_") else Rule.CONNECTION


def exchange_rule(exchange: Exchange) -> Rule:
    """What an exchange's transport failure means; its own exception decides for httpx. A
    redirect off the target whose next hop failed is the redirecting answer's fault (unless
    that hop was only aborted)."""
    if exchange.exception is not None:
        rule = rule_for(exchange.exception)
    else:
        rule = net_rule(exchange.failure or "")
    if exchange.off_target is not None and rule is not Rule.IGNORED:
        return Rule.OFF_TARGET
    return rule


def classify(
    exc: BaseException,
    step: Step,
    traffic: Sequence[Exchange],
    page_errors: Sequence[PageError] = (),
    *,
    deadline: bool = False,
    now: float | None = None,
) -> Failure:
    """Decide why `step` failed. `deadline` means the runner's own step/journey timeout fired;
    `now` (the observer's clock) lets a request count as hanging only once it is stale."""
    name = type(exc.raised if isinstance(exc, JourneyExit) else exc).__name__
    message = _message(exc)
    slow_bodies = [e for e in traffic if _slow_body(e, now)]
    traffic = [e for e in traffic if not e.pending or _stale(e, now)]
    if isinstance(exc, ProbeError):
        return _probe(name, message, exc)
    if isinstance(exc, JourneyAssertion):
        source = BlameSource(exc.blame or "author") if exc.service else BlameSource.STEP
        return Failure(
            ErrorType.ASSERTION, exc.service or step.service, message, None, name, source
        )
    if isinstance(exc, ReportedFailure):
        kind = ErrorType.SERVER_ERROR if exc.service == step.service else ErrorType.DEPENDENCY_ERROR
        return Failure(kind, exc.service, message, None, name, BlameSource.PLATFORM)
    if isinstance(exc, FailedAnswer) and isinstance(exc.answer, Exchange):
        # Whatever the step declared, the journey failed on this answer: it is the evidence.
        return _from_exchange(replace(exc.answer, expected=False), step, name, message)
    rule = Rule.TIMEOUT if deadline else rule_for(exc)
    if rule is Rule.BY_MESSAGE:
        rule = _playwright_rule(message)
    if rule is Rule.STATUS and isinstance(exc, httpx.HTTPStatusError):
        return _from_http_status(exc, traffic, step, name)
    if rule in NETWORK_KINDS and not deadline:
        own = _own_request(exc, traffic)
        if own is not None and own.off_target is not None:
            rule = exchange_rule(own)
        if own is not None or rule is not Rule.TIMEOUT:
            return _network(rule, own or _first_broken(traffic), step, name, message)
    # Journey code that failed for any reason of its own (a bug, an unknown exception) after
    # the target failed in the same step: the target's failure is the verdict, and a body that
    # was not what the journey read it as counts as such a failure.
    journey_code = rule in (Rule.PROBE, Rule.BUG)
    json_error = rule is Rule.JSON or journey_code or _JSON_PARSE.search(message) is not None
    failed = _failed_answer(traffic, json_error, page_errors)
    if failed is not None:
        return _from_exchange(failed, step, name, message)
    page_error = _page_error(page_errors, traffic)
    if page_error is not None:
        text = f"{message}\n{page_error.describe()}"
        return Failure(
            ErrorType.ASSERTION,
            page_error.owner or step.service,
            text,
            page_error.describe(),
            name,
            BlameSource.ROUTE,
        )
    if journey_code:
        return _probe(name, message, exc)
    if rule is Rule.TIMEOUT or slow_bodies or any(e.pending for e in traffic):
        return _timeout(traffic, slow_bodies, step, message, exc)
    if isinstance(exc, GaveUp | Unreadable) and exc.service:
        # The customer's patience ran out while the platform kept answering the same state,
        # or the body of an answer could not be had to check: on the service that sent it.
        source = BlameSource(exc.blame or "platform")
        return Failure(ErrorType.ASSERTION, exc.service, message, exc.evidence, name, source)
    return Failure(ErrorType.ASSERTION, step.service, message, None, name, BlameSource.STEP)


def _probe(name: str, message: str, exc: BaseException | None = None) -> Failure:
    text = message if message.startswith(name) else f"{name}: {message}"
    where = None if exc is None or isinstance(exc, ProbeError) else code_location(exc)
    if where is not None:
        text = f"{text} (at {where})"
    return Failure(ErrorType.PROBE_ERROR, PROBER_SERVICE, text, None, name, BlameSource.PROBER)


_PROBER_DIR = Path(__file__).resolve().parent
# Where code that is not the journey's lives: the prober, the standard library, installed packages.
_NOT_JOURNEY = (
    _PROBER_DIR,
    *{Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib", "purelib")},
)


def code_location(exc: BaseException) -> str | None:
    """`file:line in function` of the journey code an exception came from: the innermost frame
    that is neither the prober's own code nor an installed library; None when there is none."""
    origin = exc.raised if isinstance(exc, JourneyExit) else exc
    found = None
    for frame in traceback.extract_tb(origin.__traceback__):
        if frame.filename.startswith("<"):
            continue  # <frozen ...>, <string>
        path = Path(frame.filename).resolve()
        if any(d in path.parents for d in _NOT_JOURNEY) or "site-packages" in path.parts:
            continue
        found = frame
    if found is None:
        return None
    try:
        shown = str(Path(found.filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = found.filename
    return f"{shown}:{found.lineno} in {found.name}"


def _stale(exchange: Exchange, now: float | None) -> bool:
    return now is None or now - exchange.started >= PENDING_EVIDENCE_S


def _slow_body(exchange: Exchange, now: float | None) -> bool:
    """An answer whose status came but whose body was still arriving when the step failed."""
    return (
        exchange.body_pending
        and exchange.failure is None
        and _stale(exchange, now)
        and exchange.path not in _NOISE_PATHS
        # A stream that never ends by design (server-sent events) is not a slow answer.
        and "event-stream" not in (exchange.content_type or "")
    )


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # Playwright appends a long call log; the first lines carry the meaning.
    return "\n".join(text.splitlines()[:6])[:1000]


def _playwright_rule(message: str) -> Rule:
    if _NET_ERROR.search(message):
        return net_rule(message)
    # A closed or crashed browser, a bad selector, a strict-mode clash: the prober's side.
    return Rule.PROBE


def _broken(exchange: Exchange) -> bool:
    """A transport failure that means something (not an aborted request)."""
    return exchange.failure is not None and exchange_rule(exchange) is not Rule.IGNORED


def _failed_status(exchange: Exchange) -> bool:
    return exchange.status is not None and exchange.status >= 400 and not exchange.expected


def _is_evidence(exchange: Exchange, json_error: bool) -> bool:
    if exchange.path in _NOISE_PATHS:
        return False
    if _failed_status(exchange):
        return True  # even when Chromium then aborted the body
    if exchange.body_problem is not None:
        return True
    if json_error and exchange.body_mismatch is not None:
        return True
    return (exchange.status is None or exchange.status < 400) and _broken(exchange)


def _failed_answer(
    traffic: Sequence[Exchange], json_error: bool, page_errors: Sequence[PageError] = ()
) -> Exchange | None:
    json_error = json_error or any(_JSON_PARSE.search(e.text) for e in page_errors)
    failed = [e for e in traffic if _is_evidence(e, json_error)]
    awaited = [e for e in failed if e.resource is None or e.resource in AWAITED_RESOURCES]
    chosen = awaited or failed
    return chosen[0] if chosen else None


def _first_broken(traffic: Sequence[Exchange]) -> Exchange | None:
    return next((e for e in traffic if _broken(e) and e.path not in _NOISE_PATHS), None)


def _network(rule: Rule, exchange: Exchange | None, step: Step, name: str, message: str) -> Failure:
    kind = NETWORK_KINDS[rule]
    message = _explained(rule, exchange, _where(exchange, message))
    if exchange is not None and exchange.status is not None:
        said, source = _said(exchange)  # it answered, then the body broke: whoever answered
        if said is not None:
            return Failure(kind, said, message, exchange.describe(), name, source)
    if exchange is None or exchange.owner is None:
        evidence = None if exchange is None else exchange.describe()
        return Failure(kind, step.service, message, evidence, name, BlameSource.STEP)
    return Failure(kind, exchange.owner, message, exchange.describe(), name, BlameSource.ROUTE)


def _where(exchange: Exchange | None, message: str) -> str:
    """The message of a network failure, led by the request it hit and how (its URL and the
    limit it ran into), which a bare "ReadTimeout" or "All connection attempts failed" lacks."""
    if exchange is None or exchange.url in message:
        return message
    what = exchange.failure or "failed"
    lead = f"{exchange.method} {exchange.url}: {what}"
    return lead if not message or message in what else f"{lead}\n{message}"


def _explained(rule: Rule, exchange: Exchange | None, message: str) -> str:
    """The message, led by what a network-level failure means where the bare error says
    little (an untrusted certificate, a resource the page's own policy refused)."""
    detail = f"{message} {exchange.failure if exchange is not None else ''}"
    where = f" for {exchange.method} {exchange.url}" if exchange is not None else ""
    if rule is Rule.CONNECTION and _TLS_TRUST.search(detail):
        lead = (
            f"the TLS certificate{where} is not trusted (self-signed, expired or for another "
            "host): fix the certificate, or set the target's verify_tls: false for a test target"
        )
    elif rule is Rule.BAD_BODY:
        lead = (
            f"the body of the answer{where} could not be decoded (its Content-Encoding or "
            "chunking does not match what was sent)"
        )
    elif rule is Rule.OFF_TARGET and exchange is not None:
        lead = (
            f"{exchange.method} {exchange.url} answered {exchange.status}, redirecting off the "
            f"target to {exchange.off_target}, where the request failed: the redirecting "
            "service sent the client somewhere it could not follow"
        )
    elif rule is Rule.BLOCKED:
        lead = (
            f"the page's own policy refused a resource{where} (Content-Security-Policy, "
            "X-Content-Type-Options: nosniff with a wrong MIME type, mixed content or "
            "Cross-Origin-Resource-Policy): the service that served it sent what its page "
            "cannot use"
        )
    else:
        return message
    return message if lead in message else f"{lead}\n{message}"


def _said(exchange: Exchange) -> tuple[str | None, BlameSource]:
    """The service an answer is blamed on by default, and why."""
    if exchange.reported_service or exchange.responder:
        return exchange.reported_service or exchange.responder, BlameSource.PLATFORM
    if exchange.owner:
        return exchange.owner, BlameSource.ROUTE
    return None, BlameSource.STEP


def _answer_text(exchange: Exchange) -> str:
    text = f"{exchange.method} {exchange.path} answered {exchange.status}"
    detail = exchange.message or exchange.excerpt
    if exchange.body_problem or exchange.body_mismatch:
        detail = exchange.body_problem or exchange.body_mismatch
    return f"{text}: {detail[:200]}" if detail else text


def _from_exchange(exchange: Exchange, step: Step, name: str, message: str) -> Failure:
    """Judge one answer. `dependency_error` needs evidence of a service other than the one
    answering: an `upstream` it names, an `error.service` naming another service than its
    own, or a gateway status (502, 504) from in front of the URL's owner. Otherwise a 5xx or a
    2xx body that is not what it claims is the answering service's `server_error`, a 4xx its
    `client_error` - whatever the step's declared service, so one fault gets one verdict on
    both channels."""
    evidence = exchange.describe()
    if not _failed_status(exchange) and exchange.body_problem is None and _broken(exchange):
        rule = exchange_rule(exchange)
        if rule not in NETWORK_KINDS:
            rule = Rule.CONNECTION
        return _network(rule, exchange, step, name, message)
    text = message
    detail = exchange.message or exchange.excerpt
    if f"answered {exchange.status}" not in message:
        text = f"{_answer_text(exchange)}\n{message}"
    elif detail and detail[:60] not in message:
        text = f"{message}: {detail[:200]}"  # what the platform said, e.g. its error text
    status = exchange.status or 0
    said, source = _said(exchange)
    via = exchange.via
    if via is not None and status < 400 and (exchange.body_problem or exchange.body_mismatch):
        # A redirect sent the client to what it could not use (an API call sent to the login
        # page): the service that redirected answered wrongly, not the page it pointed to.
        said, source = _said(via)
        text = (
            f"{via.method} {via.path} answered {via.status}, redirecting to {exchange.path}\n{text}"
        )
    said = said or step.service
    answering = exchange.responder or exchange.reported_service or exchange.owner
    other = next(
        (s for s in (exchange.upstream, exchange.reported_service) if s and s != answering),
        None,
    )
    if status >= 500 and other is not None:
        return Failure(
            ErrorType.DEPENDENCY_ERROR, other, text, evidence, name, BlameSource.PLATFORM
        )
    if status in (502, 504) and exchange.owner and exchange.responder != exchange.owner:
        # A gateway (named or not) in front of the URL's owner says the owner failed it.
        return Failure(
            ErrorType.DEPENDENCY_ERROR, exchange.owner, text, evidence, name, BlameSource.ROUTE
        )
    if status >= 500 or status < 400:  # a 5xx, or a 2xx body that is not what it claims
        return Failure(ErrorType.SERVER_ERROR, said, text, evidence, name, source)
    return Failure(ErrorType.CLIENT_ERROR, said, text, evidence, name, source)


def _page_error(page_errors: Sequence[PageError], traffic: Sequence[Exchange]) -> PageError | None:
    """The page error that best explains a wrong outcome: uncaught exceptions first; console
    errors about a resource the record already holds (\"Failed to load resource\") are not new
    evidence, and errors from scripts outside the target's origins say nothing about it."""
    seen = {e.url for e in traffic if e.failure is not None or (e.status or 0) >= 400}
    useful = [
        e
        for e in page_errors
        if e.owner is not None and (e.kind == "exception" or e.url not in seen)
    ]
    useful.sort(key=lambda e: e.kind != "exception")
    return useful[0] if useful else None


def _timeout(
    traffic: Sequence[Exchange],
    slow_bodies: Sequence[Exchange],
    step: Step,
    message: str,
    exc: BaseException,
) -> Failure:
    """Time ran out: on a request still without an answer, else an answer whose body was still
    arriving (the service that answered), else on whoever a wait last heard from."""
    name = type(exc).__name__
    pending = [e for e in traffic if e.pending and e.path not in _NOISE_PATHS]
    hung = pending[0] if pending else None
    if hung is not None and hung.owner is not None:
        return Failure(
            ErrorType.TIMEOUT, hung.owner, message, hung.describe(), name, BlameSource.ROUTE
        )
    if slow_bodies:
        slow = slow_bodies[0]
        said, source = _said(slow)
        if said is not None:
            text = f"{message}\n{slow.describe()}"
            return Failure(ErrorType.TIMEOUT, said, text, slow.describe(), name, source)
    evidence = pending[0].describe() if pending else None
    if isinstance(exc, WaitTimedOut | GaveUp) and exc.service:
        source = BlameSource(exc.blame or "platform")
        return Failure(
            ErrorType.TIMEOUT, exc.service, message, evidence or exc.evidence, name, source
        )
    return Failure(ErrorType.TIMEOUT, step.service, message, evidence, name, BlameSource.STEP)


def _from_http_status(
    exc: httpx.HTTPStatusError, traffic: Sequence[Exchange], step: Step, name: str
) -> Failure:
    url = str(exc.request.url)
    status = exc.response.status_code
    match = next((e for e in reversed(traffic) if e.url == url and e.status == status), None)
    if match is None:
        # Traffic outside the observed client (another origin): judge the response alone.
        match = Exchange(exc.request.method, url, None, step.name, 0.0, 0.0, status)
    # The journey raised on it: whatever it declared, it did not want it.
    match = replace(match, expected=False)
    return _from_exchange(match, step, name, _answer_text(match))


def _own_request(exc: BaseException, traffic: Sequence[Exchange]) -> Exchange | None:
    """The exchange of the request an httpx exception is about."""
    request = getattr(exc, "_request", None)  # httpx keeps the failed request here
    if isinstance(request, httpx.Request):
        url = str(request.url)
        for exchange in reversed(traffic):
            if url in (exchange.url, exchange.off_target):
                return exchange
    return None
