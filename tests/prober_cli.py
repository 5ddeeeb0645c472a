"""Running the `prober` command as a child process against a sandbox, as users and CI do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "prober.yaml"
SANDBOX_DEFAULT_PASSWORD = "prober"  # what `prober sandbox` uses when SANDBOX_PASSWORD is unset
KUBERNETES = {  # what a kubelet injects for a Service named `prober` in the namespace
    "PROBER_PORT": "tcp://10.0.0.1:8080",
    "PROBER_SERVICE_HOST": "10.0.0.1",
    "PROBER_SERVICE_PORT": "8080",
    "PROBER_SERVICE_PORT_HTTP": "8080",
    "PROBER_PORT_8080_TCP": "tcp://10.0.0.1:8080",
    "PROBER_PORT_8080_TCP_ADDR": "10.0.0.1",
    "PROBER_PORT_8080_TCP_PORT": "8080",
    "PROBER_PORT_8080_TCP_PROTO": "tcp",
}


def prober_env(sandbox_url: str, workdir: Path, statsd_url: str, **extra: str) -> dict[str, str]:
    """The repository's prober.yaml pointed at a test sandbox through PROBER_ overrides, with
    the password the sandbox was started with (its own default unless the caller set one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROBER_", "DD_", "GITHUB_"))}
    env.update(
        {
            "SANDBOX_PASSWORD": os.environ.get("SANDBOX_PASSWORD") or SANDBOX_DEFAULT_PASSWORD,
            "PROBER_TARGETS__SANDBOX__BASE_URL": sandbox_url,
            "PROBER_STORE__PATH": str(workdir / "results.db"),
            "PROBER_ARTIFACTS__PATH": str(workdir / "artifacts"),
            "PROBER_DATADOG__STATSD_URL": statsd_url,
        }
    )
    env.update(extra)
    return env


def prober(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """`prober ARGS` as a child process; `env` None inherits this one's environment."""
    return subprocess.run(
        [sys.executable, "-m", "prober", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
