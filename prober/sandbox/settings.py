"""Settings of one sandbox process. The environment is read here and nowhere else in the sandbox."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_USER = "prober"
DEFAULT_DB = Path(".prober/sandbox.db")


def default_users() -> dict[str, str]:
    """One user; the password comes from SANDBOX_PASSWORD, as in the repository's prober.yaml."""
    return {DEFAULT_USER: os.environ.get("SANDBOX_PASSWORD") or "prober"}


def default_lockout() -> tuple[int, float] | None:
    """SANDBOX_LOCKOUT=5/600: lock a user after more than 5 failed logins in 600 s, as
    Node-RED does (and keep counting while locked). Unset: no lockout."""
    raw = os.environ.get("SANDBOX_LOCKOUT", "").strip()
    if not raw:
        return None
    count, _, window = raw.partition("/")
    return int(count), float(window or 600)


@dataclass(frozen=True)
class SandboxSettings:
    db_path: Path = DEFAULT_DB
    faults_enabled: bool = False
    users: Mapping[str, str] = field(default_factory=default_users)
    token_ttl_s: float = 3600.0
    lockout: tuple[int, float] | None = field(default_factory=default_lockout)
    # How long a run waits in `queued`, and how long each node takes to execute: long enough that
    # a poller sees the lifecycle, short enough for fast tests.
    run_queue_delay_s: float = 0.2
    node_delay_s: float = 0.05
    # The engine's deadline for its own calls to workflow-service and optimizer-service.
    upstream_timeout_s: float = 5.0
    # Where request log lines go: a file path, "-" for stdout, None for nowhere (the in-memory
    # ring behind GET /_sandbox/requests is always kept when faults are enabled).
    request_log: str | None = "-"
    request_log_size: int = 5000
    seed: int | None = None
