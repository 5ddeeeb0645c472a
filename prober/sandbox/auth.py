"""workflow-service's login and the bearer-token check every `/api` route makes."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from prober.sandbox.client import CALLER_HEADER, INTERNAL_TOKEN_HEADER
from prober.sandbox.errors import ApiError, json_body, validated
from prober.sandbox.models import Login
from prober.sandbox.platform import platform
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
    if expected is None or not hmac.compare_digest(expected, body.password):
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
