"""The store, the log line, the fan-out, and `prober dogstatsd-listen` - with real files,
real sockets and real processes."""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from prober import metrics as m
from prober.redact import Redactor
from prober.result import ErrorType, Failure, JourneyResult, Trigger
from prober.sinks import FanOut
from prober.sinks.dogstatsd import Destination, DogStatsdSink
from prober.sinks.log import LogSink
from prober.sinks.store import StoreSink
from prober.store import SCHEMA_VERSION, ResultStore, StoreError
from tests.results import TRACE, attempt, result
from tests.sandbox_process import SandboxProcess, wait_for

ORIGIN = m.Origin(env="dev", location="local")


def test_store_keeps_runs_attempts_and_steps_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    store = ResultStore(path)
    store.save(result(attempt(1, ErrorType.SERVER_ERROR), attempt(2)), "dev", "local")
    store.save(result(attempt(error_type=ErrorType.TIMEOUT), run_id="r2"), "dev", "local")
    store.close()

    again = ResultStore(path)
    runs = again.runs(journey="workflow_canvas_load")
    # Oldest first by when they finished: r2's one attempt ended before abc123's retry did.
    assert [(r.run_id, r.status, r.first_attempt_status, r.attempts) for r in runs] == [
        ("r2", "failure", "failure", 1),
        ("abc123", "success", "failure", 2),
    ]
    assert runs[0].error_type == "timeout"
    assert runs[0].failed_service == "workflow-service"
    assert runs[1].trace_id == TRACE
    full = again.result("r2")
    assert full is not None
    assert full["failed_step"] == "open canvas"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        steps = conn.execute("SELECT name, status FROM steps WHERE run_id='r2'").fetchall()
    assert steps == [("Sign In", "passed"), ("open canvas", "failed"), ("run", "skipped")]
    again.save(result(attempt(1), journey="workflow_run_api", run_id="r3"), "dev", "local")
    latest = again.latest()
    assert {key: run.run_id for key, run in latest.items()} == {
        ("workflow_canvas_load", "sandbox"): "abc123",
        ("workflow_run_api", "sandbox"): "r3",
    }
    assert [r.run_id for r in again.runs(trigger="manual")] == []


# Six processes opening one new store at the same moment (`serve` and incident `prober run`s on
# a host): each waits at a barrier, then opens it.
_OPEN_TOGETHER = """
import sys, time
from pathlib import Path
from prober.store import ResultStore, StoreError
barrier = Path(sys.argv[2])
while not barrier.exists():
    time.sleep(0.005)
try:
    ResultStore(Path(sys.argv[1])).close()
except StoreError as exc:
    print(exc)
    sys.exit(1)
"""


def test_processes_creating_one_store_at_once_all_get_it(tmp_path: Path) -> None:
    for trial in range(3):
        db, go = tmp_path / f"results-{trial}.db", tmp_path / f"go-{trial}"
        children = [
            subprocess.Popen([sys.executable, "-c", _OPEN_TOGETHER, str(db), str(go)],
                             stdout=subprocess.PIPE, text=True)
            for _ in range(6)
        ]  # fmt: skip
        go.touch()
        said = [child.communicate(timeout=60)[0] for child in children]
        assert [child.returncode for child in children] == [0] * 6, said
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_retention_keeps_recent_runs(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.db", clock=lambda: 1_800_000_100.0)
    store.save(result(attempt(1), run_id="recent"), "dev", "local")
    assert store.prune(max_age_s=3600) == 0
    assert store.prune(max_age_s=10) == 1
    with sqlite3.connect(tmp_path / "r.db") as conn:
        assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM steps").fetchone()[0] == 0


def test_a_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"definitely not sqlite" * 50)
    with pytest.raises(StoreError) as raised:
        ResultStore(path)
    assert str(path) in str(raised.value)
    assert "move the file aside" in str(raised.value)


def test_a_store_from_a_newer_prober_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer cuj-prober"):
        ResultStore(path)


class _Agent:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2)
        self.destination = Destination(host="127.0.0.1", port=self.sock.getsockname()[1])


