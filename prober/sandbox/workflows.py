"""workflow-service: the workflow API with optimistic concurrency."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prober.sandbox.auth import require_user
from prober.sandbox.errors import ApiError, json_body, validated
from prober.sandbox.middleware import silent_variants
from prober.sandbox.models import Graph, WorkflowCreate, WorkflowUpdate
from prober.sandbox.platform import platform
from prober.sandbox.services import Service
from prober.sandbox.store import VersionConflict

SERVICE = Service.WORKFLOW


def _summary(wf: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": wf["id"],
        "name": wf["name"],
        "version": wf["version"],
        "node_count": len(wf["nodes"]),
        "edge_count": len(wf["edges"]),
        "created_at": wf["created_at"],
        "updated_at": wf["updated_at"],
    }


def _not_found(wf_id: str) -> ApiError:
    return ApiError(404, "workflow_not_found", f"workflow {wf_id} does not exist", SERVICE)


async def list_workflows(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    prefix = request.query_params.get("name_prefix", "")
    workflows = [
        _summary(wf)
        for wf in platform(request).store.list_workflows()
        if wf["name"].startswith(prefix)
    ]
    return JSONResponse({"workflows": workflows})


async def create_workflow(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    body = validated(WorkflowCreate, await json_body(request, SERVICE), SERVICE)
    wf = platform(request).store.create_workflow(
        body.name,
        [n.model_dump() for n in body.nodes],
        [e.model_dump() for e in body.edges],
    )
    return JSONResponse(wf, status_code=201, headers={"location": f"/api/workflows/{wf['id']}"})


async def get_workflow(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    wf_id = request.path_params["wf_id"]
    wf = platform(request).store.get_workflow(wf_id)
    if wf is None:
        raise _not_found(wf_id)
    if "empty_nodes" in silent_variants(request.scope):
        wf = {**wf, "nodes": [], "edges": []}
    return JSONResponse(wf)


async def update_workflow(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    wf_id = request.path_params["wf_id"]
    store = platform(request).store
    body = validated(WorkflowUpdate, await json_body(request, SERVICE), SERVICE)
    current = store.get_workflow(wf_id)
    if current is None:
        raise _not_found(wf_id)
    # Changed parts are checked together with the unchanged ones: an edge must still point at
    # an existing node after a save that only sends nodes.
    graph = validated(
        Graph,
        {
            "nodes": current["nodes"] if body.nodes is None else body.model_dump()["nodes"],
            "edges": current["edges"] if body.edges is None else body.model_dump()["edges"],
        },
        SERVICE,
    )
    name = body.name or current["name"]
    nodes = [n.model_dump() for n in graph.nodes]
    edges = [e.model_dump() for e in graph.edges]
    if "lost_write" in silent_variants(request.scope):
        if body.version != current["version"]:
            raise _conflict(wf_id, current["version"], body.version)
        # Answer as if saved, store nothing: the silent failure a fresh GET exposes.
        lost = {**current, "name": name, "nodes": nodes, "edges": edges}
        lost["version"] = current["version"] + 1
        return JSONResponse(lost)
    try:
        wf = store.update_workflow(wf_id, body.version, name, nodes, edges)
    except VersionConflict as conflict:
        raise _conflict(wf_id, conflict.current_version, body.version) from conflict
    if wf is None:
        raise _not_found(wf_id)
    return JSONResponse(wf)


def _conflict(wf_id: str, current: int, sent: int) -> ApiError:
    return ApiError(
        409,
        "version_conflict",
        f"workflow {wf_id} is at version {current}, the save was based on version {sent}; "
        "reload it and apply the change again",
        SERVICE,
        extra={"current_version": current},
    )


async def delete_workflow(request: Request) -> Response:
    require_user(request, SERVICE)
    wf_id = request.path_params["wf_id"]
    if not platform(request).store.delete_workflow(wf_id):
        raise _not_found(wf_id)
    return Response(status_code=204)
