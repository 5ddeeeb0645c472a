"""The http driver: one `httpx.AsyncClient` per run, bound to the target, authenticated, traced.

Every request to the target's origins carries the trace headers and the prober's user agent and
is recorded for the classifier; requests to other origins go out untouched.

Each run opens its own connections (a run measures what a new client meets, handshakes
included), but TLS contexts are built once per process (`tls_context`): loading the CA bundle
costs ~50 ms of CPU, more than the rest of an API journey's Python work, and a run that makes
no https request (a plain-http target) loads none.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import email.utils
import functools
import math
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator

import httpx

from prober.errors import JourneyAssertion, LoginFailed
from prober.login_gate import LoginGate, credentials_key
from prober.observe import Exchange, Observer, Wiring, dig, inspect_body
from prober.session import Session
from prober.target import SESSION_CREDENTIAL
from prober.trace import PROBE_HEADER, with_product_token

USER_AGENT = with_product_token(f"python-httpx/{httpx.__version__}")


class ObservingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, wiring: Wiring) -> None:
        self._inner = inner
        self._target = wiring.target
        self._observer = wiring.observer
        self._trace = wiring.trace
        self._probe = wiring.probe
        self._redactor = wiring.redactor
        self._answers: dict[int, tuple[httpx.Request, httpx.Response]] = {}
        # The target's redirects not yet followed: their Location -> the 3xx's exchange.
        self._redirects: dict[str, Exchange] = {}
        wiring.observer.readers.append(self.inspect)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        via = self._redirects.pop(url, None)
        if self._target.owns(url):
            request.headers.update(self._trace.headers(self._probe))
            # Requests built outside the client (the login in TargetAuth) lack its defaults.
            request.headers["user-agent"] = with_product_token(request.headers.get("user-agent"))
        else:
            try:
                self._withhold_secrets(request)
            except CredentialsWithheld as exc:
                if via is not None:
                    self._observer.redirect_failed(via, url, str(exc), exc)
                raise
            url = str(request.url)
        exchange = self._observer.started(request.method, url, via=via)
        try:
            response = await self._inner.handle_async_request(request)
        except asyncio.CancelledError:
            raise  # left pending: a deadline fired while this request waited for an answer
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            if exchange is not None:
                self._observer.broke(exchange, _transport_failure(exc, request), exc)
            elif via is not None:
                self._observer.redirect_failed(via, url, detail, exc)
            raise
        if exchange is not None:
            self._observer.answered(exchange, response.status_code, response.headers)
            if exchange.location is not None:
                self._redirects[exchange.location] = exchange
            if response.status_code >= 400:
                try:
                    await response.aread()
                except Exception as exc:  # cut or undecodable: the status is the evidence
                    self._observer.broke(exchange, _read_failure(exc), exc)
                    raise
                self._observer.body_done(exchange)
                self._observer.error_body(exchange, response.content)
                return response
            if response.status_code < 300:
                self._answers[id(exchange)] = (request, response)
            if isinstance(response.stream, httpx.AsyncByteStream):
                response.stream = _ObservedBody(response.stream, self._observer, exchange)
        return response

    def _withhold_secrets(self, request: httpx.Request) -> None:
        """Keep the target's secrets and trace headers off a request to another origin: a
        redirect follows with the first request's headers (httpx drops only Authorization), and
        a 307/308 with its body. Headers and query parameters carrying one are dropped; a body
        carrying one (the login's password) is not sent at all."""
        ours = self._trace.headers(self._probe)
        if request.headers.get(PROBE_HEADER) == self._probe:  # the first request's, redirected
            for name in ours:
                request.headers.pop(name, None)
        redactor = self._redactor
        if not redactor.secrets:
            return
        for name, value in request.headers.multi_items():
            if redactor.holds_secret(value) or redactor.holds_secret(value.split(" ")[-1]):
                del request.headers[name]
        params = request.url.params
        kept = [(k, v) for k, v in params.multi_items() if not redactor.holds_secret(v)]
        if len(kept) != len(params.multi_items()):
            request.url = request.url.copy_with(params=kept or None)
        body = b"".join(request.stream) if isinstance(request.stream, httpx.ByteStream) else b""
        if body and redactor.holds_secret(body.decode("utf-8", "replace")):
            raise CredentialsWithheld(
                f"not sent: {request.method} {request.url} would carry the target's credentials "
                "in its body to another origin"
            )

    async def inspect(self, exchanges: list[Exchange]) -> None:
        """For a failed step: check the 2xx bodies the journey read (nothing is read here)."""
        for exchange in exchanges:
            found = self._answers.get(id(exchange))
            if found is None:
                continue
            request, response = found
            if not response.is_stream_consumed or response.is_error:
                continue
            try:
                body = response.content
            except httpx.ResponseNotRead:
                continue  # its read was cut or failed: the exchange says so already
            accept = request.headers.get("accept", "")
            inspect_body(exchange, body, accept, by_journey=True)

    async def aclose(self) -> None:
        await self._inner.aclose()


class CredentialsWithheld(httpx.RequestError):
    """A request to another origin (a redirect's) would have carried the target's secrets."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class _ObservedBody(httpx.AsyncByteStream):
    """A response body that tells the observer when it has all arrived, or how it broke off:
    a body that trickles past the step's deadline stays `body_pending` (the evidence of a
    timeout on the service that answered)."""

    def __init__(
        self, inner: httpx.AsyncByteStream, observer: Observer, exchange: Exchange
    ) -> None:
        self._inner = inner
        self._observer = observer
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except asyncio.CancelledError:
            raise  # left pending: a deadline fired while the body was arriving
        except GeneratorExit:
            # The client stopped reading (its decoder failed): not a body still arriving.
            self._observer.body_done(self._exchange)
            raise
        except Exception as exc:
            self._observer.broke(self._exchange, _read_failure(exc), exc)
            raise
        self._observer.body_done(self._exchange)

    async def aclose(self) -> None:
        await self._inner.aclose()


_LIMITS = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read",
           httpx.WriteTimeout: "write", httpx.PoolTimeout: "pool"}  # fmt: skip


def _transport_failure(exc: BaseException, request: httpx.Request) -> str:
    """What a failed request met, with the limit it hit: "ReadTimeout: no answer within the
    5s read timeout (request_timeout)", "ConnectError: ... (connecting to host:port)"."""
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    limit = next((name for kind, name in _LIMITS.items() if isinstance(exc, kind)), None)
    if limit is not None:
        seconds = request.extensions.get("timeout", {}).get(limit)
        within = f"{seconds:g}s " if isinstance(seconds, int | float) else ""
        return f"{detail} (nothing within the {within}{limit} timeout: request_timeout)"
    if isinstance(exc, httpx.ConnectError):
        port = request.url.port or {"http": 80, "https": 443}.get(request.url.scheme)
        return f"{detail} (connecting to {request.url.host}:{port})"
    return detail


