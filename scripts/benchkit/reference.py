"""The reference platform under measurement: `prober sandbox --faults` from a given source tree."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD_VARIABLE = "SANDBOX_PASSWORD"
START_DEADLINE_S = 30.0


@dataclass(frozen=True)
class Platform:
    url: str
    password: str
    pid: int

    def fault(self, spec: dict[str, object] | None) -> None:
        """Inject one fault (None clears them all)."""
        if spec is None:
            httpx.delete(f"{self.url}/_sandbox/faults").raise_for_status()
        else:
            httpx.post(f"{self.url}/_sandbox/faults", json=spec).raise_for_status()


def source_env(src: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes `python -m prober` import the tree at `src`."""
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


@contextlib.contextmanager
def platform(src: Path, workdir: Path) -> Iterator[Platform]:
    workdir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    log = workdir / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prober",
                "sandbox",
                "--port",
                "0",
                "--faults",
                "--db",
                str(workdir / "sandbox.db"),
                "--request-log",
                "off",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=src,
            env=source_env(src, {PASSWORD_VARIABLE: password}),
        )
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        url = None
        while url is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {log}")
            for line in log.read_text(errors="replace").splitlines():
                if "sandbox.listening" in line:
                    url = str(json.loads(line)["url"])
            time.sleep(0.05)
        yield Platform(url, password, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
