"""A wire-level fault proxy: a real HTTP/1.1 reverse proxy in front of the sandbox.

The prober (httpx or Chromium) talks to `WireProxy.url`; the proxy forwards to the upstream
(`prober sandbox`) and, where a rule matches, breaks the exchange on the wire instead: the
sandbox's own fault API is not involved, so the platform never knows. Point a target's
`base_url` at the proxy; the sandbox's pages use relative URLs only, so everything a page loads
or calls comes through the proxy too.

Rules (frozen dataclasses; the first two fields select, `times` limits):

    Rule(method, path, *, times=None, when=())
        method   "GET", "POST", ... or "*" for any
        path     an fnmatch glob on the path without the query ("/api/workflows/*";
                 `*` also matches "/"), the same matching as the sandbox's fault API
        times    None: every match; N: only the first N matches, then the rule is spent
        when     (name, glob) pairs: the request must carry each header with a value the
                 glob matches. FROM_BROWSER selects Chromium's requests (Sec-Fetch-Mode;
                 httpx sends none); of_journey("workflow_run_api") the requests of that
                 journey's runs (x-cuj-probe: <journey>/<run_id>); `+` combines them
    `headers` fields below are extra (name, value) pairs for the answer.

    Respond(method, path, status=500, body=b"", content_type="text/plain; charset=utf-8",
            headers=())                     answer this instead of forwarding
    HtmlErrorPage(method, path, status=200, title="Service error", headers=())
                                            an HTML error page (text/html) where JSON is due
    RateLimit(method, path, retry_after=30, body=<JSON error>, headers=())
                                            429 with Retry-After and a JSON error body
    Redirect(method, path, location=None, status=302)
                                            redirect; location None = the request's own URL
                                            (a loop); two rules make A -> B -> A
    ThrowInPage(method, path, message="injected")
                                            forward, then make the page throw an uncaught
                                            Error(message): HTML gets a <script> that throws
                                            inserted before its first <script> (the page's
                                            own scripts still run); anything else (a .js
                                            file) gets `throw new Error(...)` prepended, so
                                            none of that script's statements run (its
                                            function declarations are still hoisted: a
                                            later script can call them)
    Truncate(method, path, keep=None)       forward, then cut the body to `keep` bytes (None:
                                            half); status kept, Content-Length fixed, so the
                                            response is complete on the wire but malformed
    Reset(method, path)                     read the request, then close the socket with
                                            SO_LINGER 0 (an RST), answering nothing; the
                                            moment just before is recorded in `resets`
    Delay(method, path, seconds)            wait, then forward
    Hang(method, path)                      never answer; the socket closes when the proxy
                                            stops
    EmptyBody(method, path, status=204, content_type=None, headers=())
                                            an empty body (Content-Length: 0 unless 204);
                                            content_type None sends no Content-Type
    Trickle(method, path, chunk=1, interval=0.5)
                                            forward, then send the head (status, headers,
                                            the whole body's Content-Length) at once and the
                                            body `chunk` bytes every `interval` s: each read
                                            gets bytes in time, the whole body comes late
    BadEncoding(method, path)               forward, then answer `Content-Encoding: gzip`
                                            over the plain body (status, content-type and
                                            the other headers kept): it cannot be decoded
    AddHeaders(method, path, headers)       forward, then add these response headers,
                                            replacing any of the same names (a CSP on a
                                            page, `content-type: text/plain` + nosniff on a
                                            script)

    InjectHtml(method, path, html)         forward, then insert `html` (e.g. a <script> from
                                            another origin) right after <head>
    CutShort(method, path, missing=64)  forward, then announce a Content-Length `missing`
                                            bytes longer than the body, send the body and
                                            close: the connection ends before the answer does
    BrokenChunks(method, path)              forward, then send the body chunked: the first
                                            half as a chunk, then a chunk-size line that is
                                            not hex, and close
    Garbage(method, path, data=...)         answer bytes that are not HTTP at all, and close
    ConflictingLength(method, path, extra=7)
                                            forward, then send two Content-Length headers
                                            that disagree (the body's, and it plus `extra`)
    ResetReused(method, path)               like Reset, but only for a request that is not
                                            the first on its client connection (keep-alive)

Rules are tried in the order added; the first that matches and is not spent applies, else the
request passes through. Canned answers (Respond, HtmlErrorPage, RateLimit, Redirect, EmptyBody)
never reach the sandbox. The rewriting rules (ThrowInPage, Truncate, Trickle, BadEncoding,
AddHeaders) ask the sandbox for a fresh, uncompressed, whole body (conditional, range and
accept-encoding headers dropped) so there is always a body to break.

TLS: `WireProxy(upstream_url, tls=self_signed_tls(tmp_path))` serves HTTPS (`.url` is
https://127.0.0.1:PORT) with a certificate made at test time by `openssl req -x509` that no
client trusts; the upstream leg stays plain HTTP.

Pass-through keeps every end-to-end header both ways, names and order as sent (trace headers
going up, `x-service` coming back), and the client's Host. Hop-by-hop headers are per
connection (RFC 9110 §7.6.1): upstream gets one connection per request; responses are read
whole and sent on with Content-Length, so a chunked upstream answer arrives de-chunked, and the
client connection is kept alive unless it asked otherwise. Every request the proxy read is
recorded (`requests`, as `SeenRequest`), faulted or not.

WireProxy(upstream_url, *, upstream_timeout_s=30, tls=None): `with` it (or start()/stop());
`.url`; `.add(rule) -> rule`; `.remove(rule) -> hits`; `.clear()` (rules, requests and
resets); `.hits(rule)`;
`.requests -> list[SeenRequest]`
(method, target, path, headers, body, at, rule, connection); `.resets -> list[ResetEvent]`
(method, path, at). `at` is time.monotonic().

Example:

    with WireProxy(sandbox.url) as proxy:
        rule = proxy.add(Respond("GET", "/static/canvas.js", status=500, times=1))
        httpx.get(f"{proxy.url}/static/canvas.js").status_code        # 500
        httpx.get(f"{proxy.url}/static/canvas.js").status_code        # 200: rule spent
        proxy.hits(rule)                                               # 1
        [r.path for r in proxy.requests]          # ["/static/canvas.js", "/static/canvas.js"]
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from tests.loop_thread import LoopThread

Headers = tuple[tuple[str, str], ...]

# Per connection, never forwarded (RFC 9110 §7.6.1); content-length is recomputed per hop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    }
)
# Dropped when a rule must break the body: a 304, a 206 or a gzip body would leave nothing to edit.
_FRESH_BODY_DROPS = frozenset(
    {"if-none-match", "if-modified-since", "if-match", "if-range", "range", "accept-encoding"}
)
_HEAD_LIMIT = 1 << 20
_STOP_TIMEOUT_S = 10.0


class BadRequest(Exception):
    """The client sent something that is not HTTP/1.x; the connection is dropped."""


# --- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """Selects requests by method and path glob; `times` (None: every match) limits how often."""

    method: str
    path: str
    times: int | None = field(default=None, kw_only=True)
    when: Headers = field(default=(), kw_only=True)

    def matches(self, method: str, path: str, headers: Headers = ()) -> bool:
        return (
            (self.method == "*" or self.method.upper() == method.upper())
            and fnmatch.fnmatchcase(path, self.path)
            and all(_header_matches(headers, name, glob) for name, glob in self.when)
        )


def _header_matches(headers: Headers, name: str, glob: str) -> bool:
    value = _header(headers, name.lower())
    return value is not None and fnmatch.fnmatchcase(value, glob)


# `when` selectors. Chromium sends Sec-Fetch-* on every request (httpx never does), and the
# prober tags a run's API requests and its pages' own calls (fetch, XHR) with
# `x-cuj-probe: <journey>/<run_id>` (not documents or static files: prober/drivers/page_trace.py).
FROM_BROWSER: Headers = (("sec-fetch-mode", "*"),)


def of_journey(journey: str) -> Headers:
    """Only the requests of runs of this journey (either channel)."""
    return (("x-cuj-probe", f"{journey}/*"),)


@dataclass(frozen=True, slots=True)
class Canned:
    """A response the proxy makes up itself."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Respond(Rule):
    status: int = 500
    body: bytes | str = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Headers = ()

    def answer(self, target: str) -> Canned:
        body = self.body.encode() if isinstance(self.body, str) else self.body
        return Canned(self.status, (("content-type", self.content_type), *self.headers), body)


