"""The store sink: persists each run (first in the fan-out, before any metric is sent)."""

from __future__ import annotations

from prober.metrics import Origin
from prober.result import JourneyResult
from prober.store import ResultStore


class StoreSink:
    name = "store"

    def __init__(self, store: ResultStore, origin: Origin) -> None:
        self.store = store
        self._origin = origin

    def emit(self, result: JourneyResult) -> None:
        self.store.save(result, self._origin.env, self._origin.location)

    def close(self) -> None:
        self.store.close()
