"""The running platform's shared parts, reachable from every route as `platform(request)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from starlette.requests import Request

from prober.sandbox.faults import FaultRegistry
from prober.sandbox.requestlog import RequestLog
from prober.sandbox.settings import SandboxSettings
from prober.sandbox.store import PlatformStore

if TYPE_CHECKING:
    from prober.sandbox.client import ServiceClient
    from prober.sandbox.runs import RunEngine


@dataclass
class Platform:
    settings: SandboxSettings
    store: PlatformStore
    faults: FaultRegistry | None
    requests: RequestLog
    internal_token: str
    # user -> times of failed logins (for settings.lockout)
    login_failures: dict[str, list[float]] = field(default_factory=dict)
    # Built in the app's lifespan, once the event loop runs.
    client: ServiceClient | None = None
    engine: RunEngine | None = None


def platform(request: Request) -> Platform:
    return cast(Platform, request.app.state.platform)
