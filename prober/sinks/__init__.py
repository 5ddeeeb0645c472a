"""Where finished runs go. Each sink receives every result; none may break a run or another sink.

Sink                     emit(result) quick and never raising; close() flushes
FanOut                   delivers to sinks in order (the store first), isolating failures
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from prober.result import JourneyResult

logger = logging.getLogger(__name__)


class Sink(Protocol):
    name: str

    def emit(self, result: JourneyResult) -> None: ...

    def close(self) -> None: ...


class FanOut:
    """Delivers every result to every sink in order; a sink that raises is logged and skipped.

    Order matters: the store comes first, so a finished run is persisted before any metric
    leaves the process (a crash right after loses no run that a metric announced).
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        on_internal_error: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.sinks = list(sinks)
        # Counts a sink that failed (cuj.prober.internal_errors{kind:sink:<name>}).
        self._on_internal_error = on_internal_error

    def emit(self, result: JourneyResult) -> list[str]:
        """The names of the sinks that failed (empty when all took the result)."""
        failed = []
        for sink in self.sinks:
            try:
                sink.emit(result)
            except Exception as exc:
                failed.append(sink.name)
                logger.error(
                    "sink %s could not take run %s of %s: %s",
                    sink.name,
                    result.run_id,
                    result.journey,
                    exc,
                )
                self._count(f"sink:{sink.name}", result.journey)
        return failed

    def _count(self, kind: str, journey: str | None) -> None:
        if self._on_internal_error is None:
            return
        try:
            self._on_internal_error(kind, journey)
        except Exception as exc:
            logger.error("could not count an internal error (%s): %s", kind, exc)

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                logger.error("sink %s did not close cleanly: %s", sink.name, exc)
