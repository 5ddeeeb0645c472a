"""`prober demo`: the reference platform and every journey against it, on one machine.

Starts `prober sandbox` on a free loopback port (its data in .prober/demo/), points the config's
`sandbox` target at it, runs every journey once with the live table, and stops the platform.
With --serve it then keeps probing (like `prober serve`) until Ctrl-C.

The demo owns the platform it starts, so it also owns its password: SANDBOX_PASSWORD when set,
else a fresh random one, handed to the sandbox and to the config through the environment (the
config holds no credential, as in production).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

START_DEADLINE_S = 30.0
DEMO_TARGET = "sandbox"
PASSWORD_VARIABLE = "SANDBOX_PASSWORD"


class DemoError(Exception):
    pass


def password(environ: Mapping[str, str]) -> str:
    """The demo platform's password: SANDBOX_PASSWORD when set, else a fresh random one."""
    return environ.get(PASSWORD_VARIABLE) or secrets.token_urlsafe(12)


@contextmanager
def sandbox(workdir: Path, password: str) -> Iterator[str]:
    """A `prober sandbox` child process; yields its URL and stops it on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prober", "sandbox", "--port", "0",
             "--db", str(workdir / "sandbox.db"), "--request-log", str(workdir / "requests.jsonl")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, PASSWORD_VARIABLE: password},
        )  # fmt: skip
    try:
        yield _wait_for_banner(proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_banner(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the sandbox exited with {proc.returncode}; see {log}")
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{") and "sandbox.listening" in line:
                return str(json.loads(line)["url"])
        time.sleep(0.05)
    raise DemoError(f"the sandbox did not start within {START_DEADLINE_S:g}s; see {log}")


def environment(url: str, password: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with the demo target pointed at the sandbox, with its password."""
    return {
        **environ,
        f"PROBER_TARGETS__{DEMO_TARGET.upper()}__BASE_URL": url,
        PASSWORD_VARIABLE: password,
    }