@dataclass(frozen=True, slots=True)
class HtmlErrorPage(Rule):
    status: int = 200
    title: str = "Service error"
    headers: Headers = ()

    def answer(self, target: str) -> Canned:
        body = (
            f"<!doctype html><html><head><title>{self.title}</title></head>"
            f"<body><h1>{self.title}</h1><p>Something went wrong.</p></body></html>"
        ).encode()
        return Canned(
            self.status, (("content-type", "text/html; charset=utf-8"), *self.headers), body
        )


@dataclass(frozen=True, slots=True)
class RateLimit(Rule):
    retry_after: int = 30
    body: str = '{"error": {"code": "rate_limited", "message": "Too many requests"}}'
    headers: Headers = ()

    def answer(self, target: str) -> Canned:
        headers = (
            ("content-type", "application/json"),
            ("retry-after", str(self.retry_after)),
            *self.headers,
        )
        return Canned(429, headers, self.body.encode())


@dataclass(frozen=True, slots=True)
class Redirect(Rule):
    location: str | None = None
    status: int = 302

    def answer(self, target: str) -> Canned:
        return Canned(self.status, (("location", self.location or target),), b"")


@dataclass(frozen=True, slots=True)
class ThrowInPage(Rule):
    message: str = "injected"

    def rewrite_headers(self, headers: Headers) -> Headers:
        return headers

    def rewrite(self, content_type: str, body: bytes) -> bytes:
        statement = f"throw new Error({json.dumps(self.message)});"
        if "html" not in content_type.lower():
            return f"{statement}\n".encode() + body
        script = f"<script>{statement}</script>".encode()
        first = re.search(rb"<script\b", body, re.IGNORECASE)
        if first is None:
            first = re.search(rb"</body\s*>", body, re.IGNORECASE)
        at = first.start() if first else len(body)
        return body[:at] + script + body[at:]


