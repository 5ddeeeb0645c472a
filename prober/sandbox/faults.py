"""Fault injection: what a fault is, and which faults hit a given request.

A fault targets one service, optionally one path glob, a fraction of requests (`rate`) and a
number of hits (`times`). For each request the registry decides once, so a request is never
half-faulted: `unavailable` beats `error` beats `hang`; `latency` adds to whichever wins;
`silent` variants reach the handler only when nothing louder answered.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prober.sandbox.services import SILENT_VARIANTS, Service


class FaultMode(StrEnum):
    ERROR = "error"
    LATENCY = "latency"
    HANG = "hang"
    UNAVAILABLE = "unavailable"
    SILENT = "silent"


_UNAVAILABLE_STATUSES = (502, 503, 504)


class FaultSpec(BaseModel):
    """The body of `POST /_sandbox/faults`, validated; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: Service
    mode: FaultMode
    status: int | None = Field(default=None, ge=400, le=599)
    delay_ms: int | None = Field(default=None, ge=0, le=600_000)
    rate: float = Field(default=1.0, gt=0.0, le=1.0)
    path: str | None = Field(default=None, min_length=1, max_length=500, pattern=r"^/")
    variant: str | None = None
    times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _fits_mode(self) -> Self:
        mode = self.mode
        if self.status is not None and mode not in (FaultMode.ERROR, FaultMode.UNAVAILABLE):
            raise ValueError(f"status applies to modes error and unavailable, not {mode}")
        if mode is FaultMode.UNAVAILABLE and self.status not in (None, *_UNAVAILABLE_STATUSES):
            raise ValueError("an unavailable service is reported as 502, 503 or 504")
        if mode is FaultMode.LATENCY and self.delay_ms is None:
            raise ValueError("mode latency needs delay_ms (milliseconds to add)")
        if self.delay_ms is not None and mode in (FaultMode.HANG, FaultMode.SILENT):
            raise ValueError(f"delay_ms does not apply to mode {mode}")
        if self.variant is not None:
            if mode is not FaultMode.SILENT:
                raise ValueError("variant applies to mode silent only")
            allowed = SILENT_VARIANTS[self.service]
            if self.variant not in allowed:
                raise ValueError(
                    f"{self.service} has no silent variant {self.variant!r}; "
                    f"choose one of {', '.join(allowed)}"
                )
        return self

    @property
    def effective_status(self) -> int | None:
        if self.mode is FaultMode.ERROR:
            return self.status or 500
        if self.mode is FaultMode.UNAVAILABLE:
            return self.status or 503
        return None

    @property
    def effective_variant(self) -> str | None:
        if self.mode is not FaultMode.SILENT:
            return None
        return self.variant or SILENT_VARIANTS[self.service][0]


@dataclass(slots=True)
class Fault:
    id: str
    spec: FaultSpec
    created_at: float
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.spec.times is not None and self.hits >= self.spec.times

    def matches(self, service: Service, path: str) -> bool:
        if self.exhausted or self.spec.service is not service:
            return False
        return self.spec.path is None or fnmatch.fnmatchcase(path, self.spec.path)

    def as_json(self) -> dict[str, Any]:
        body = self.spec.model_dump(mode="json", exclude_none=True)
        body.update(
            id=self.id,
            status=self.spec.effective_status,
            variant=self.spec.effective_variant,
            hits=self.hits,
            exhausted=self.exhausted,
            created_at=self.created_at,
        )
        return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What the faults do to one request."""

    delay_s: float = 0.0
    terminal: Fault | None = None  # unavailable, error or hang: the service does not answer itself
    silent: frozenset[str] = frozenset()
    applied: tuple[str, ...] = ()


NO_FAULT = FaultDecision()

_TERMINAL_ORDER = (FaultMode.UNAVAILABLE, FaultMode.ERROR, FaultMode.HANG)


@dataclass
class FaultRegistry:
    """The active faults. Lives on the event loop thread; not thread-safe by design."""

    rng: random.Random = field(default_factory=random.Random)
    clock: Any = time.time
    _faults: dict[str, Fault] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(id=f"f{next(self._ids)}", spec=spec, created_at=self.clock())
        self._faults[fault.id] = fault
        return fault

    def list(self) -> list[Fault]:
        return list(self._faults.values())

    def remove(self, fault_id: str) -> bool:
        return self._faults.pop(fault_id, None) is not None

    def clear(self) -> int:
        count = len(self._faults)
        self._faults.clear()
        return count

    def decide(self, service: Service, path: str) -> FaultDecision:
        if not self._faults:
            return NO_FAULT
        candidates = [f for f in self._faults.values() if f.matches(service, path)]
        if not candidates:
            return NO_FAULT
        applied: list[Fault] = []
        terminal = None
        for mode in _TERMINAL_ORDER:
            terminal = next((f for f in candidates if f.spec.mode is mode and self._roll(f)), None)
            if terminal is not None:
                applied.append(terminal)
                break
        delay_ms = 0
        for fault in candidates:
            if fault.spec.mode is FaultMode.LATENCY and self._roll(fault):
                applied.append(fault)
                delay_ms += fault.spec.delay_ms or 0
        if terminal is not None and terminal.spec.delay_ms:
            delay_ms += terminal.spec.delay_ms
        silent: set[str] = set()
        if terminal is None:
            for fault in candidates:
                variant = fault.spec.effective_variant
                if variant is not None and self._roll(fault):
                    applied.append(fault)
                    silent.add(variant)
        for fault in applied:
            fault.hits += 1
        return FaultDecision(
            delay_s=delay_ms / 1000.0,
            terminal=terminal,
            silent=frozenset(silent),
            applied=tuple(f.id for f in applied),
        )

    def _roll(self, fault: Fault) -> bool:
        return fault.spec.rate >= 1.0 or self.rng.random() < fault.spec.rate
