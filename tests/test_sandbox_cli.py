"""`prober sandbox` as a process: binding, persistence across restarts, refusing bad input."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import httpx
import pytest

from prober.sandbox.server import ServeError, is_loopback, serve
from prober.sandbox.settings import SandboxSettings
from tests.graphs import TERMINAL, diamond
from tests.prober_cli import prober
from tests.sandbox_process import login, start_sandbox, wait_for


def test_fault_api_does_not_exist_without_faults_flag(tmp_path: Path) -> None:
    process = start_sandbox(tmp_path)
    try:
        for method in ("GET", "POST", "DELETE"):
            answer = httpx.request(method, f"{process.url}/_sandbox/faults", json={})
            assert answer.status_code == 404, (method, answer.text)
        assert httpx.get(f"{process.url}/_sandbox/requests").status_code == 404
        assert httpx.get(f"{process.url}/login").status_code == 200
    finally:
        assert process.stop() == 0


def test_listens_on_loopback_by_default(tmp_path: Path) -> None:
    process = start_sandbox(tmp_path)
    try:
        assert process.url.startswith("http://127.0.0.1:")
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_refuses_a_non_loopback_address_that_was_not_asked_for(tmp_path: Path) -> None:
    settings = SandboxSettings(db_path=tmp_path / "s.db", request_log=None)
    with pytest.raises(ServeError, match=r"pass --host 0\.0\.0\.0"):
        serve(settings, "0.0.0.0", 0, host_explicit=False)
    assert not (tmp_path / "s.db").exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = prober("sandbox", "--port", str(port), "--db", str(tmp_path / "s.db"), timeout=30)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a database" * 100)
    result = prober("sandbox", "--port", "0", "--db", str(db), timeout=30)
    assert result.returncode == 2
    assert str(db) in result.stderr
    assert "move it aside or pass another --db" in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == b"this is not a database" * 100


@pytest.mark.parametrize(
    ("args", "mentions"),
    [(["--port", "70000"], "outside 0-65535"), (["--port", "http"], "not a port"),
     (["--bogus"], "unrecognized arguments")],
)  # fmt: skip
def test_bad_arguments_exit_2_with_usage(args: list[str], mentions: str) -> None:
    result = prober("sandbox", *args, timeout=30)
    assert result.returncode == 2
    assert mentions in result.stderr
    assert "Traceback" not in result.stderr


def test_data_survives_a_restart_and_interrupted_runs_are_failed(tmp_path: Path) -> None:
    db = tmp_path / "persist.db"
    first = start_sandbox(tmp_path / "one", "--faults", db=db)
    try:
        headers = {"authorization": f"Bearer {login(first.url)}"}
        wf = httpx.post(f"{first.url}/api/workflows", json=diamond("kept"), headers=headers).json()
        httpx.post(
            f"{first.url}/_sandbox/faults",
            json={"service": "orchestration-engine", "mode": "silent", "variant": "stuck"},
        )
        run = httpx.post(f"{first.url}/api/workflows/{wf['id']}/runs", headers=headers).json()
    finally:
        assert first.stop() == 0

    second = start_sandbox(tmp_path / "two", db=db)
    try:
        headers = {"authorization": f"Bearer {login(second.url)}"}
        again = httpx.get(f"{second.url}/api/workflows/{wf['id']}", headers=headers)
        assert again.status_code == 200
        assert again.json() == wf
        interrupted = httpx.get(f"{second.url}/api/runs/{run['run_id']}", headers=headers).json()
        assert interrupted["status"] == "failed"
        assert interrupted["error"]["code"] == "interrupted"
        assert interrupted["error"]["service"] == "orchestration-engine"
        # The restarted engine runs new work normally.
        fresh = httpx.post(f"{second.url}/api/workflows/{wf['id']}/runs", headers=headers)

        def finished() -> bool:
            answer = httpx.get(f"{second.url}/api/runs/{fresh.json()['run_id']}", headers=headers)
            return answer.json()["status"] in TERMINAL

        wait_for(finished, 10, what="a run after restart")
    finally:
        assert second.stop() == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sandbox_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_PASSWORD", "s3cret-from-env")
    process = start_sandbox(tmp_path)
    try:
        assert login(process.url, password="s3cret-from-env")
        wrong = httpx.post(
            f"{process.url}/api/auth/login", json={"username": "prober", "password": "prober"}
        )
        assert wrong.status_code == 401
    finally:
        process.stop()
