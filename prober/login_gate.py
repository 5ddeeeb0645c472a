"""What the process knows about logins per target and credentials: the session to reuse, and
the refusals that hold the next login back so a probe cannot lock its own account.

A login's session (prober/session.py: the body's token, the cookies it set, or both) is kept
for the process (until shortly before its `expires_in`, or until the target answers 401): every
run and every channel reuses it, so a prober running five journeys every minute logs in once,
not five times a minute. Concurrent first logins are one login: `exclusive(key)` lets one run
log in while the others wait for its session - per event loop in the process, and across the
processes of the host when the gate has SessionFiles (prober/session_file.py), which also share
the session itself.

Platforms lock an account after a few failed logins in a window (Node-RED: more than 5 in 10
minutes, and it keeps counting while locked). A prober that logs in on every run of every
journey with a wrong password would keep the probe user - and anyone sharing it - locked out.

Only a refusal of the credentials (401, 403) or a rate limit (429) holds anything back; a login
that fails otherwise (a 503, a reset) is that run's failure alone, and the next run logs in.
A 429's Retry-After (seconds or an HTTP date) is the hold, up to MAX_HOLD_S. With SessionFiles a
refusal is shared with the host's other processes too (its time, count and evidence), so those
waiting for the same first login hold back instead of each trying it into a lockout.

After a refused login the gate holds further logins with the same credentials to the same
target back: first for the journey's interval, then twice as long after each further refusal,
up to `max(interval, MAX_HOLD_S)`. With a 60 s interval that is at most 4 login attempts in any
10 minutes (at 0, 1, 3 and 7 minutes, then every 15). A login that succeeds, or different
credentials (a fixed password), opens the gate at once. Runs during a hold fail at once with
the last refusal as evidence and say when the next attempt will be made.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from prober.observe import Exchange
from prober.session import Session
from prober.session_file import SessionFiles

MAX_HOLD_S = 15 * 60.0


@dataclass(frozen=True, slots=True)
class Refusal:
    count: int  # consecutive refused logins
    at: float  # wall clock of the last one
    until: float  # wall clock before which no login is tried
    answer: object  # the refusing exchange (prober.observe.Exchange), the evidence


def credentials_key(target: str, username: str | None, secret: str | None) -> str:
    """Identifies (target, credentials) without keeping the secret itself in memory twice."""
    digest = hashlib.sha256(f"{username}\0{secret}".encode()).hexdigest()[:16]
    return f"{target}/{digest}"


class LoginGate:
    """Per-process memory of sessions and refused logins. Thread-safe; time is injected."""

    def __init__(
        self, clock: Callable[[], float] = time.time, files: SessionFiles | None = None
    ) -> None:
        self._clock = clock
        self.files = files
        self._refusals: dict[str, Refusal] = {}
        self._sessions: dict[str, Session] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._lock = threading.Lock()

    def session(self, key: str, *, shared: bool = False) -> Session | None:
        """The session to reuse, if one is still good: the process's, else (or with `shared`,
        first) the one another process of the host shares."""
        with self._lock:
            found = None if shared else self._sessions.get(key)
        if found is not None and found.good(self._clock()):
            return found
        if self.files is not None:
            found = self.files.read(key)
            if found is not None:
                with self._lock:
                    self._sessions[key] = found
                return found
        return None

    def remember(self, key: str, session: Session) -> None:
        with self._lock:
            self._sessions[key] = session
            self._refusals.pop(key, None)
        if self.files is not None:
            self.files.write(key, session)
            self.files.clear_refusal(key)

    def forget(self, key: str, session: Session) -> None:
        """The target no longer takes `session` (a 401): the next request logs in again -
        unless the session was renewed meanwhile, which stays."""
        with self._lock:
            if self._sessions.get(key) == session:
                self._sessions.pop(key)
        if self.files is not None:
            self.files.remove(key, session)

    @contextlib.asynccontextmanager
    async def exclusive(self, key: str, wait_s: float) -> AsyncIterator[None]:
        """One login at a time for `key`: within this event loop, then across the host."""
        loop = id(asyncio.get_running_loop())  # an asyncio lock belongs to one loop
        with self._lock:
            lock = self._locks.setdefault((loop, key), asyncio.Lock())
        async with lock:
            if self.files is None:
                yield
                return
            async with self.files.lock(key, wait_s):
                yield

    def held(self, key: str) -> Refusal | None:
        """The refusal that holds logins back now - this process's, or one another process of
        the host met (SessionFiles) - or None when a login may be tried."""
        now = self._clock()
        with self._lock:
            refusal = self._refusals.get(key)
        if refusal is not None and now < refusal.until:
            return refusal
        shared = self._shared_refusal(key, now)
        if shared is not None and now < shared.until:
            return shared
        return None

    def refused(
        self, key: str, interval_s: float, answer: object, *, hold_s: float | None = None
    ) -> Refusal:
        """Remember a refused login (401/403) or a rate limit (429; `hold_s` its Retry-After,
        honoured up to MAX_HOLD_S), and tell the host's other processes. Other failed logins
        are not refusals: nothing is held."""
        now = self._clock()
        shared = self._shared_refusal(key, now)
        with self._lock:
            known = self._refusals.get(key)
            count = max(known.count if known else 0, shared.count if shared else 0) + 1
            hold = min(max(interval_s, MAX_HOLD_S), interval_s * 2 ** min(count - 1, 32))
            if hold_s is not None:
                hold = min(max(hold_s, 0.0), MAX_HOLD_S)
            refusal = Refusal(count, now, now + hold, answer)
            self._refusals[key] = refusal
        if self.files is not None:
            self.files.write_refusal(key, _refusal_record(refusal))
        return refusal

    def accepted(self, key: str) -> None:
        with self._lock:
            self._refusals.pop(key, None)
        if self.files is not None:
            self.files.clear_refusal(key)

    def _shared_refusal(self, key: str, now: float) -> Refusal | None:
        """The refusal another process recorded for `key` within the last day, if any."""
        record = None if self.files is None else self.files.read_refusal(key)
        if record is None:
            return None
        try:
            count, at, until = int(record["count"]), float(record["at"]), float(record["until"])
            status = record.get("status")
            answer = Exchange(str(record["method"]), str(record["url"]), None, None, at, at,
                              status if isinstance(status, int) else None)  # fmt: skip
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        if not (count >= 1 and math.isfinite(at) and math.isfinite(until)):
            return None
        if not now - SHARED_REFUSAL_S < at <= now:
            return None  # an old record, or one from a clock that is off: not a hold
        message = record.get("message")
        answer.message = message[:200] if isinstance(message, str) else None
        return Refusal(count, at, min(until, at + SHARED_REFUSAL_S), answer)


# How long another process's refused login is remembered by the host (and its hold at most).
SHARED_REFUSAL_S = 24 * 3600.0


def _refusal_record(refusal: Refusal) -> dict[str, object]:
    """What the host's other processes need of a refusal: when, how often, and its evidence
    (the login's method, URL and status and the platform's message - never the request)."""
    answer = refusal.answer
    record: dict[str, object] = {"count": refusal.count, "at": refusal.at,
                                 "until": refusal.until}  # fmt: skip
    if isinstance(answer, Exchange):
        said = answer.message or answer.excerpt
        record.update(method=answer.method, url=answer.url, status=answer.status,
                      message=said[:200] if said else None)  # fmt: skip
    return record
