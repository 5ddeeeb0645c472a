"""What the drivers saw during each step: the evidence the classifier reads, as plain data.

Both drivers report here - the http driver from its transport, the browser driver from page
events - and record only what happened: requests and how they ended (status, the service the
platform named, a body excerpt, a body that did not parse, a transport failure), uncaught page
exceptions and console errors, each with the service that owns its URL per the target's route
map. Deciding what any of it means is the classifier's job alone (prober/classify.py).

Only requests to the target's origins are kept; a third-party script failing on the page is not
the target's fault.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from prober.redact import Redactor
from prober.target import Target, glob_regex
from prober.trace import TraceContext

log = logging.getLogger(__name__)
EXCERPT_CHARS = 300
# Resource types whose network failure leaves a page without what a step waits for: a browser
# step fails fast on them (runner.FAIL_FAST_AFTER_S) instead of waiting out its deadline.
AWAITED_RESOURCES = frozenset({"document", "fetch", "xhr", "script"})
_STACK_URL = re.compile(r"(https?://[^\s)'\"]+?)(?::\d+){0,2}(?=[\s)'\"]|$)")


@dataclass(slots=True)
class Exchange:
    """One request to the target and how it ended (or that it had not yet)."""

    method: str
    url: str
    owner: str | None  # the service that owns the URL per the target's route map
    step: str | None
    started: float
    ended: float | None = None
    status: int | None = None
    responder: str | None = None  # the service that answered, from the platform's header
    reported_service: str | None = None  # error.service in the body
    upstream: str | None = None  # error.upstream in the body
    message: str | None = None  # error.message in the body
    failure: str | None = None  # transport failure: net::ERR_... (browser) or exception text
    # The httpx exception behind `failure` (the classifier reads its type), if any.
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    resource: str | None = None  # browser resource type: document, script, fetch, ...
    content_type: str | None = None
    excerpt: str | None = None  # the start of a 4xx/5xx body, for the failure message
    body_problem: str | None = None  # a 2xx body that does not parse as its declared type
    # A 2xx body that is not JSON where JSON was asked for (evidence only for a parse error).
    body_mismatch: str | None = None
    expected: bool = False  # the journey declared this status as the answer it wanted
    # The status and headers came, the body had not ended yet (a body that trickles in).
    body_pending: bool = False
    navigation: bool = False  # the page's main-frame document (a goto, a reload, a link)
    location: str | None = None  # a 3xx's Location, absolute
    # The target's 3xx this request followed (a redirect hop), when there was one.
    via: Exchange | None = field(default=None, repr=False, compare=False)
    # This 3xx led off the target's origins, to this URL, and the request there failed.
    off_target: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def fatal_status(self) -> bool:
        """Whether an undeclared status >= 400 on this request leaves the page without what
        it needs: its own document, or a script (a browser never runs a script's error body)."""
        return self.navigation or self.resource == "script"

    @property
    def pending(self) -> bool:
        return self.ended is None

    def describe(self) -> str:
        if self.pending:
            outcome = "no answer yet"
        elif self.status is not None and (self.failure is None or self.status >= 400):
            outcome = str(self.status)
            named = [
                n for n in (self.responder, self.upstream and f"upstream {self.upstream}") if n
            ]
            if named:
                outcome += f" ({', '.join(named)})"
            if self.body_problem or self.body_mismatch:
                outcome += f", {self.body_problem or self.body_mismatch}"
            elif self.failure:
                outcome += f", then {self.failure}"
            elif self.body_pending:
                outcome += ", its body still arriving"
        else:
            outcome = self.failure or "no answer"
        return f"{self.method} {self.path} -> {outcome}"


@dataclass(frozen=True, slots=True)
class PageError:
    """An uncaught exception or console error on the page, with the script it came from."""

    step: str | None
    kind: str  # "exception" | "console"
    text: str
    url: str | None  # the script (or page) the error came from, when known
    owner: str | None  # the route map's service for `url`

    def describe(self) -> str:
        where = f" in {urlsplit(self.url).path or '/'}" if self.url else ""
        label = "uncaught exception" if self.kind == "exception" else "console error"
        return f"{label}{where}: {self.text[:200]}"


_TOLD: set[tuple[str, str]] = set()
_ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9_-]{6,}$|^\d+$")


