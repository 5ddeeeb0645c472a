"""Targets pointing at a sandbox: the repository's own (`repository_target`, for verdicts of the
bundled packs: what every user runs) or a hand-built one with the same route map
(`sandbox_target`, for the runtime's own tests and their small journeys)."""

from __future__ import annotations

from pathlib import Path

from prober.target import AuthSpec, Secret, ServiceMap, Target

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_DEFAULT_PASSWORD = "prober"  # what `prober sandbox` uses when SANDBOX_PASSWORD is unset


def repository_target(url: str, password: str = SANDBOX_DEFAULT_PASSWORD) -> Target:
    """The repository's prober.yaml `sandbox` target, everything as shipped (route map,
    request timeout, auth, the packs' settings) but its base_url, loaded as `prober` loads it."""
    from prober.commands.setup import prepare

    environ = {"SANDBOX_PASSWORD": password, "PROBER_TARGETS__SANDBOX__BASE_URL": url}
    loaded, _ = prepare(ROOT / "prober.yaml", environ)
    return loaded.targets()["sandbox"]


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
