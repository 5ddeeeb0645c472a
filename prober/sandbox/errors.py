"""The platform's one error shape: `{"error": {"code", "message", "service", "upstream"?}}`."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(Exception):
    """Raised by a handler to answer with the platform's JSON error; never escapes the app."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        service: str,
        *,
        upstream: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.service = service
        self.upstream = upstream
        self.extra = extra or {}

    def response(self) -> JSONResponse:
        return error_response(
            self.status,
            self.code,
            self.message,
            self.service,
            upstream=self.upstream,
            extra=self.extra,
        )


def error_response(
    status: int,
    code: str,
    message: str,
    service: str,
    *,
    upstream: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "service": service}
    if upstream is not None:
        body["upstream"] = upstream
    body.update(extra or {})
    return JSONResponse({"error": body}, status_code=status, headers={"x-service": service})


def describe_validation_error(exc: ValidationError) -> tuple[str, list[dict[str, str]]]:
    """A one-line message naming every bad field, and the per-field list for clients."""
    fields = []
    for err in exc.errors(include_url=False):
        location = ".".join(str(part) for part in err["loc"]) or "(body)"
        fields.append({"field": location, "message": err["msg"]})
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return message, fields


async def json_body(request: Request, service: str, *, required: bool = True) -> Any:
    """The request's JSON body, or a 400 that says the body is not JSON."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(
                400, "malformed_json", "request body is empty; send a JSON object", service
            )
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "malformed_json", f"request body is not valid JSON: {exc}", service
        ) from exc


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, service: str, code: str = "invalid_request") -> M:
    """`data` parsed into `model`, or a 422 naming every field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, fields = describe_validation_error(exc)
        raise ApiError(422, code, message, service, extra={"fields": fields}) from exc
