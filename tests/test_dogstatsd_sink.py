"""The DogStatsD metric contract (prober/metrics.py) on a real UDP socket and a real unix socket."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prober import metrics as m
from prober.dogstatsd_wire import Point, decode
from prober.result import ErrorType, Trigger
from prober.sinks.dogstatsd import (
    Destination,
    DogStatsdConfigError,
    DogStatsdSink,
    parse_url,
    resolve_destination,
)
from tests.results import TRACE, attempt, result

ORIGIN = m.Origin(env="staging", location="eu-west-1")
COMMON = {
    "journey": "workflow_canvas_load",
    "cuj": "workflow_canvas_load",
    "env": "staging",
    "service": "frontend-monolith",
    "team": "web-platform",
    "channel": "browser",
    "trigger": "schedule",
    "location": "eu-west-1",
    "target": "sandbox",
}


class Agent:
    """A real datagram socket standing in for the Datadog agent."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(2.0)

    def points(self, settle: float = 0.2) -> list[Point]:
        """Everything received until nothing more arrives for `settle` seconds."""
        received: list[Point] = []
        self.sock.settimeout(2.0)
        while True:
            try:
                received.extend(decode(self.sock.recv(65536)))
            except TimeoutError:
                return received
            self.sock.settimeout(settle)


@pytest.fixture
def udp_agent() -> Iterator[tuple[Agent, Destination]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield Agent(sock), Destination(host="127.0.0.1", port=sock.getsockname()[1])
    sock.close()


@pytest.fixture
def uds_agent(tmp_path: Path) -> Iterator[tuple[Agent, Destination]]:
    path = tmp_path / "dsd.socket"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield Agent(sock), Destination(socket_path=str(path))
    sock.close()


def tags_of(point: Point) -> dict[str, str]:
    mapped = point.tag_map()
    assert all(len(values) == 1 for values in mapped.values()), point.tags
    return {key: values[0] for key, values in mapped.items()}


def named(points: list[Point], name: str) -> list[Point]:
    return [p for p in points if p.name == name]


def test_a_success(udp_agent: tuple[Agent, Destination]) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(attempt(duration=1.5)))
    points = agent.points()
    (runs,) = named(points, m.RUNS)
    assert (runs.kind, runs.value) == ("count", 1.0)
    assert tags_of(runs) == COMMON | {
        "status": "success", "error_type": "none", "failed_step": "none",
        "failed_service": "none", "within_slo": "true",
    }  # fmt: skip
    (duration,) = named(points, m.DURATION)
    assert (duration.kind, duration.value) == ("distribution", 1.5)
    assert tags_of(duration) == COMMON | {"status": "success"}
    steps = named(points, m.STEP_DURATION)
    assert [(tags_of(p)["step"], p.value) for p in steps] == [
        ("sign_in", 0.5), ("open_canvas", 1.0),
    ]  # fmt: skip
    assert tags_of(steps[0]) == COMMON | {
        "step": "sign_in", "step_service": "frontend-monolith", "status": "passed",
    }  # fmt: skip
    (attempts,) = named(points, m.ATTEMPTS)
    assert tags_of(attempts) == COMMON | {"attempt": "1", "status": "success", "error_type": "none"}
    (check,) = named(points, m.CAN_COMPLETE)
    assert (check.kind, check.value) == ("service_check", 0)
    assert tags_of(check) == COMMON
    assert named(points, m.CLEANUP_FAILED) == []
    assert [p.kind for p in points if p.kind == "event"] == []  # no state change yet
    assert len(points) == 6


@pytest.mark.parametrize("error_type", [e for e in ErrorType if e is not ErrorType.PROBE_ERROR])
def test_each_error_type(udp_agent: tuple[Agent, Destination], error_type: ErrorType) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(attempt(error_type=error_type, service="workflow-service")))
    points = agent.points()
    (runs,) = named(points, m.RUNS)
    assert tags_of(runs) == COMMON | {
        "status": "failure", "error_type": str(error_type), "failed_step": "open_canvas",
        "failed_service": "workflow-service", "within_slo": "false",
    }  # fmt: skip
    assert tags_of(named(points, m.DURATION)[0])["status"] == "failure"
    # The skipped step has no duration to report.
    assert [tags_of(p)["status"] for p in named(points, m.STEP_DURATION)] == ["passed", "failed"]
    (check,) = named(points, m.CAN_COMPLETE)
    assert check.value == 2  # CRITICAL
    (event,) = [p for p in points if p.kind == "event"]
    assert event.name == "CUJ workflow_canvas_load is failing on sandbox"
    text = event.fields["text"]
    for needle in ("abc123", "open canvas", "workflow-service", str(error_type), TRACE):
        assert needle in text
    assert event.fields["t"] == "error"
    assert tags_of(event) == COMMON


def test_a_retried_success(udp_agent: tuple[Agent, Destination]) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(attempt(1, ErrorType.SERVER_ERROR), attempt(2, duration=0.8)))
    points = agent.points()
    (runs,) = named(points, m.RUNS)
    assert tags_of(runs)["status"] == "success"
    assert named(points, m.DURATION)[0].value == 0.8
    attempts = sorted((tags_of(p)["attempt"], tags_of(p)["status"], tags_of(p)["error_type"])
                      for p in named(points, m.ATTEMPTS))  # fmt: skip
    assert attempts == [("1", "failure", "server_error"), ("2", "success", "none")]


