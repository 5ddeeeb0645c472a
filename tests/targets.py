"""Targets pointing at a sandbox, with the route map of the repository's prober.yaml."""

from __future__ import annotations

from prober.target import AuthSpec, Secret, ServiceMap, Target

ROUTES = {
    "workflow-service": ["/api/workflows", "/api/workflows/*", "/api/auth/*"],
    "orchestration-engine": ["/api/runs/*", "/api/workflows/*/runs"],
    "optimizer-service": ["/api/optimize"],
    "frontend-monolith": ["/", "/login", "/workflows/*", "/static/*"],
}


def sandbox_target(url: str, password: str = "prober", **overrides: object) -> Target:
    fields: dict[str, object] = {
        "name": "sandbox",
        "base_url": url,
        "username": "prober",
        "password": Secret(password),
        "auth": AuthSpec(kind="login"),
        "services": ServiceMap.from_mapping(ROUTES),
        "request_timeout_s": 5.0,
    }
    fields.update(overrides)
    return Target(**fields)  # type: ignore[arg-type]