def _read_failure(exc: BaseException) -> str:
    return f"{type(exc).__name__} while reading the body: {exc}".strip().rstrip(":")


class TargetAuth(httpx.Auth):
    """The target's credentials, sent to the target's origins only - never to a third party -
    and only those the journey declares (`Journey(credentials=...)`; all when it declares none).

    `login`: the first request to the target that needs the session reuses the process's (or
    the host's) session, else logs in - one login at a time per credentials (LoginGate.exclusive)
    under the target's request timeout. The session is what the login returned: the body's
    token (sent as a bearer token), the cookies it set (sent as cookies), or both. A 401 to a
    reused session logs in once more (unless another run already did) and replays the request
    that got it; a 401 to this run's own fresh session is the answer. A refused login is
    remembered by the process's LoginGate, which holds the next ones back
    (prober/login_gate.py). `bearer` sends a fixed token; `basic` sends HTTP basic credentials.
    The target's other credentials (an API key in a header, a query parameter or a cookie) go
    on every request to its origins.
    """

    def __init__(self, wiring: Wiring, gate: LoginGate) -> None:
        target = wiring.target
        self._target = target
        self._redactor = wiring.redactor
        self._observer = wiring.observer
        self._interval_s = wiring.interval_s
        self._uses = wiring.credentials
        self._gate = gate
        self._session: Session | None = None
        self._reused = False  # the session came from the process or host, not this run's login
        password = target.password.reveal() if target.password else ""
        self._key = credentials_key(target.name, target.username, password)
        self._wait_s = target.request_timeout_s + 1.0  # for another run's login to end

    def uses(self, name: str) -> bool:
        """Whether the journey sends the credential `name` ("session": the login's)."""
        return self._uses is None or name in self._uses

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        target, spec = self._target, self._target.auth
        if not target.owns(str(request.url)):
            yield request
            return
        self._send_credentials(request)
        if spec.kind == "basic":
            password = target.password.reveal() if target.password else ""
            credentials = f"{target.username or ''}:{password}".encode()
            request.headers["authorization"] = "Basic " + base64.b64encode(credentials).decode()
        elif spec.kind == "bearer" and spec.token is not None:
            request.headers["authorization"] = f"Bearer {spec.token.reveal()}"
        if spec.kind != "login" or not self.uses(SESSION_CREDENTIAL):
            yield request
            return
        timeout = request.extensions.get("timeout", {})
        if self._current() is None:
            async with self._gate.exclusive(self._key, self._wait_s):
                if self._current() is None:  # no other run logged in while this one waited
                    login = self._login_request(request.url, timeout)
                    answer = yield login
                    await answer.aread()
                    self._accept(login, answer)
        used = self._session
        _sign(request, used)
        response = yield request
        if response.status_code != 401 or not self._reused or used is None:
            return
        # The reused session expired or was revoked: renew it once, then replay the request.
        async with self._gate.exclusive(self._key, self._wait_s):
            fresh = self._gate.session(self._key, shared=True)
            if fresh is None or fresh == used:
                self._gate.forget(self._key, used)
                self._session, self._reused = None, False
                login = self._login_request(request.url, timeout)
                answer = yield login
                await answer.aread()
                self._accept(login, answer)
            else:
                self._take(fresh)  # another run or process renewed it meanwhile
        _sign(request, self._session)
        yield request

    async def session(self, client: httpx.AsyncClient) -> Session | None:
        """The login's session (logging in through `client` if there is none yet), for signing
        another channel in with it; None when the journey uses no login session."""
        if self._target.auth.kind != "login" or not self.uses(SESSION_CREDENTIAL):
            return None
        if self._current() is None:
            async with self._gate.exclusive(self._key, self._wait_s):
                if self._current() is None:
                    url = httpx.URL(self._target.base_url)
                    login = self._login_request(url, client.timeout.as_dict())
                    answer = await client.send(login, auth=None)
                    self._accept(login, answer)
        return self._session

    async def token(self, client: httpx.AsyncClient) -> str | None:
        """The session's token (see `session`); None when the login gives none."""
        session = await self.session(client)
        return None if session is None else session.token

    def _current(self) -> Session | None:
        """This run's session: its own, else the process's or host's to reuse. Raises
        LoginFailed while refusals hold logins back and there is none."""
        if self._session is None:
            found = self._gate.session(self._key)
            if found is not None:
                self._take(found)
            else:
                _hold_back(self._gate, self._key, self._target.auth.login_path)
        return self._session

    def _take(self, session: Session, *, reused: bool = True) -> None:
        self._session, self._reused = session, reused
        for secret in session.secrets():
            self._redactor.add(secret)

    def _send_credentials(self, request: httpx.Request) -> None:
        for credential in self._target.credentials:
            if not self.uses(credential.name):
                continue
            value = credential.prefix + credential.value.reveal()
            if credential.place == "header":
                request.headers[credential.key] = value
            elif credential.place == "query":
                request.url = request.url.copy_merge_params({credential.key: value})
            else:
                _set_cookies(request, ((credential.key, value),))

    def _login_request(self, url: httpx.URL, timeout: object) -> httpx.Request:
        spec = self._target.auth
        password = self._target.password.reveal() if self._target.password else ""
        body = {
            spec.username_field: self._target.username or "",
            spec.password_field: password,
            **dict(spec.extra_fields),
        }
        # The client's timeout lives in the request's extensions; a request built here has
        # none of its own, and a hung login would wait out the whole journey.
        target, extensions = url.join(spec.login_path), {"timeout": timeout}
        if spec.format == "form":
            return httpx.Request("POST", target, data=body, extensions=extensions)
        return httpx.Request("POST", target, json=body, extensions=extensions)

    def _accept(self, login: httpx.Request, answer: httpx.Response) -> None:
        """Take the session from a login answer, or raise the refusal (and remember it)."""
        spec = self._target.auth
        status = answer.status_code
        if status >= 400:
            refused = _last_exchange(self._observer, str(login.url))
            said = f"POST {spec.login_path} answered {status}{_detail(refused)}"
            if status in CREDENTIAL_REFUSALS:
                refusal = self._gate.refused(self._key, self._interval_s, copy.copy(refused))
                raise LoginFailed(
                    f"login refused: {said} (refusal {refusal.count}; no new login before "
                    f"{_clock(refusal.until)}, so the account is not locked out)",
                    refused,
                )
            if status == 429:
                asked = retry_after_s(answer.headers.get("retry-after"), time.time())
                refusal = self._gate.refused(
                    self._key, self._interval_s, copy.copy(refused), hold_s=asked
                )
                why = (
                    f"it asked to wait {asked:g}s (Retry-After)"
                    if asked is not None
                    else "it sent no Retry-After it could read"
                )
                raise LoginFailed(
                    f"login rate-limited: {said}; {why}, so no new login before "
                    f"{_clock(refusal.until)}",
                    refused,
                )
            raise LoginFailed(
                f"login failed: {said} (not a refusal of the credentials: nothing is held "
                "back, the next run logs in again)",
                refused,
            )
        try:
            body = answer.json()
        except ValueError:
            body = None
        token = dig(body, spec.token_field)
        token = token if isinstance(token, str) and token else None
        now = time.time()
        cookies, cookie_expiry = _login_cookies(answer)
        if token is None and not cookies:
            raise JourneyAssertion(
                f"login at {spec.login_path} answered {answer.status_code} without a session: "
                f"no token at {spec.token_field!r} and no cookie set",
                service=self._target.service_for_url(str(login.url)),
            )
        lifetime = _lifetime_s(dig(body, "expires_in"))
        if lifetime is None and cookie_expiry is not None:
            lifetime = cookie_expiry - now
        session = Session.from_login(token, cookies, expires_in_s=lifetime, now=now)
        self._gate.remember(self._key, session)
        self._take(session, reused=False)


