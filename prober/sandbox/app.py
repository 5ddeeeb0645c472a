"""Composition of the reference platform: routes, error handling, lifespan."""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from prober.sandbox import auth, control, optimizer, pages, runs, workflows
from prober.sandbox.client import ServiceClient
from prober.sandbox.errors import ApiError, error_response
from prober.sandbox.faults import FaultRegistry
from prober.sandbox.middleware import PlatformMiddleware
from prober.sandbox.platform import Platform
from prober.sandbox.requestlog import RequestLog
from prober.sandbox.services import answering_service
from prober.sandbox.settings import SandboxSettings
from prober.sandbox.store import PlatformStore

log = logging.getLogger(__name__)

_ROUTES = [
    Route("/login", pages.login_page, methods=["GET"]),
    Route("/", pages.list_page, methods=["GET"]),
    Route("/workflows/{wf_id}", pages.canvas_page, methods=["GET"]),
    Mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static"),
    Route("/api/auth/login", auth.login, methods=["POST"]),
    Route("/api/workflows", workflows.list_workflows, methods=["GET"]),
    Route("/api/workflows", workflows.create_workflow, methods=["POST"]),
    Route("/api/workflows/{wf_id}", workflows.get_workflow, methods=["GET"]),
    Route("/api/workflows/{wf_id}", workflows.update_workflow, methods=["PUT"]),
    Route("/api/workflows/{wf_id}", workflows.delete_workflow, methods=["DELETE"]),
    Route("/api/workflows/{wf_id}/runs", runs.start_run, methods=["POST"]),
    Route("/api/runs/{run_id}", runs.get_run, methods=["GET"]),
    Route("/api/optimize", optimizer.optimize, methods=["POST"]),
]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {
        404: f"no route {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, answering_service(request.url.path))


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        500, "internal_error", "unexpected error", answering_service(request.url.path)
    )


def create_app(settings: SandboxSettings) -> ASGIApp:
    """The platform as one ASGI app; nothing touches disk or the loop until its lifespan starts."""
    faults = FaultRegistry(rng=random.Random(settings.seed)) if settings.faults_enabled else None
    internal_token = secrets.token_hex(16)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = PlatformStore(settings.db_path)
        interrupted = store.fail_unfinished_runs(
            {
                "service": runs.SERVICE,
                "code": "interrupted",
                "message": "the platform restarted while this run was in progress",
            }
        )
        if interrupted:
            log.warning("marked %d unfinished runs from a previous process as failed", interrupted)
        p = Platform(settings, store, faults, request_log, internal_token)
        p.client = ServiceClient(front, internal_token, settings.upstream_timeout_s)
        p.engine = runs.RunEngine(store, p.client, settings)
        app.state.platform = p
        try:
            yield
        finally:
            await p.engine.shutdown()
            await p.client.aclose()
            store.close()
            request_log.close()

    routes = [*_ROUTES, *(control.ROUTES if faults is not None else [])]
    inner = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _crash},
    )
    request_log = RequestLog(settings.request_log_size, settings.request_log)
    front = PlatformMiddleware(inner, faults, request_log, internal_token)
    return front
