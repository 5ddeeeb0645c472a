"""workflow-service's login and the bearer-token check every `/api` route makes."""

from __future__ import annotations

import hmac
import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from prober.sandbox.client import CALLER_HEADER, INTERNAL_TOKEN_HEADER
from prober.sandbox.errors import ApiError, json_body, validated
from prober.sandbox.models import Login
from prober.sandbox.platform import Platform, platform
from prober.sandbox.services import Service


def require_user(request: Request, service: Service) -> str:
    """The caller's user name (or `service:<caller>` for internal calls); 401 otherwise."""
    p = platform(request)
    internal = request.headers.get(INTERNAL_TOKEN_HEADER)
    if internal is not None and hmac.compare_digest(internal, p.internal_token):
        return f"service:{request.headers.get(CALLER_HEADER, 'unknown')}"
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user = p.store.token_user(token.strip()) if scheme.lower() == "bearer" and token else None
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing, invalid or expired bearer token; get one from POST /api/auth/login",
            service,
        )
    return user


async def login(request: Request) -> JSONResponse:
    p = platform(request)
    body = validated(Login, await json_body(request, Service.WORKFLOW), Service.WORKFLOW)
    expected = p.settings.users.get(body.username)
    if _locked(p, body.username):
        # Like Node-RED: a locked user is refused whatever the password, every attempt counts
        # (so a client that keeps trying stays locked), and the answer is a bare 500.
        raise ApiError(
            500, "too_many_attempts", "Too many login attempts. Try again later.", Service.WORKFLOW
        )
    if expected is None or not hmac.compare_digest(expected, body.password):
        _failed(p, body.username)
        raise ApiError(401, "invalid_credentials", "wrong user name or password", Service.WORKFLOW)
    token = p.store.issue_token(body.username, p.settings.token_ttl_s)
    return JSONResponse(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_in": int(p.settings.token_ttl_s),
            "username": body.username,
        }
    )


def _failed(p: Platform, user: str) -> None:
    p.login_failures.setdefault(user, []).append(time.monotonic())


def _locked(p: Platform, user: str) -> bool:
    if p.settings.lockout is None:
        return False
    limit, window_s = p.settings.lockout
    now = time.monotonic()
    recent = [t for t in p.login_failures.get(user, []) if now - t < window_s]
    p.login_failures[user] = recent
    if len(recent) > limit:
        _failed(p, user)
        return True
    return False
