"""One JSON line per request the platform receives, with the trace headers the prober sent.

Tests and humans read it to check trace correlation; credentials never enter it (only the named
trace and probe headers are copied).
"""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path
from typing import IO, Any

TRACE_HEADERS = (
    "traceparent",
    "tracestate",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-origin",
    "x-datadog-sampling-priority",
    "x-datadog-tags",
    "x-cuj-probe",
    "user-agent",
)


class RequestLog:
    def __init__(self, size: int, destination: str | None) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._seq = 0
        self._own_file = False
        self._out: IO[str] | None
        if destination is None:
            self._out = None
        elif destination == "-":
            self._out = sys.stdout
        else:
            path = Path(destination)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = path.open("a", encoding="utf-8", buffering=1)
            self._own_file = True

    def record(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        entry = {"seq": self._seq, **entry}
        self._entries.append(entry)
        if self._out is not None:
            self._out.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._out.flush()

    def entries(self, since: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        selected = [e for e in self._entries if e["seq"] > since]
        return selected[-limit:] if limit else selected

    def clear(self) -> None:
        self._entries.clear()

    def close(self) -> None:
        if self._own_file and self._out is not None:
            self._out.close()
        self._out = None
