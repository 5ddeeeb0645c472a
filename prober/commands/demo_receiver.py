"""The demo's own DogStatsD receiver: a real UDP socket on loopback standing in for the agent.

It keeps every line it receives (decoded with `prober.dogstatsd_wire`), so the demo can show how
many points of each metric an agent would have got, with an example line of each.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from prober.dogstatsd_wire import Point, WireError, decode_line
from prober.listen import open_socket, where

POLL_S = 0.2  # how often the receiving thread looks at its stop flag
EVENT = "event"  # the key events are counted under (their name is their title)


@dataclass(frozen=True, slots=True)
class Received:
    line: str
    point: Point | None  # None: the line is not DogStatsD

    @property
    def key(self) -> str:
        """What the line is counted as: the metric or service check name, or `event`."""
        if self.point is None:
            return "undecodable"
        return EVENT if self.point.kind == "event" else self.point.name


@dataclass
class Tally:
    """Per key (metric, service check, `event`): datagram lines received and the first one."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, Received] = field(default_factory=dict)

    def add(self, received: Received) -> None:
        self.counts[received.key] += 1
        self.examples.setdefault(received.key, received)


class Receiver:
    """Binds 127.0.0.1 on a free UDP port at construction; `start()` receives in a thread until
    `stop()`, which also takes whatever is still queued in the socket."""

    def __init__(self) -> None:
        self._sock = open_socket(0, None)
        self._sock.settimeout(POLL_S)
        self.url = where(self._sock)
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dogstatsd-receiver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Tally:
        self._stopping.set()
        self._thread.join()
        self._sock.setblocking(False)
        try:
            while True:
                self._take(self._sock.recv(65536))
        except OSError:  # BlockingIOError: nothing left
            pass
        self._sock.close()
        return self.tally

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self._take(data)

    def _take(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        with self._lock:
            for line in text.split("\n"):
                if not line.strip():
                    continue
                try:
                    point: Point | None = decode_line(line)
                except (WireError, ValueError):
                    point = None
                received = Received(line, point)
                self.tally.add(received)
