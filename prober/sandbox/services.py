"""The platform's logical services and which one owns each route.

The route table here is the platform's truth; `prober.yaml`'s route map for attribution mirrors it.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Service(StrEnum):
    FRONTEND = "frontend-monolith"
    WORKFLOW = "workflow-service"
    ORCHESTRATION = "orchestration-engine"
    OPTIMIZER = "optimizer-service"


# The load balancer in front of the services. It answers only when a service cannot be reached
# (fault mode `unavailable`), naming that service as the upstream, like a real 502/503 from an LB.
EDGE = "edge-gateway"
# Who answers the fault-injection control plane (/_sandbox/*).
CONTROL = "sandbox-control"

# Most specific first: /api/workflows/{id}/runs belongs to the engine, not the workflow service.
_ROUTES: tuple[tuple[re.Pattern[str], Service], ...] = (
    (re.compile(r"^/api/workflows/[^/]+/runs/?$"), Service.ORCHESTRATION),
    (re.compile(r"^/api/runs(/.*)?$"), Service.ORCHESTRATION),
    (re.compile(r"^/api/optimize/?$"), Service.OPTIMIZER),
    (re.compile(r"^/api/(workflows|auth)(/.*)?$"), Service.WORKFLOW),
)


def service_for_path(path: str) -> Service:
    """The service that owns `path`; everything not under a backend's prefix is the frontend."""
    for pattern, service in _ROUTES:
        if pattern.match(path):
            return service
    return Service.FRONTEND


# Silent-failure variants each service supports; the first is the default.
SILENT_VARIANTS: dict[Service, tuple[str, ...]] = {
    Service.FRONTEND: ("blank_canvas",),
    Service.WORKFLOW: ("empty_nodes", "lost_write"),
    Service.ORCHESTRATION: ("stuck", "empty_output"),
    Service.OPTIMIZER: ("empty_plan",),
}


def answering_service(path: str) -> str:
    """Who answers `path`: the control plane for /_sandbox, else the route's owner."""
    return CONTROL if path.startswith("/_sandbox") else service_for_path(path)
