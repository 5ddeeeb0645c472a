"""The platform's front door: names the answering service, applies faults, logs every request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prober.sandbox.client import (
    CALLER_HEADER,
    INTERNAL_TOKEN_HEADER,
    UNREACHABLE_HEADER,
)
from prober.sandbox.errors import error_response
from prober.sandbox.faults import NO_FAULT, FaultDecision, FaultMode, FaultRegistry
from prober.sandbox.requestlog import TRACE_HEADERS, RequestLog
from prober.sandbox.services import CONTROL, EDGE, Service, answering_service

SILENT_SCOPE_KEY = "sandbox_silent"

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def silent_variants(scope: Scope) -> frozenset[str]:
    """The silent-failure variants the faults chose for this request (empty when healthy)."""
    state = scope.get("state") or {}
    variants: frozenset[str] = state.get(SILENT_SCOPE_KEY, frozenset())
    return variants


class PlatformMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        faults: FaultRegistry | None,
        log: RequestLog,
        internal_token: str,
    ) -> None:
        self.app = app
        self.faults = faults
        self.log = log
        self.internal_token = internal_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        path: str = scope["path"]
        headers = Headers(scope=scope)
        internal = headers.get(INTERNAL_TOKEN_HEADER) == self.internal_token
        service = answering_service(path)
        control = service == CONTROL
        answered: dict[str, Any] = {"status": None, "service": service}

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                if "x-service" not in out:
                    out["x-service"] = service
                answered["status"] = message["status"]
                answered["service"] = out["x-service"]
            await send(message)

        decision = NO_FAULT
        if self.faults is not None and not control:
            decision = self.faults.decide(Service(service), path)
        outcome = "answered"
        try:
            if decision.delay_s:
                await asyncio.sleep(decision.delay_s)
            terminal = decision.terminal
            if terminal is None:
                scope.setdefault("state", {})[SILENT_SCOPE_KEY] = decision.silent
                await self.app(scope, receive, send_named)
            elif terminal.spec.mode is FaultMode.HANG:
                outcome = "hang"
                await _hold_until_disconnect(receive)
            else:
                response = _fault_response(decision, service, internal)
                await response(scope, receive, send_named)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            entry: dict[str, Any] = {
                "ts": time.time(),
                "method": scope["method"],
                "path": path,
                "status": answered["status"],
                "service": answered["service"],
                "route_service": service,
                "caller": headers.get(CALLER_HEADER, "client") if internal else "client",
                "duration_ms": round((time.monotonic() - started) * 1000, 2),
                "outcome": outcome,
                "headers": {h: headers[h] for h in TRACE_HEADERS if h in headers},
            }
            if decision.applied:
                entry["faults"] = list(decision.applied)
            self.log.record(entry)


def _fault_response(decision: FaultDecision, service: str, internal: bool) -> Any:
    fault = decision.terminal
    assert fault is not None
    status = fault.spec.effective_status or 500
    if fault.spec.mode is FaultMode.UNAVAILABLE:
        # The service cannot be reached, so it cannot answer: the load balancer in front does.
        response = error_response(
            status,
            "upstream_unavailable",
            f"{service} is unavailable (no healthy upstream)",
            EDGE,
            upstream=service,
        )
        if internal:
            response.headers[UNREACHABLE_HEADER] = "1"
        return response
    code = _ERROR_CODES.get(status, f"error_{status}")
    return error_response(
        status, code, f"{service} failed to handle the request (injected fault {fault.id})", service
    )


async def _hold_until_disconnect(receive: Receive) -> None:
    """A hung service: read the request, never answer, return when the client gives up."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