def test_a_probe_error_is_its_own_status_and_no_state_change(
    udp_agent: tuple[Agent, Destination],
) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(attempt(error_type=ErrorType.PROBE_ERROR, service="cuj-prober")))
    points = agent.points()
    (runs,) = named(points, m.RUNS)
    assert tags_of(runs)["status"] == "probe_error"
    assert tags_of(runs)["error_type"] == "probe_error"
    assert named(points, m.CAN_COMPLETE)[0].value == 3  # UNKNOWN: the prober could not tell
    assert [p for p in points if p.kind == "event"] == []


def test_recovery_event_and_cleanup_failures(udp_agent: tuple[Agent, Destination]) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(attempt(error_type=ErrorType.TIMEOUT)))
    sink.emit(result(attempt(error_type=ErrorType.TIMEOUT)))  # still failing: no second event
    sink.emit(result(attempt(cleanup_failures=("create: delete workflow",)), run_id="r2"))
    points = agent.points()
    events = [p for p in points if p.kind == "event"]
    assert [e.name for e in events] == [
        "CUJ workflow_canvas_load is failing on sandbox",
        "CUJ workflow_canvas_load recovered on sandbox",
    ]
    (cleanup,) = named(points, m.CLEANUP_FAILED)
    assert tags_of(cleanup)["step"] == "create:_delete_workflow"


def test_manual_and_ci_runs_are_tagged_as_such(udp_agent: tuple[Agent, Destination]) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(trigger=Trigger.MANUAL))
    sink.emit(result(trigger=Trigger.CI))
    triggers = [tags_of(p)["trigger"] for p in named(agent.points(), m.RUNS)]
    assert triggers == ["manual", "ci"]


def test_heartbeat_and_skipped_runs(udp_agent: tuple[Agent, Destination]) -> None:
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.heartbeat()
    sink.skipped("workflow_run_api", "sandbox", "overlap")
    with pytest.raises(ValueError, match="not one of"):
        sink.skipped("workflow_run_api", "sandbox", "bored")
    heartbeat, skipped = agent.points()
    assert (heartbeat.name, heartbeat.kind, heartbeat.value) == (m.HEARTBEAT, "gauge", 1.0)
    assert tags_of(heartbeat) == {
        "env": "staging", "location": "eu-west-1", "prober_version": "0.1.0",
    }  # fmt: skip
    assert (skipped.name, skipped.kind) == (m.SKIPPED, "count")
    assert tags_of(skipped)["reason"] == "overlap"


def test_unix_socket_transport(uds_agent: tuple[Agent, Destination]) -> None:
    agent, destination = uds_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result(attempt(error_type=ErrorType.ASSERTION)))
    points = agent.points()
    assert tags_of(named(points, m.RUNS)[0])["error_type"] == "assertion"
    assert len(points) == 7  # runs, duration, 2 step durations, attempts, check, event


def test_one_env_and_one_service_tag_whatever_the_environment_says(
    udp_agent: tuple[Agent, Destination], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_ENV", "production")
    monkeypatch.setenv("DD_SERVICE", "x")
    monkeypatch.setenv("DD_VERSION", "9.9")
    monkeypatch.setenv("DATADOG_TAGS", "env:legacy,service:y,team:z")
    monkeypatch.setenv("DD_TAGS", "env:other,service:w")
    agent, destination = udp_agent
    sink = DogStatsdSink(destination, ORIGIN)
    sink.emit(result())
    sink.heartbeat()
    points = agent.points()
    for point in points:
        mapped = point.tag_map()
        assert mapped.get("env") == ["staging"], point
        if point.name != m.HEARTBEAT:
            assert mapped.get("service") == ["frontend-monolith"], point


def test_tag_values_follow_datadogs_rules() -> None:
    assert m.tag_value("Open Canvas!") == "open_canvas"
    assert m.tag_value("EU West (1)") == "eu_west_1"
    assert m.tag_value("a:b/c.d-e_f") == "a:b/c.d-e_f"
    assert m.tag_value("") == "none"
    assert len(m.tag_value("x" * 500)) == 200


def test_no_agent_never_stalls_and_is_reported_once(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    caplog.set_level(logging.WARNING)
    for destination in (
        Destination(host="127.0.0.1", port=closed_port),
        Destination(socket_path=str(tmp_path / "no-agent.socket")),
    ):
        caplog.clear()
        sink = DogStatsdSink(destination, ORIGIN)
        started = time.monotonic()
        for _ in range(50):
            sink.emit(result(attempt(error_type=ErrorType.SERVER_ERROR)))
        sink.close()
        assert time.monotonic() - started < 5, "an absent agent must not slow runs down"
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings
        assert str(destination) in warnings[0]


@pytest.mark.parametrize(
    ("environ", "configured", "expected"),
    [
        ({}, None, "udp://127.0.0.1:8125"),
        ({}, "unix:///var/run/datadog/dsd.socket", "unix:///var/run/datadog/dsd.socket"),
        ({"DD_AGENT_HOST": "agent", "DD_DOGSTATSD_PORT": "9125"}, None, "udp://agent:9125"),
        ({"DD_AGENT_HOST": "agent"}, "udp://127.0.0.1:8125", "udp://agent:8125"),
        ({"DD_DOGSTATSD_URL": "unix:///tmp/d.sock", "DD_AGENT_HOST": "x"}, None,
         "unix:///tmp/d.sock"),
    ],
)  # fmt: skip
def test_destination_resolution(
    environ: dict[str, str], configured: str | None, expected: str
) -> None:
    assert str(resolve_destination(configured, environ)) == expected


@pytest.mark.parametrize("url", ["tcp://x:1", "unix://", "udp://x:notaport"])
def test_bad_urls_are_clear_errors(url: str) -> None:
    with pytest.raises(DogStatsdConfigError, match=r"udp://|socket path|Port"):
        parse_url(url)
