"""How the fault registry decides what happens to one request (pure logic, seeded randomness)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from prober.sandbox.faults import FaultMode, FaultRegistry, FaultSpec
from prober.sandbox.services import SILENT_VARIANTS, Service, service_for_path

WF = Service.WORKFLOW


def spec(**fields: object) -> FaultSpec:
    return FaultSpec.model_validate({"service": "workflow-service", **fields})


def test_unavailable_beats_error_beats_hang_and_latency_adds_up() -> None:
    registry = FaultRegistry(rng=random.Random(1))
    registry.add(spec(mode="hang"))
    error = registry.add(spec(mode="error", delay_ms=100))
    registry.add(spec(mode="latency", delay_ms=250))
    decision = registry.decide(WF, "/api/workflows")
    assert decision.terminal is error
    assert decision.delay_s == pytest.approx(0.35)
    unavailable = registry.add(spec(mode="unavailable"))
    assert registry.decide(WF, "/api/workflows").terminal is unavailable


def test_silent_variants_reach_the_handler_only_when_nothing_louder_answered() -> None:
    registry = FaultRegistry()
    silent = registry.add(spec(mode="silent", variant="lost_write"))
    assert registry.decide(WF, "/api/workflows/x").silent == {"lost_write"}
    registry.add(spec(mode="error"))
    decision = registry.decide(WF, "/api/workflows/x")
    assert decision.silent == frozenset()
    assert silent.hits == 1  # not consumed by the request the error answered


def test_faults_match_only_their_service_and_path() -> None:
    registry = FaultRegistry()
    registry.add(spec(mode="error", path="/api/workflows/*"))
    assert registry.decide(WF, "/api/workflows").terminal is None
    assert registry.decide(Service.OPTIMIZER, "/api/workflows/x").terminal is None
    assert registry.decide(WF, "/api/workflows/x").terminal is not None


def test_times_expires_a_fault_after_its_hits() -> None:
    registry = FaultRegistry()
    fault = registry.add(spec(mode="error", times=2))
    outcomes = [registry.decide(WF, "/api/workflows").terminal for _ in range(3)]
    assert outcomes == [fault, fault, None]
    assert fault.exhausted


def test_rate_is_reproducible_with_a_seed() -> None:
    def sample(seed: int) -> list[bool]:
        registry = FaultRegistry(rng=random.Random(seed))
        registry.add(spec(mode="error", rate=0.3))
        return [registry.decide(WF, "/x").terminal is not None for _ in range(200)]

    first = sample(42)
    assert first == sample(42)
    assert 40 <= sum(first) <= 80


@pytest.mark.parametrize("service", list(Service))
def test_every_service_has_a_default_silent_variant(service: Service) -> None:
    fault = FaultSpec(service=service, mode=FaultMode.SILENT)
    assert fault.effective_variant == SILENT_VARIANTS[service][0]


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "latency"},
        {"mode": "latency", "delay_ms": -1},
        {"mode": "hang", "delay_ms": 5},
        {"mode": "silent", "status": 500},
        {"mode": "error", "variant": "empty_nodes"},
        {"mode": "silent", "variant": "blank_canvas"},
        {"mode": "error", "rate": 0},
        {"mode": "error", "times": 0},
    ],
)
def test_inconsistent_specs_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        spec(**fields)


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/workflows", Service.WORKFLOW),
        ("/api/workflows/wf_1", Service.WORKFLOW),
        ("/api/auth/login", Service.WORKFLOW),
        ("/api/workflows/wf_1/runs", Service.ORCHESTRATION),
        ("/api/runs/run_1", Service.ORCHESTRATION),
        ("/api/optimize", Service.OPTIMIZER),
        ("/workflows/wf_1", Service.FRONTEND),
        ("/static/canvas.js", Service.FRONTEND),
        ("/", Service.FRONTEND),
    ],
)
def test_routes_belong_to_the_services_the_readme_names(path: str, service: Service) -> None:
    assert service_for_path(path) is service
