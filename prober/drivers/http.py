"""The http driver: one `httpx.AsyncClient` per run, bound to the target, authenticated, traced.

Every request to the target's origins carries the trace headers and the prober's user agent and
is recorded for the classifier; requests to other origins go out untouched.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from prober.classify import transport_failure_kind
from prober.errors import JourneyAssertion
from prober.observe import Wiring, dig
from prober.redact import Redactor
from prober.target import Target
from prober.trace import with_product_token

USER_AGENT = with_product_token(f"python-httpx/{httpx.__version__}")


class ObservingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, wiring: Wiring) -> None:
        self._inner = inner
        self._target = wiring.target
        self._observer = wiring.observer
        self._trace = wiring.trace
        self._probe = wiring.probe

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if self._target.owns(url):
            request.headers.update(self._trace.headers(self._probe))
            # Requests built outside the client (the login in TargetAuth) lack its defaults.
            request.headers["user-agent"] = with_product_token(request.headers.get("user-agent"))
        exchange = self._observer.started(request.method, url)
        try:
            response = await self._inner.handle_async_request(request)
        except asyncio.CancelledError:
            raise  # left pending: a deadline fired while this request waited for an answer
        except Exception as exc:
            if exchange is not None:
                detail = f"{type(exc).__name__}: {exc}".strip()
                self._observer.broke(exchange, detail, transport_failure_kind(exc))
            raise
        if exchange is not None:
            body: Any = None
            if response.status_code >= 400:
                await response.aread()
                try:
                    body = json.loads(response.content)
                except ValueError:
                    body = None
            self._observer.answered(exchange, response.status_code, response.headers, body)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class TargetAuth(httpx.Auth):
    """The target's credentials, sent to the target's origins only - never to a third party.

    `login` logs in once per run (the first request to the target triggers it) and then sends the
    bearer token; `bearer` sends a fixed token; `basic` sends HTTP basic credentials.
    """

    def __init__(self, target: Target, redactor: Redactor) -> None:
        self._target = target
        self._redactor = redactor
        self._token = target.auth.token.reveal() if target.auth.token is not None else None

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        spec = self._target.auth
        if spec.kind == "none" or not self._target.owns(str(request.url)):
            yield request
            return
        if spec.kind == "basic":
            password = self._target.password.reveal() if self._target.password else ""
            credentials = f"{self._target.username or ''}:{password}".encode()
            request.headers["authorization"] = "Basic " + base64.b64encode(credentials).decode()
            yield request
            return
        if self._token is None and spec.kind == "login":
            password = self._target.password.reveal() if self._target.password else ""
            body = {
                spec.username_field: self._target.username or "",
                spec.password_field: password,
                **dict(spec.extra_fields),
            }
            login = httpx.Request("POST", request.url.join(spec.login_path), json=body)
            answer = yield login
            await answer.aread()
            answer.raise_for_status()
            token = dig(answer.json(), spec.token_field)
            if not isinstance(token, str) or not token:
                raise JourneyAssertion(
                    f"login at {spec.login_path} answered {answer.status_code} without a token "
                    f"at {spec.token_field!r}",
                    service=self._target.service_for_url(str(login.url)),
                )
            self._token = token
            self._redactor.add(token)
        if self._token is not None:
            request.headers["authorization"] = f"Bearer {self._token}"
        yield request


class HttpDriver:
    """Builds the per-run API client. `transport` is the seam for a non-network transport."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport

    def client(self, wiring: Wiring) -> httpx.AsyncClient:
        target = wiring.target
        inner = self._transport or httpx.AsyncHTTPTransport(verify=target.verify_tls)
        return httpx.AsyncClient(
            base_url=target.base_url,
            transport=ObservingTransport(inner, wiring),
            auth=TargetAuth(target, wiring.redactor),
            timeout=httpx.Timeout(target.request_timeout_s),
            headers={"user-agent": USER_AGENT, "accept": "application/json"},
            follow_redirects=True,
        )
