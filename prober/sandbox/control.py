"""The fault-injection control plane, `/_sandbox/*`; mounted only with `--faults`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prober.sandbox.errors import ApiError, json_body, validated
from prober.sandbox.faults import FaultRegistry, FaultSpec
from prober.sandbox.platform import platform
from prober.sandbox.services import CONTROL


def _faults(request: Request) -> FaultRegistry:
    registry = platform(request).faults
    assert registry is not None, "control routes exist only with faults enabled"
    return registry


async def add_fault(request: Request) -> JSONResponse:
    body = await json_body(request, CONTROL)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_fault", "a fault is a JSON object", CONTROL)
    spec = validated(FaultSpec, body, CONTROL, code="invalid_fault")
    fault = _faults(request).add(spec)
    return JSONResponse(fault.as_json(), status_code=201)


async def list_faults(request: Request) -> JSONResponse:
    return JSONResponse({"faults": [f.as_json() for f in _faults(request).list()]})


async def clear_faults(request: Request) -> JSONResponse:
    return JSONResponse({"cleared": _faults(request).clear()})


async def remove_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not _faults(request).remove(fault_id):
        raise ApiError(404, "fault_not_found", f"no active fault {fault_id}", CONTROL)
    return Response(status_code=204)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError(422, "invalid_request", f"{name} must be a whole number >= 0", CONTROL)
    return value


async def list_requests(request: Request) -> JSONResponse:
    since = _int_param(request, "since", 0)
    limit = _int_param(request, "limit", 1000)
    return JSONResponse({"requests": platform(request).requests.entries(since, limit)})


async def clear_requests(request: Request) -> Response:
    platform(request).requests.clear()
    return Response(status_code=204)


ROUTES = [
    Route("/_sandbox/faults", add_fault, methods=["POST"]),
    Route("/_sandbox/faults", list_faults, methods=["GET"]),
    Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
    Route("/_sandbox/faults/{fault_id}", remove_fault, methods=["DELETE"]),
    Route("/_sandbox/requests", list_requests, methods=["GET"]),
    Route("/_sandbox/requests", clear_requests, methods=["DELETE"]),
]
