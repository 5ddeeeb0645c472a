"""A platform unlike the reference one, for the kit's tests: its login answers a user record
and sets the session in a cookie, its API takes a key header, it allows 5 logins a minute per
client (then 429 with Retry-After), its items carry the platform's own timestamp format and are
listed two to a page, and its live page listens on a WebSocket.

    with CookiePlatform() as platform:
        platform.url, platform.logins, platform.revoke()
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.sandbox_process import wait_for

PASSWORD = "cookie-platform-password"
API_KEY = "ck-4f9a1c2e7b3d5a60"
KEY_HEADER = "X-Platform-Key"
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"  # the platform's own: day first, no zone (UTC)
PAGE_SIZE = 2


class CookiePlatform:
    def __init__(self, logins_per_minute: int = 5, ws_url: str = "") -> None:
        self.logins_per_minute = logins_per_minute
        self.ws_url = ws_url  # where the live page's socket connects
        self.logins = 0  # accepted
        self.rate_limited = 0
        self.refused = 0  # logins answered 401 (wrong username or password)
        # The login's answer as this platform version words it: `expires_in` raw in its JSON
        # body (b"NaN", b'"3600"'), every login rate-limited with this Retry-After.
        self.expires_in: bytes | None = None
        self.retry_after: str | None = None
        self.unauthorized: list[str] = []  # paths answered 401
        self.echoed: list[dict[str, Any]] = []  # what /echo received: headers, query, body
        self.items: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, str] = {}
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- the platform ------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        now = time.monotonic()
        with self._lock:
            window = self._attempts.setdefault(client, deque())
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.logins_per_minute:
                self.rate_limited += 1
                wait = int(60 - (now - window[0])) + 1
                return JSONResponse({"error": "too many logins"}, 429, {"retry-after": str(wait)})
            window.append(now)
        if self.retry_after is not None:
            self.rate_limited += 1
            return JSONResponse({"error": "slow down"}, 429, {"retry-after": self.retry_after})
        body = await request.json()
        if body.get("username") != "prober" or body.get("password") != PASSWORD:
            with self._lock:
                self.refused += 1
            return JSONResponse({"error": "wrong username or password"}, 401)
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[sid] = "prober"
            self.logins += 1
        answer: Response = JSONResponse({"user": {"name": "prober", "role": "viewer"}})
        if self.expires_in is not None:
            raw = b'{"user": {"name": "prober"}, "expires_in": ' + self.expires_in + b"}"
            answer = Response(raw, media_type="application/json")
        answer.set_cookie("sid", sid, httponly=True, samesite="lax")
        return answer

    def _user(self, request: Request) -> str | None:
        return self._sessions.get(request.cookies.get("sid", ""))

    def _refuse(self, request: Request) -> Response:
        self.unauthorized.append(request.url.path)
        return JSONResponse({"error": "not signed in"}, 401)

    async def me(self, request: Request) -> Response:
        user = self._user(request)
        return self._refuse(request) if user is None else JSONResponse({"name": user})

    async def items_api(self, request: Request) -> Response:
        if request.headers.get(KEY_HEADER) != API_KEY:
            return self._refuse(request)
        item_id = request.path_params.get("item_id")
        if request.method == "POST":
            body = await request.json()
            new_id = secrets.token_hex(4)
            created = datetime.now(UTC).strftime(TIME_FORMAT)
            self.items[new_id] = {**body, "id": new_id, "created": created}
            return JSONResponse({"id": new_id}, 201)
        if item_id is None:
            listed = sorted(self.items.values(), key=lambda i: str(i["id"]))
            page = int(request.query_params.get("page", "0"))
            chunk = listed[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
            more = (page + 1) * PAGE_SIZE < len(listed)
            return JSONResponse({"data": chunk, "next": page + 1 if more else None})
        if item_id not in self.items:
            return JSONResponse({"error": "no such item"}, 404)
        if request.method == "DELETE":
            del self.items[item_id]
            return Response(status_code=204)
        if request.method == "PUT":
            self.items[item_id] = {**self.items[item_id], **(await request.json()), "id": item_id}
        return JSONResponse(self.items[item_id])

    async def home(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return RedirectResponse("/login", 302)
        return HTMLResponse(f'<p data-testid="greeting">Hello {user}</p>')

    async def login_page(self, request: Request) -> Response:
        return HTMLResponse('<form data-testid="login-form"></form>')

    async def live(self, request: Request) -> Response:
        return HTMLResponse(
            '<p data-testid="live">connecting</p><script>'
            f"const s = new WebSocket({self.ws_url!r});"
            "s.onmessage = () => { document.querySelector('[data-testid=live]').textContent ="
            " 'live'; };</script>"
        )

    async def bounce(self, request: Request) -> Response:
        """A redirect to `to` (another origin, say), keeping the rest of the query string, with
        the status `code` (307 by default: the method and body follow)."""
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("to", "code")]
        to = request.query_params["to"]
        query = urlencode(params)
        location = f"{to}?{query}" if query else to
        return RedirectResponse(location, int(request.query_params.get("code", "307")))

    async def echo(self, request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        seen = {"headers": dict(request.headers), "query": request.url.query, "body": body}
        self.echoed.append(seen)
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/session", self.login, methods=["POST"]),
                Route("/api/me", self.me),
                Route("/api/items", self.items_api, methods=["GET", "POST"]),
                Route("/api/items/{item_id}", self.items_api, methods=["GET", "PUT", "DELETE"]),
                Route("/", self.home),
                Route("/login", self.login_page),
                Route("/live", self.live),
                Route("/bounce", self.bounce, methods=["GET", "POST"]),
                Route("/echo", self.echo, methods=["GET", "POST"]),
            ]
        )

    def session_ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def revoke(self) -> None:
        """Every session ends (an expiry, a restart of the platform)."""
        with self._lock:
            self._sessions.clear()

    # --- serving -----------------------------------------------------------------------------

    def __enter__(self) -> CookiePlatform:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning")
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: server.started or None, 10, what="the cookie platform to listen")
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