def _lifetime_s(expires_in: object) -> float | None:
    """A login's `expires_in` in seconds: a number, or digits in a string ("3600"); None (no
    lifetime given) for anything else - a bool, NaN, text - rather than a session that is
    never good (NaN) and a login on every run."""
    if isinstance(expires_in, str) and re.fullmatch(r"\s*-?[0-9]{1,12}(\.[0-9]+)?\s*", expires_in):
        expires_in = float(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return None
    value = float(expires_in)
    return value if not math.isnan(value) else None


def _login_cookies(answer: httpx.Response) -> tuple[tuple[tuple[str, str], ...], float | None]:
    """The cookies a login answer (and the redirects before it) set, and the soonest expiry
    among them (None when all last the browser session)."""
    jar = httpx.Cookies()
    for response in (*answer.history, answer):
        jar.extract_cookies(response)
    cookies = {cookie.name: cookie.value or "" for cookie in jar.jar}
    expiries = [float(cookie.expires) for cookie in jar.jar if cookie.expires is not None]
    return tuple(cookies.items()), min(expiries) if expiries else None


def _sign(request: httpx.Request, session: Session | None) -> None:
    """Put `session` on a request to the target: its token as a bearer, its cookies."""
    if session is None:
        return
    if session.token is not None:
        request.headers["authorization"] = f"Bearer {session.token}"
    if session.cookies:
        _set_cookies(request, session.cookies)


def _set_cookies(request: httpx.Request, cookies: tuple[tuple[str, str], ...]) -> None:
    """Set these cookies on the request, replacing same-named ones the client's jar added."""
    names = {name for name, _ in cookies}
    kept = [
        part.strip()
        for part in request.headers.get("cookie", "").split(";")
        if part.strip() and part.split("=", 1)[0].strip() not in names
    ]
    request.headers["cookie"] = "; ".join([*kept, *(f"{n}={v}" for n, v in cookies)])


# Statuses by which a login refuses the credentials themselves (repeating them risks a lockout).
CREDENTIAL_REFUSALS = frozenset({401, 403})


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date); None when absent
    or unreadable."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", text):  # ASCII digits only: "²".isdigit() too
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def _hold_back(gate: LoginGate, key: str, login_path: str) -> None:
    refusal = gate.held(key)
    if refusal is None:
        return
    raise LoginFailed(
        f"login held back: the target refused it {refusal.count} time(s), last at "
        f"{_clock(refusal.at)} (POST {login_path} answered {_status(refusal.answer)}"
        f"{_detail(refusal.answer)}); the next login "
        f"is tried after {_clock(refusal.until)} so repeated refusals cannot lock the account",
        refusal.answer,
    )