def test_a_locked_store_is_reported_and_metrics_still_go_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "locked.db"
    store = ResultStore(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    agent = _Agent()
    fan = FanOut([StoreSink(store, ORIGIN), DogStatsdSink(agent.destination, ORIGIN)])
    failed = fan.emit(result())
    assert failed == ["store"]
    assert agent.sock.recv(65536).startswith(m.RUNS.encode())
    message = next(r.getMessage() for r in caplog.records if "sink store" in r.getMessage())
    assert str(path) in message and "locked" in message
    holder.execute("ROLLBACK")
    holder.close()
    assert fan.emit(result(run_id="later")) == []
    assert [r.run_id for r in store.runs()] == ["later"]


def test_fan_out_stores_before_it_sends(tmp_path: Path) -> None:
    order: list[str] = []

    class Recording:
        def __init__(self, name: str) -> None:
            self.name = name

        def emit(self, result: JourneyResult) -> None:
            order.append(self.name)

        def close(self) -> None:
            order.append(f"close {self.name}")

    class Broken(Recording):
        def emit(self, result: JourneyResult) -> None:
            raise RuntimeError("disk full")

    fan = FanOut([Recording("store"), Broken("log"), Recording("dogstatsd")])
    assert fan.emit(result()) == ["log"]
    fan.close()
    assert order == ["store", "dogstatsd", "close store", "close log", "close dogstatsd"]


def test_log_line_has_the_run_and_trace_and_no_secret() -> None:
    stream = io.StringIO()
    sink = LogSink(ORIGIN, stream, Redactor(["token-value-that-leaked"]))
    leaked = Failure(
        ErrorType.DEPENDENCY_ERROR, "optimizer-service", "Bearer token-value-that-leaked refused"
    )
    failing = replace(attempt(error_type=ErrorType.DEPENDENCY_ERROR), failure=leaked)
    sink.emit(result(failing, trigger=Trigger.MANUAL))
    line = json.loads(stream.getvalue())
    assert line["journey"] == "workflow_canvas_load"
    assert (line["status"], line["error_type"], line["failed_service"]) == (
        "failure", "dependency_error", "optimizer-service",
    )  # fmt: skip
    assert line["trace_id"] == TRACE
    assert line["span_id"] == "00f067aa0ba902b7"
    assert line["run_id"] == "abc123"
    assert line["trigger"] == "manual"
    assert "token-value-that-leaked" not in stream.getvalue()
    assert stream.getvalue().count("\n") == 1


KILLED_RUN = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from prober.loader import load_packs
    from prober.metrics import Origin
    from prober.runner import Runner
    from prober.sinks import FanOut
    from prober.sinks.store import StoreSink
    from prober.store import ResultStore
    from tests.targets import sandbox_target

    journey = load_packs(["journeys/workflows"], base=Path({root!r})).by_name()["workflow_crud_api"]
    result = asyncio.run(Runner().run(journey, sandbox_target({url!r})))
    FanOut([StoreSink(ResultStore(Path({db!r})), Origin("dev", "local"))]).emit(result)
    print(result.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_run_survives_the_process_being_killed_right_after(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    root = str(Path(__file__).resolve().parent.parent)
    db = tmp_path / "killed.db"
    script = KILLED_RUN.format(root=root, url=sandbox.url, db=str(db))
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    run_id = done.stdout.strip()
    stored = ResultStore(db).runs()
    assert [(r.run_id, r.status) for r in stored] == [(run_id, "success")]


def test_dogstatsd_listen_prints_what_an_agent_would_get(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "listen.out"
    with out.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prober", "dogstatsd-listen", "--port", str(port)],
            stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        wait_for(lambda: "listening on" in out.read_text(), 20, what="the listener")
        sink = DogStatsdSink(Destination(host="127.0.0.1", port=port), ORIGIN)
        sink.emit(result(attempt(error_type=ErrorType.TIMEOUT)))
        sink.close()

        def printed() -> str | None:
            text = out.read_text()
            return text if "service_check" in text and "event" in text else None

        text = wait_for(printed, 10, what="decoded points")
    finally:
        proc.terminate()
        proc.wait(10)
    assert "count        cuj.journey.runs = 1.0" in text
    assert "error_type:timeout" in text
    assert "distribution cuj.journey.duration = 1.5" in text
    assert "CUJ workflow_canvas_load is failing on sandbox" in text


def test_dogstatsd_listen_on_a_taken_port_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        done = subprocess.run(
            [sys.executable, "-m", "prober", "dogstatsd-listen", "--port",
             str(taken.getsockname()[1])],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert "cannot listen on" in done.stderr
    assert "Traceback" not in done.stderr
