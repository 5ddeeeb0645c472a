"""orchestration-engine: starts workflow runs and carries them `queued -> running -> done`.

Every run loads its workflow from workflow-service and asks optimizer-service for a plan, both
through the platform's own front door, so a fault on either surfaces the way it would in a real
deployment: as a 502/503/504 naming the upstream, or as a failed run whose error names it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from prober.sandbox.auth import require_user
from prober.sandbox.client import ServiceClient, UpstreamFailure
from prober.sandbox.errors import ApiError, json_body
from prober.sandbox.middleware import silent_variants
from prober.sandbox.platform import Platform, platform
from prober.sandbox.requestlog import TRACE_HEADERS
from prober.sandbox.services import Service
from prober.sandbox.settings import SandboxSettings
from prober.sandbox.store import PlatformStore

SERVICE = Service.ORCHESTRATION
log = logging.getLogger(__name__)


class RunEngine:
    def __init__(self, store: PlatformStore, client: ServiceClient, settings: SandboxSettings):
        self._store = store
        self._client = client
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self,
        workflow: dict[str, Any],
        trace: dict[str, str],
        *,
        stuck: bool = False,
        empty_output: bool = False,
    ) -> dict[str, Any]:
        run = self._store.create_run(workflow["id"])
        if stuck:
            return run  # silent fault: accepted, never picked up
        task = asyncio.create_task(self._execute(run["run_id"], workflow, trace, empty_output))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _execute(
        self, run_id: str, workflow: dict[str, Any], trace: dict[str, str], empty_output: bool
    ) -> None:
        try:
            await asyncio.sleep(self._settings.run_queue_delay_s)
            self._store.mark_run_running(run_id)
            try:
                answer = await self._client.request(
                    SERVICE,
                    Service.OPTIMIZER,
                    "POST",
                    "/api/optimize",
                    json={"nodes": workflow["nodes"], "edges": workflow["edges"]},
                    headers=trace,
                )
            except UpstreamFailure as failure:
                error = {
                    "service": failure.upstream,
                    "code": failure.kind,
                    "message": failure.message,
                }
                self._store.finish_run(run_id, "failed", error=error)
                return
            plan = [str(node_id) for node_id in answer.get("plan") or []]
            nodes = {node["id"]: node for node in workflow["nodes"]}
            results: dict[str, Any] = {}
            for node_id in plan:
                await asyncio.sleep(self._settings.node_delay_s)
                node = nodes.get(node_id, {})
                results[node_id] = {
                    "type": node.get("type", "task"),
                    "label": node.get("label", node_id),
                    "status": "ok",
                }
            output = (
                None
                if empty_output
                else {
                    "plan": plan,
                    "nodes_executed": len(results),
                    "results": results,
                }
            )
            self._store.finish_run(run_id, "succeeded", output=output)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the engine's own bug must still end the run visibly
            log.exception("run %s crashed", run_id)
            error = {"service": SERVICE, "code": "internal_error", "message": repr(exc)}
            self._store.finish_run(run_id, "failed", error=error)


def _engine(p: Platform) -> RunEngine:
    assert p.engine is not None, "the engine starts in the app's lifespan"
    return p.engine


async def start_run(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    p = platform(request)
    wf_id = request.path_params["wf_id"]
    body = await json_body(request, SERVICE, required=False)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "the body must be a JSON object or empty", SERVICE)
    trace = {h: request.headers[h] for h in TRACE_HEADERS if h in request.headers}
    assert p.client is not None
    try:
        workflow = await p.client.request(
            SERVICE, Service.WORKFLOW, "GET", f"/api/workflows/{wf_id}", headers=trace
        )
    except UpstreamFailure as failure:
        if failure.status == 404 and failure.kind == "error":
            raise ApiError(
                404, "workflow_not_found", f"workflow {wf_id} does not exist", SERVICE
            ) from failure
        raise ApiError(
            failure.gateway_status,
            "upstream_failed",
            f"could not load workflow {wf_id}: {failure.message}",
            SERVICE,
            upstream=failure.upstream,
        ) from failure
    silent = silent_variants(request.scope)
    run = _engine(p).start(
        workflow, trace, stuck="stuck" in silent, empty_output="empty_output" in silent
    )
    return JSONResponse(
        {"run_id": run["run_id"], "status": run["status"], "workflow_id": wf_id},
        status_code=202,
        headers={"location": f"/api/runs/{run['run_id']}"},
    )


async def get_run(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    run_id = request.path_params["run_id"]
    run = platform(request).store.get_run(run_id)
    if run is None:
        raise ApiError(404, "run_not_found", f"run {run_id} does not exist", SERVICE)
    return JSONResponse(run)
