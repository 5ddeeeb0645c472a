"""optimizer-service: plans the execution order of a workflow's nodes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from prober.sandbox.auth import require_user
from prober.sandbox.errors import json_body, validated
from prober.sandbox.middleware import silent_variants
from prober.sandbox.models import OptimizeRequest, topological_order
from prober.sandbox.services import Service

SERVICE = Service.OPTIMIZER


async def optimize(request: Request) -> JSONResponse:
    require_user(request, SERVICE)
    graph = validated(OptimizeRequest, await json_body(request, SERVICE), SERVICE)
    plan = topological_order(
        [n.id for n in graph.nodes], [(e.source, e.target) for e in graph.edges]
    )
    if plan is None or "empty_plan" in silent_variants(request.scope):
        plan = []
    return JSONResponse({"plan": plan, "cost": len(plan)})
