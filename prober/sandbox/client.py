"""How one platform service calls another: through the platform's own ASGI stack.

Internal calls pass through the same middleware as outside requests, so a fault on
workflow-service or optimizer-service hits the orchestration engine's calls exactly as it hits a
browser's, and the request log shows the propagated trace headers with the caller's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.types import ASGIApp

INTERNAL_TOKEN_HEADER = "x-sandbox-internal"
CALLER_HEADER = "x-sandbox-caller"
# Set by the middleware on the answer to an internal call whose target is `unavailable`: the
# in-process transport cannot refuse a connection, so this stands for "could not connect".
UNREACHABLE_HEADER = "x-sandbox-unreachable"


class UpstreamFailure(Exception):
    """A call to another service did not give a usable answer."""

    def __init__(
        self, upstream: str, kind: str, message: str, *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.upstream = upstream
        self.kind = kind  # "unavailable" | "timeout" | "error"
        self.message = message
        self.status = status

    @property
    def gateway_status(self) -> int:
        """What the calling service answers its own client: 502, 503 or 504."""
        return {"unavailable": 503, "timeout": 504}.get(self.kind, 502)


class ServiceClient:
    def __init__(self, app: ASGIApp, internal_token: str, timeout_s: float) -> None:
        self._token = internal_token
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox.internal"
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        caller: str,
        upstream: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The upstream's JSON answer, or UpstreamFailure saying why there is none."""
        sent = {**(headers or {}), INTERNAL_TOKEN_HEADER: self._token, CALLER_HEADER: caller}
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._http.request(method, path, json=json, headers=sent)
        except TimeoutError:
            raise UpstreamFailure(
                upstream, "timeout", f"{upstream} did not answer within {self._timeout_s:g}s"
            ) from None
        if response.headers.get(UNREACHABLE_HEADER):
            raise UpstreamFailure(
                upstream, "unavailable", f"{upstream} is unavailable", status=response.status_code
            )
        if response.status_code >= 400:
            detail = _error_message(response)
            raise UpstreamFailure(
                upstream,
                "error",
                f"{upstream} answered {response.status_code}: {detail}",
                status=response.status_code,
            )
        return response.json()


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