def _last_exchange(observer: Observer, url: str) -> Exchange | None:
    return next((e for e in reversed(observer.exchanges) if e.url == url), None)


def _detail(exchange: object) -> str:
    if not isinstance(exchange, Exchange):
        return ""
    said = exchange.message or exchange.excerpt
    return f": {said[:200]}" if said else ""


def _status(exchange: object) -> str:
    return str(exchange.status) if isinstance(exchange, Exchange) else "a refusal"


def _clock(wall: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(wall))


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """The process's TLS context for targets that verify certificates (or do not)."""
    return httpx.create_ssl_context(verify=verify)


@functools.cache
def _plain_context() -> ssl.SSLContext:
    # httpx's transport wants a context even for http:// only; this one is never used for TLS
    # and loads no CA bundle.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class RunTransport(httpx.AsyncBaseTransport):
    """One run's connection pools: http on first use; https on first use, with the shared
    `tls_context`. Closing it closes the run's connections only."""

    def __init__(self, verify: bool) -> None:
        self._verify = verify
        self._pools: dict[bool, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        secure = request.url.scheme == "https"
        pool = self._pools.get(secure)
        if pool is None:
            context = tls_context(self._verify) if secure else _plain_context()
            pool = self._pools[secure] = httpx.AsyncHTTPTransport(verify=context)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


class HttpDriver:
    """Builds the per-run API client. `transport` is the seam for a non-network transport."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, gate: LoginGate | None = None
    ) -> None:
        self._transport = transport
        self.gate = gate or LoginGate()

    def client(self, wiring: Wiring) -> httpx.AsyncClient:
        target = wiring.target
        inner = self._transport or RunTransport(target.verify_tls)
        return httpx.AsyncClient(
            base_url=target.base_url,
            transport=ObservingTransport(inner, wiring),
            auth=TargetAuth(wiring, self.gate),
            timeout=httpx.Timeout(target.request_timeout_s),
            headers={"user-agent": USER_AGENT, "accept": "application/json"},
            follow_redirects=True,
        )
