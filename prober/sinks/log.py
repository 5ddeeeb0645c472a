"""One JSON line per finished run, for log pipelines (with trace_id/span_id/run_id)."""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Any

from prober.metrics import Origin
from prober.redact import Redactor
from prober.result import JourneyResult
from prober.trace_links import trace_url


class LogSink:
    name = "log"

    def __init__(
        self,
        origin: Origin,
        stream: IO[str] | None = None,
        redactor: Redactor | None = None,
        *,
        site: str | None = None,
    ) -> None:
        self._origin = origin
        self._site = site
        self._stream = stream or sys.stderr
        self._redactor = redactor or Redactor()
        self._lock = threading.Lock()

    def line(self, result: JourneyResult) -> dict[str, Any]:
        failure = result.failure
        return {
            "event": "cuj.run",
            "level": "info" if failure is None else "error",
            "journey": result.journey,
            "cuj": result.cuj,
            "target": result.target,
            "env": self._origin.env,
            "location": self._origin.location,
            "trigger": str(result.trigger),
            "status": str(result.status),
            "error_type": None if result.error_type is None else str(result.error_type),
            "failed_step": result.failed_step,
            "failed_service": result.failed_service,
            "blame_source": None if result.blame_source is None else str(result.blame_source),
            "error": None if failure is None else failure.message,
            "evidence": None if failure is None else failure.evidence,
            "locations": result.locations,
            "duration_s": round(result.duration_s, 4),
            "within_slo": result.within_slo,
            "steps": {s.name: round(s.duration_s, 4) for s in result.steps},
            "attempts": len(result.attempts),
            "run_id": result.run_id,
            "trace_id": result.trace_id,
            "trace_url": trace_url(self._site, result.trace_id),
            "span_id": result.final.span_id,
            "artifacts": list(result.artifacts),
            "internal_errors": [k for a in result.attempts for k, _ in a.internal_errors],
        }

    def emit(self, result: JourneyResult) -> None:
        text = self._redactor.text(json.dumps(self.line(result), separators=(",", ":")))
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
