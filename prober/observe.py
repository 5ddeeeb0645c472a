"""What the drivers saw on the wire during each step: the evidence the classifier reads.

Both drivers report here: the http driver from its transport, the browser driver from page
events. Only requests to the target's origins are kept; a third-party script failing on the
page is not the target's fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from prober.redact import Redactor
from prober.result import ErrorType
from prober.target import Target
from prober.trace import TraceContext


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
    failure: str | None = None  # transport failure text (browser) or exception (httpx)
    failure_kind: ErrorType | None = None  # what the failure means; None: harmless (aborted)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def pending(self) -> bool:
        return self.ended is None

    @property
    def failed(self) -> bool:
        return self.failure is not None or (self.status is not None and self.status >= 400)

    def describe(self) -> str:
        if self.pending:
            outcome = "no answer yet"
        elif self.failure is not None:
            outcome = self.failure
        else:
            outcome = str(self.status)
            named = [
                n for n in (self.responder, self.upstream and f"upstream {self.upstream}") if n
            ]
            if named:
                outcome += f" ({', '.join(named)})"
        return f"{self.method} {self.path} -> {outcome}"


def dig(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


@dataclass
class Observer:
    target: Target
    clock: Callable[[], float] = time.monotonic
    step: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    console_errors: list[tuple[str | None, str]] = field(default_factory=list)

    def begin_step(self, name: str) -> None:
        self.step = name

    def started(self, method: str, url: str) -> Exchange | None:
        """Record a request to the target; None for other origins (not evidence)."""
        if not self.target.owns(url):
            return None
        exchange = Exchange(
            method=method.upper(),
            url=url,
            owner=self.target.service_for_url(url),
            step=self.step,
            started=self.clock(),
        )
        self.exchanges.append(exchange)
        return exchange

    def answered(
        self, exchange: Exchange, status: int, headers: Mapping[str, str], body: Any = None
    ) -> None:
        exchange.ended = self.clock()
        exchange.status = status
        exchange.responder = headers.get(self.target.service_header)
        if status >= 400 and body is not None:
            named = dig(body, self.target.error_service_field)
            upstream = dig(body, self.target.error_upstream_field)
            message = dig(body, "error.message") or dig(body, "message")
            exchange.reported_service = named if isinstance(named, str) else None
            exchange.upstream = upstream if isinstance(upstream, str) else None
            exchange.message = message if isinstance(message, str) else None

    def broke(self, exchange: Exchange, failure: str, kind: ErrorType | None) -> None:
        exchange.ended = self.clock()
        exchange.failure = failure
        exchange.failure_kind = kind

    def console_error(self, text: str) -> None:
        self.console_errors.append((self.step, text[:500]))

    def in_step(self, name: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.step == name]


@dataclass(frozen=True, slots=True)
class Wiring:
    """What both drivers need to instrument one attempt: where the target is, what to record
    into, the trace to propagate, the probe marker, and the secrets to keep out of artifacts."""

    target: Target
    observer: Observer
    trace: TraceContext
    probe: str  # x-cuj-probe: <journey>/<run_id>
    redactor: Redactor