@dataclass(frozen=True, slots=True)
class Truncate(Rule):
    keep: int | None = None

    def rewrite_headers(self, headers: Headers) -> Headers:
        return headers

    def rewrite(self, content_type: str, body: bytes) -> bytes:
        return body[: len(body) // 2 if self.keep is None else self.keep]


@dataclass(frozen=True, slots=True)
class Reset(Rule):
    pass


@dataclass(frozen=True, slots=True)
class Delay(Rule):
    seconds: float


@dataclass(frozen=True, slots=True)
class Hang(Rule):
    pass


@dataclass(frozen=True, slots=True)
class EmptyBody(Rule):
    status: int = 204
    content_type: str | None = None  # None: no Content-Type at all
    headers: Headers = ()

    def answer(self, target: str) -> Canned:
        typed = (("content-type", self.content_type),) if self.content_type else ()
        return Canned(self.status, (*typed, *self.headers), b"")


@dataclass(frozen=True, slots=True)
class Trickle(Rule):
    chunk: int = 1
    interval: float = 0.5

    def rewrite(self, content_type: str, body: bytes) -> bytes:
        return body

    def rewrite_headers(self, headers: Headers) -> Headers:
        return headers


@dataclass(frozen=True, slots=True)
class BadEncoding(Rule):
    def rewrite(self, content_type: str, body: bytes) -> bytes:
        return body

    def rewrite_headers(self, headers: Headers) -> Headers:
        return _replace_headers(headers, (("content-encoding", "gzip"),))


@dataclass(frozen=True, slots=True)
class AddHeaders(Rule):
    headers: Headers = ()

    def rewrite(self, content_type: str, body: bytes) -> bytes:
        return body

    def rewrite_headers(self, headers: Headers) -> Headers:
        return _replace_headers(headers, self.headers)


@dataclass(frozen=True, slots=True)
class InjectHtml(Rule):
    html: str = ""

    def rewrite(self, content_type: str, body: bytes) -> bytes:
        head = re.search(rb"<head[^>]*>", body, re.IGNORECASE)
        at = head.end() if head else 0
        return body[:at] + self.html.encode() + body[at:]

    def rewrite_headers(self, headers: Headers) -> Headers:
        return headers


@dataclass(frozen=True, slots=True)
class CutShort(Rule):
    missing: int = 64

    def wire(self, status: int, reason: str, headers: Headers, body: bytes) -> bytes:
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        kept.append(("content-length", str(len(body) + self.missing)))
        return _head(status, reason, kept) + body


@dataclass(frozen=True, slots=True)
class BrokenChunks(Rule):
    def wire(self, status: int, reason: str, headers: Headers, body: bytes) -> bytes:
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        kept.append(("transfer-encoding", "chunked"))
        half = body[: max(1, len(body) // 2)]
        return _head(status, reason, kept) + f"{len(half):x}\r\n".encode() + half + b"\r\nzz\r\n"


@dataclass(frozen=True, slots=True)
class ConflictingLength(Rule):
    extra: int = 7

    def wire(self, status: int, reason: str, headers: Headers, body: bytes) -> bytes:
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        kept += [
            ("content-length", str(len(body))),
            ("content-length", str(len(body) + self.extra)),
        ]
        return _head(status, reason, kept) + body


@dataclass(frozen=True, slots=True)
class Garbage(Rule):
    data: bytes = b"\x00\x13garbage, not HTTP\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ResetReused(Rule):
    pass


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {reason}".rstrip() + "\r\n",
        *(f"{k}: {v}\r\n" for k, v in headers),
    ]
    lines.append("connection: close\r\n\r\n")
    return "".join(lines).encode("latin-1")


def _replace_headers(headers: Headers, replacements: Headers) -> Headers:
    """`headers` without any header named in `replacements`, then `replacements` appended."""
    names = {name.lower() for name, _ in replacements}
    return (*((k, v) for k, v in headers if k.lower() not in names), *replacements)


CannedRule = Respond | HtmlErrorPage | RateLimit | Redirect | EmptyBody
RewriteRule = ThrowInPage | Truncate | Trickle | BadEncoding | AddHeaders | InjectHtml
# Forward, then break the framing on the wire itself; the connection is closed after.
WireRule = CutShort | BrokenChunks | ConflictingLength


# --- TLS ---------------------------------------------------------------------------------------


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1, written to `folder`
    by `openssl req -x509` (the `cryptography` package is not a dependency). No client trusts
    it: not the system store, not certifi, not Chromium."""
    key, cert = folder / "proxy-key.pem", folder / "proxy-cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# --- what the proxy saw ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the client sent it (headers in its order and case); `rule` is what applied."""

    method: str
    target: str  # as on the request line, query included
    path: str
    headers: Headers
    body: bytes
    at: float  # time.monotonic() when the whole request had been read
    rule: Rule | None
    connection: int  # the client connection it came on, numbered from 1 (keep-alive reuses)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass(frozen=True, slots=True)
class ResetEvent:
    method: str
    path: str
    at: float  # time.monotonic() just before the RST was sent


@dataclass
class _Armed:
    rule: Rule
    hits: int = 0


@dataclass(frozen=True, slots=True)
class _Upstream:
    status: int
    reason: str
    headers: Headers
    body: bytes


# --- the proxy ---------------------------------------------------------------------------------


class WireProxy:
    """A reverse proxy on 127.0.0.1 (free port) in front of `upstream_url`, on its own loop thread.

    Use as a context manager (or `start()` / `stop()`); stopping closes every socket, hung ones
    included, and joins the thread. `add`, `clear`, `hits`, `requests` and `resets` are safe to
    call from any thread.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        upstream_timeout_s: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None or parts.path not in ("", "/"):
            raise ValueError(f"upstream must be http://host[:port], not {upstream_url!r}")
        self.upstream_url = upstream_url
        self._upstream = (parts.hostname, parts.port or 80)
        self._upstream_timeout_s = upstream_timeout_s
        self._tls = tls
        self._lock = threading.Lock()
        self._rules: list[_Armed] = []
        self._requests: list[SeenRequest] = []
        self._resets: list[ResetEvent] = []
        self._loop: LoopThread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._accepted = itertools.count(1)
        self.url = ""

    # public API

    def start(self) -> WireProxy:
        self._loop = LoopThread()
        self._server = self._loop.run(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_HEAD_LIMIT, ssl=self._tls),
            timeout=10,
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        try:
            loop.run(self._shutdown(), timeout=_STOP_TIMEOUT_S)
        finally:
            loop.close()

    def __enter__(self) -> WireProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add(self, rule: Rule) -> Rule:
        """Append a rule (tried after the ones already there); returns it, for `hits`."""
        with self._lock:
            self._rules.append(_Armed(rule))
        return rule

    def remove(self, rule: Rule) -> int:
        """Drop this very rule object (identity); returns how many requests it applied to."""
        with self._lock:
            hits = sum(armed.hits for armed in self._rules if armed.rule is rule)
            self._rules[:] = [armed for armed in self._rules if armed.rule is not rule]
        return hits

    def clear(self) -> None:
        """Drop every rule and forget the requests and resets seen so far."""
        with self._lock:
            self._rules.clear()
            self._requests.clear()
            self._resets.clear()

    def hits(self, rule: Rule) -> int:
        """How many requests this very rule object (identity, not equality) has applied to."""
        with self._lock:
            return sum(armed.hits for armed in self._rules if armed.rule is rule)

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def resets(self) -> list[ResetEvent]:
        with self._lock:
            return list(self._resets)

    # on the loop thread

    def _take(self, method: str, path: str, headers: Headers, reused: bool = False) -> Rule | None:
        with self._lock:
            for armed in self._rules:
                rule = armed.rule
                spent = rule.times is not None and armed.hits >= rule.times
                if isinstance(rule, ResetReused) and not reused:
                    continue
                if not spent and rule.matches(method, path, headers):
                    armed.hits += 1
                    return rule
        return None

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        connection = next(self._accepted)
        reset = False
        served = 0
        try:
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    return
                rule = self._take(request.method, request.path, request.headers, served > 0)
                served += 1
                seen = SeenRequest(*request.fields(), time.monotonic(), rule, connection)
                with self._lock:
                    self._requests.append(seen)
                if isinstance(rule, Garbage):
                    writer.write(rule.data)
                    await writer.drain()
                    return
                if isinstance(rule, Reset | ResetReused):
                    # Recorded first, so it is there and earlier by the time any client sees
                    # the RST: `now - at` over-states how long the client took, never under.
                    with self._lock:
                        self._resets.append(ResetEvent(seen.method, seen.path, time.monotonic()))
                    _reset(writer)
                    reset = True
                    return
                if isinstance(rule, Hang):
                    await asyncio.get_running_loop().create_future()  # until cancelled by stop
                if isinstance(rule, Delay):
                    await asyncio.sleep(rule.seconds)
                answer = await self._answer(request, rule)
                if isinstance(rule, Trickle):
                    await _trickle(writer, answer, rule)
                else:
                    writer.write(answer)
                    await writer.drain()
                if not request.keep_alive or isinstance(rule, WireRule):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-exchange
        except asyncio.CancelledError:
            # Only stop() cancels; ending quietly keeps asyncio's stream callback from logging
            # the cancellation of a handler task as an error.
            pass
        except BadRequest:
            writer.write(_encode(400, "Bad Request", (), b"", keep_alive=False, head=False))
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            if task.cancelling():
                writer.transport.abort()  # stopping: no goodbyes to a hung client
            elif not reset:
                writer.close()

    async def _answer(self, request: _Request, rule: Rule | None) -> bytes:
        if isinstance(rule, CannedRule):
            canned = rule.answer(request.target)
            reason = _reason(canned.status)
            return _encode(
                canned.status,
                reason,
                canned.headers,
                canned.body,
                keep_alive=request.keep_alive,
                head=request.method == "HEAD",
            )
        rewrite = rule if isinstance(rule, RewriteRule | WireRule) else None
        try:
            upstream = await asyncio.wait_for(
                self._forward(request, fresh_body=rewrite is not None), self._upstream_timeout_s
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError, BadRequest) as exc:
            body = f"wire proxy: upstream {self.upstream_url} failed: {exc!r}".encode()
            failed: Headers = (
                ("content-type", "text/plain; charset=utf-8"),
                ("x-wire-proxy", "error"),
            )
            return _encode(502, "Bad Gateway", failed, body, keep_alive=False, head=False)
        body, headers = upstream.body, upstream.headers
        if isinstance(rewrite, WireRule):
            return rewrite.wire(upstream.status, upstream.reason, headers, body)
        if rewrite is not None:
            content_type = _header(upstream.headers, "content-type") or ""
            body = rewrite.rewrite(content_type, body)
            headers = rewrite.rewrite_headers(headers)
        return _encode(
            upstream.status,
            upstream.reason,
            headers,
            body,
            keep_alive=request.keep_alive,
            head=request.method == "HEAD",
        )

    async def _forward(self, request: _Request, *, fresh_body: bool) -> _Upstream:
        reader, writer = await asyncio.open_connection(*self._upstream, limit=_HEAD_LIMIT)
        try:
            drop = HOP_BY_HOP | (_FRESH_BODY_DROPS if fresh_body else frozenset())
            headers = [(k, v) for k, v in request.headers if k.lower() not in drop]
            if fresh_body:
                headers.append(("accept-encoding", "identity"))
            if request.body or request.framed:
                headers.append(("content-length", str(len(request.body))))
            headers.append(("connection", "close"))
            head = f"{request.method} {request.target} HTTP/1.1\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
            writer.write(head.encode("latin-1") + request.body)
            await writer.drain()
            while True:
                status, reason, response_headers = await _read_response_head(reader)
                if status >= 200 or status == 101:
                    break  # 1xx interim answers (100 Continue) are not the response
            no_body = request.method == "HEAD" or status in (204, 304) or status < 200
            body = b"" if no_body else await _read_body(reader, response_headers, until_eof=True)
            return _Upstream(status, reason, response_headers, body)
        finally:
            writer.close()


# --- HTTP/1.1 on the wire ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: str
    path: str
    headers: Headers
    body: bytes
    framed: bool  # the client sent Content-Length or chunked framing (even for an empty body)
    keep_alive: bool

    def fields(self) -> tuple[str, str, str, Headers, bytes]:
        return self.method, self.target, self.path, self.headers, self.body


def _header(headers: Headers, name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _parse_headers(lines: list[bytes]) -> Headers:
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line!r}")
        headers.append((name, value.strip()))
    return tuple(headers)


async def _read_head(reader: asyncio.StreamReader) -> list[bytes] | None:
    """The start line and header lines, or None when the peer closed before sending anything."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise
    lines = raw.lstrip(b"\r\n").split(b"\r\n")[:-2]
    if not lines:
        raise BadRequest("empty head")
    return lines


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _Request | None:
    lines = await _read_head(reader)
    if lines is None:
        return None
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0]!r}")
    method, target, version = parts
    headers = _parse_headers(lines[1:])
    path = urlsplit(target).path or "/"
    tokens = {t.strip().lower() for t in (_header_all(headers, "connection"))}
    keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    if (_header(headers, "expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    framed = _header(headers, "content-length") is not None or _is_chunked(headers)
    body = await _read_body(reader, headers, until_eof=False)
    return _Request(method, target, path, headers, body, framed, keep_alive)


def _header_all(headers: Headers, name: str) -> list[str]:
    return [t for k, v in headers if k.lower() == name for t in v.split(",")]


def _is_chunked(headers: Headers) -> bool:
    codings = [t.strip().lower() for t in _header_all(headers, "transfer-encoding")]
    return bool(codings) and codings[-1] == "chunked"


async def _read_response_head(reader: asyncio.StreamReader) -> tuple[int, str, Headers]:
    lines = await _read_head(reader)
    if lines is None:
        raise BadRequest("upstream closed without answering")
    version, _, rest = lines[0].decode("latin-1").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise BadRequest(f"bad status line {lines[0]!r}")
    return int(code), reason, _parse_headers(lines[1:])


async def _read_body(reader: asyncio.StreamReader, headers: Headers, *, until_eof: bool) -> bytes:
    """A message body by its framing; without any, a response runs to EOF, a request is empty."""
    if _is_chunked(headers):
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError as exc:
                raise BadRequest(f"bad chunk size {size_line!r}") from exc
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers: dropped, like the other hop-by-hop framing
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = _header(headers, "content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise BadRequest(f"bad content-length {length!r}")
        return await reader.readexactly(int(length))
    return await reader.read() if until_eof else b""


def _encode(
    status: int, reason: str, headers: Headers, body: bytes, *, keep_alive: bool, head: bool
) -> bytes:
    """A response with this hop's framing: Content-Length from the body (HEAD: the given one,
    which is what a GET would have had)."""
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
    if not (status < 200 or status in (204, 304)):
        given = _header(headers, "content-length") if head else None
        kept.append(("content-length", given or str(len(body))))
    if not keep_alive:
        kept.append(("connection", "close"))
    lines = [f"HTTP/1.1 {status} {reason}".rstrip() + "\r\n"]
    lines += [f"{k}: {v}\r\n" for k, v in kept]
    return "".join([*lines, "\r\n"]).encode("latin-1") + (b"" if head else body)


async def _trickle(writer: asyncio.StreamWriter, answer: bytes, rule: Trickle) -> None:
    """The head at once, then the body `rule.chunk` bytes every `rule.interval` seconds."""
    end = answer.index(b"\r\n\r\n") + 4
    writer.write(answer[:end])
    await writer.drain()
    for at in range(end, len(answer), max(1, rule.chunk)):
        await asyncio.sleep(rule.interval)
        writer.write(answer[at : at + max(1, rule.chunk)])
        await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel drops the connection with an RST, not a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