def route_pattern(path: str) -> str:
    """A route-map glob for `path`: segments that look like ids become `*`."""
    segments = [("*" if _ID_LIKE.match(part) else part) for part in path.split("/")]
    return "/".join(segments) or "/"


def _unrouted(target: Target, url: str) -> None:
    """A target URL no route-map entry owns is blamed on the step's service at best: say once
    per process and pattern what to add."""
    pattern = route_pattern(urlsplit(url).path or "/")
    if (target.name, pattern) in _TOLD:
        return
    _TOLD.add((target.name, pattern))
    log.warning(
        "target %s: no route-map entry owns %s; failures there can only be blamed on the "
        'step\'s service. Add it to targets.%s.services, e.g. SERVICE: ["%s"]',
        target.name, pattern, target.name, pattern,
    )  # fmt: skip


def dig(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def script_url(stack: str) -> str | None:
    """The first URL in a JavaScript stack trace (where an uncaught exception was thrown)."""
    match = _STACK_URL.search(stack or "")
    return match.group(1) if match else None


def inspect_body(exchange: Exchange, body: bytes, accept: str, *, by_journey: bool) -> None:
    """Record why a 2xx body is not what it claims or what was asked for. Drivers call it only
    for a failed step's answers.

    A body declared JSON that does not parse is a `body_problem` (certain evidence), and so is
    any other body given to a page script that accepted only JSON (`accept: application/json`):
    the page's own code could not have used it. When the journey itself asked (ctx.api sends
    that header by default, wanted or not), a body that is not JSON is only a `body_mismatch`:
    evidence when the failure is a JSON parse error, since a plain "OK" may be fine.
    """
    kind = (exchange.content_type or "").split(";")[0].strip().lower()
    declared_json = kind == "application/json" or kind.endswith("+json")
    accept = accept.lower()
    wanted_json = "json" in accept and "html" not in accept
    if not declared_json and not wanted_json:
        return
    try:
        json.loads(body)
    except ValueError as exc:
        if declared_json:
            exchange.body_problem = f"{kind} body is not valid JSON ({len(body)} bytes: {exc})"
        elif "*/*" not in accept and not by_journey:
            exchange.body_problem = f"a {kind or 'untyped'} body where only JSON was accepted"
        else:
            exchange.body_mismatch = f"a {kind or 'untyped'} body where JSON was expected"


@dataclass
class _Allowance:
    statuses: frozenset[int]
    path: re.Pattern[str] | None
    step: str | None

    def covers(self, exchange: Exchange) -> bool:
        return (
            exchange.status in self.statuses
            and (self.step is None or exchange.step == self.step)
            and (self.path is None or self.path.match(exchange.path) is not None)
        )


@dataclass
class Observer:
    target: Target
    clock: Callable[[], float] = time.monotonic
    step: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    page_errors: list[PageError] = field(default_factory=list)
    # Called when an awaited browser request fails at the network level (fail fast).
    alarm: Callable[[Exchange], None] | None = None
    # Drivers that can complete the record of a failed step (read the bodies it received).
    readers: list[Callable[[list[Exchange]], Awaitable[None]]] = field(default_factory=list)
    _allowed: list[_Allowance] = field(default_factory=list)

    def begin_step(self, name: str) -> None:
        self.step = name

    def started(
        self, method: str, url: str, resource: str | None = None, via: Exchange | None = None
    ) -> Exchange | None:
        """Record a request to the target; None for other origins (not evidence). `via` is
        the target's 3xx this request follows, if it is a redirect hop."""
        if not self.target.owns(url):
            return None
        owner = self.target.service_for_url(url)
        if owner is None:
            _unrouted(self.target, url)
        exchange = Exchange(
            method=method.upper(),
            url=url,
            owner=owner,
            step=self.step,
            started=self.clock(),
            resource=resource,
            via=via,
        )
        self.exchanges.append(exchange)
        return exchange

    def answered(self, exchange: Exchange, status: int, headers: Mapping[str, str]) -> None:
        """The status and headers came (the body may still be on its way: `body_done`)."""
        exchange.ended = self.clock()
        exchange.status = status
        exchange.responder = headers.get(self.target.service_header)
        exchange.content_type = headers.get("content-type")
        if 300 <= status < 400 and headers.get("location"):
            exchange.location = urljoin(exchange.url, headers["location"])
        exchange.expected = any(a.covers(exchange) for a in self._allowed)
        exchange.body_pending = True
        if (
            exchange.fatal_status
            and status >= 400
            and not exchange.expected
            and self.alarm is not None
        ):
            # The page itself, or a script it loads, failed: a browser never runs a script that
            # answered >= 400, so nothing the step waits for can come.
            self.alarm(exchange)

    def body_done(self, exchange: Exchange) -> None:
        exchange.body_pending = False

    def error_body(self, exchange: Exchange, raw: bytes) -> None:
        """What a 4xx/5xx body says: the services it names, its message, an excerpt."""
        text = raw.decode("utf-8", "replace")
        exchange.excerpt = " ".join(text.split())[:EXCERPT_CHARS] or None
        try:
            body = json.loads(text)
        except ValueError:
            return
        named = dig(body, self.target.error_service_field)
        upstream = dig(body, self.target.error_upstream_field)
        message = dig(body, "error.message") or dig(body, "message") or dig(body, "error")
        exchange.reported_service = named if isinstance(named, str) else None
        exchange.upstream = upstream if isinstance(upstream, str) else None
        exchange.message = message if isinstance(message, str) else None

    def broke(self, exchange: Exchange, failure: str, exc: BaseException | None = None) -> None:
        if exchange.ended is None:
            exchange.ended = self.clock()
        exchange.body_pending = False
        exchange.failure = failure
        exchange.exception = exc
        location = exchange.location
        if location is not None and exchange.off_target is None and not self.target.owns(location):
            # Its 3xx sent the client off the target's origins and the request failed there;
            # Chromium may report that on this request itself rather than on the next hop.
            exchange.off_target = location
        if self.alarm is not None and exchange.resource in AWAITED_RESOURCES:
            self.alarm(exchange)

    def socket_failed(self, url: str, failure: str) -> Exchange | None:
        """A WebSocket to the target that could not open or broke, recorded when it happened
        (a socket outlives the step that opened it) as a transport failure of its URL."""
        exchange = self.started("GET", url, "websocket")
        if exchange is not None:
            self.broke(exchange, failure)
        return exchange

    def redirect_failed(
        self, via: Exchange, url: str, failure: str, exc: BaseException | None = None
    ) -> None:
        """The target's 3xx `via` sent the client off the target's origins, to `url`, and the
        request there failed: the target's answer is what broke (its redirect)."""
        if self.target.owns(url) or via.failure is not None:
            return  # a hop on the target's own origins is recorded by itself
        via.off_target = url
        self.broke(via, f"redirected off the target to {url}, which failed: {failure}", exc)

    def page_error(self, kind: str, text: str, url: str | None) -> None:
        owner = self.target.service_for_url(url) if url else None
        self.page_errors.append(PageError(self.step, kind, text[:500], url, owner))

    def allow(self, statuses: frozenset[int], path: str | None, *, step: bool = True) -> None:
        """Answers with these statuses (on paths matching the glob) are what the journey
        wanted, not evidence of a failure; for the rest of the current step by default."""
        pattern = None if path is None else glob_regex(path)
        self._allowed.append(_Allowance(statuses, pattern, self.step if step else None))
        for exchange in self.exchanges:
            if exchange.status is not None and self._allowed[-1].covers(exchange):
                exchange.expected = True

    async def complete(self, name: str) -> list[BaseException]:
        """Before a failed step is classified: let each driver finish recording it. A reader
        that fails costs its own evidence only: its exception is returned, never raised."""
        exchanges = self.in_step(name)
        failures: list[BaseException] = []
        for reader in self.readers:
            try:
                await reader(exchanges)
            except Exception as exc:
                failures.append(exc)
        return failures

    def in_step(self, name: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.step == name]

    def errors_in_step(self, name: str) -> list[PageError]:
        return [e for e in self.page_errors if e.step == name]


@dataclass(frozen=True, slots=True)
class Wiring:
    """What both drivers need to instrument one attempt: where the target is, what to record
    into, the trace to propagate, the probe marker, and the secrets to keep out of artifacts."""

    target: Target
    observer: Observer
    trace: TraceContext
    probe: str  # x-cuj-probe: <journey>/<run_id>
    redactor: Redactor
    interval_s: float = 60.0  # the journey's interval: paces logins after a refusal
    # The target credentials the journey sends (prober.journey.Journey.credentials); None: all.
    credentials: tuple[str, ...] | None = None
