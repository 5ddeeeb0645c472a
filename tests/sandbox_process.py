"""Starting a real `prober sandbox` process on a free loopback port, and stopping it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

START_DEADLINE_S = 30.0


def wait_for(
    condition: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition"
) -> Any:
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class SandboxProcess:
    url: str
    proc: subprocess.Popen[bytes]
    db: Path
    request_log: Path
    output: Path

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def logged_requests(self) -> list[dict[str, Any]]:
        lines = self.request_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def start_sandbox(
    workdir: Path, *extra: str, db: Path | None = None, env: dict[str, str] | None = None
) -> SandboxProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    db = db or workdir / "sandbox.db"
    request_log = workdir / "requests.jsonl"
    output = workdir / "sandbox.out"
    cmd = [
        sys.executable,
        "-m",
        "prober",
        "sandbox",
        "--port",
        "0",
        "--db",
        str(db),
        "--request-log",
        str(request_log),
        *extra,
    ]
    with output.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def banner() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"sandbox exited with {proc.returncode}: {output.read_text()}")
        for line in output.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{") and "sandbox.listening" in line:
                return str(json.loads(line)["url"])
        return None

    url = wait_for(banner, START_DEADLINE_S, what="the sandbox banner")
    return SandboxProcess(url, proc, db, request_log, output)


def login(url: str, username: str = "prober", password: str = "prober") -> str:
    answer = httpx.post(f"{url}/api/auth/login", json={"username": username, "password": password})
    answer.raise_for_status()
    return str(answer.json()["token"])
