"""A real UDP socket standing in for the Datadog agent, collecting in a thread while a prober
child process runs."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from prober.dogstatsd_wire import Point, decode


class BackgroundAgent:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"udp://127.0.0.1:{self.port}"
        self._points: list[Point] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)

    def __enter__(self) -> BackgroundAgent:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._points.extend(decode(data))

    def points(self, name: str | None = None) -> list[Point]:
        with self._lock:
            return [p for p in self._points if name is None or p.name == name]
