"""The local result store: every run, attempt and step in SQLite (standard library only).

Written before any metric leaves (FanOut puts the store sink first) and read by `prober slo
status` and the console. WAL keeps readers and the writer apart; each run is one transaction,
so a process killed right after a run still has it. Schema changes are numbered migrations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prober.result import JourneyResult
from prober.usage_error import UsageError

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, attempts, steps
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        journey TEXT NOT NULL,
        cuj TEXT NOT NULL,
        service TEXT NOT NULL,
        target TEXT NOT NULL,
        env TEXT NOT NULL,
        location TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        error_type TEXT,
        failed_step TEXT,
        failed_service TEXT,
        duration_s REAL NOT NULL,
        within_slo INTEGER NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        trace_id TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX runs_by_journey_time ON runs (journey, target, finished_at);
    CREATE INDEX runs_by_time ON runs (finished_at);
    CREATE TABLE attempts (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        error_type TEXT,
        failed_step TEXT,
        failed_service TEXT,
        duration_s REAL NOT NULL,
        started_at REAL NOT NULL,
        trace_id TEXT NOT NULL,
        PRIMARY KEY (run_id, attempt)
    );
    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        service TEXT NOT NULL,
        status TEXT NOT NULL,
        duration_s REAL NOT NULL,
        error_type TEXT,
        error TEXT,
        PRIMARY KEY (run_id, attempt, position),
        FOREIGN KEY (run_id, attempt) REFERENCES attempts (run_id, attempt) ON DELETE CASCADE
    );
    """,
    # 2: the value the latency SLI judged (the duration, or the declared page timing:
    # prober/latency_sli.py); NULL in runs stored before it.
    """
    ALTER TABLE runs ADD COLUMN latency_s REAL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_SELECT_RUNS = (
    "SELECT r.run_id, r.journey, r.target, r.env, r.location, r.trigger, r.status, "
    "r.error_type, r.failed_step, r.failed_service, r.duration_s, r.within_slo, "
    "r.started_at, r.finished_at, r.trace_id, r.attempts, a.status, r.latency_s "
    "FROM runs r JOIN attempts a ON a.run_id = r.run_id AND a.attempt = 1"
)
_WHERE = (
    "make store.path a file this user can read and write, in a folder it can write, or choose "
    "another with PROBER_STORE__PATH"
)


class StoreError(UsageError):
    """The result store cannot be used; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class StoredRun:
    run_id: str
    journey: str
    target: str
    env: str
    location: str
    trigger: str
    status: str
    error_type: str | None
    failed_step: str | None
    failed_service: str | None
    duration_s: float
    within_slo: bool
    started_at: float
    finished_at: float
    trace_id: str
    attempts: int
    first_attempt_status: str
    latency_s: float | None = None  # what `within_slo` judged; None in runs stored before it


# How long opening the store waits for another process holding it (its busy timeout).
OPEN_WAIT_S = 2.0


class ResultStore:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=OPEN_WAIT_S
            )
            self._wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc
        except OSError as exc:
            why = "its folder is a file" if isinstance(exc, FileExistsError) else exc.strerror
            raise StoreError(f"{path}: cannot open the result store ({why}); {_WHERE}") from exc

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "unable to open" in text:  # a folder, or a file or folder this user cannot use
            return f"{self.path}: cannot open the result store ({text}); {_WHERE}"
        if "locked" in text or "busy" in text:
            return (
                f"{self.path}: the result store is locked by another process ({text}); "
                "stop the other prober using it or give this one its own `store` path"
            )
        return (
            f"{self.path}: not a usable result store ({text}); move the file aside and a new "
            "one is created"
        )

    def _migrate(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer cuj-prober (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade, or point `store` at another file"
            )
        if version == SCHEMA_VERSION:
            return
        # Several processes may create one store at once (`serve` and incident `prober run`s
        # on a host): the version is read again under the write lock, so each migration runs
        # once, in one transaction with its version (executescript would commit in between).
        with self._tx() as db:
            for number in range(self._version(), SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def _wal(self) -> None:
        """WAL mode. Switching a new file to it can answer "locked" at once, without waiting
        (several processes creating the store together): tried again, within OPEN_WAIT_S."""
        deadline = time.monotonic() + OPEN_WAIT_S
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # --- writing ------------------------------------------------------------------------------

    def save(self, result: JourneyResult, env: str, location: str) -> None:
        final = result.final
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT OR REPLACE INTO runs VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        result.run_id, result.journey, result.cuj, result.service,
                        result.target, env, location, str(result.trigger), str(result.status),
                        _text(result.error_type), result.failed_step, result.failed_service,
                        result.duration_s, int(result.within_slo), result.started_at,
                        final.started_at + final.duration_s, result.trace_id,
                        len(result.attempts), json.dumps(result.to_json()), result.latency_s,
                    ),
                )  # fmt: skip
                for attempt in result.attempts:
                    db.execute(
                        "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            result.run_id, attempt.attempt, str(attempt.status),
                            _text(attempt.error_type), attempt.failed_step,
                            None if attempt.failure is None else attempt.failure.service,
                            attempt.duration_s, attempt.started_at, attempt.trace_id,
                        ),
                    )  # fmt: skip
                    db.executemany(
                        "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            (
                                result.run_id, attempt.attempt, position, step.name,
                                step.service, str(step.status), step.duration_s,
                                None if step.failure is None else str(step.failure.error_type),
                                None if step.failure is None else step.failure.message,
                            )
                            for position, step in enumerate(attempt.steps)
                        ],
                    )  # fmt: skip
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc

    def prune(self, max_age_s: float) -> int:
        """Delete runs that finished more than `max_age_s` ago (attempts and steps with them)."""
        cutoff = self._clock() - max_age_s
        try:
            with self._tx() as db:
                return db.execute("DELETE FROM runs WHERE finished_at < ?", (cutoff,)).rowcount
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc

    # --- reading ------------------------------------------------------------------------------

    def runs(
        self,
        *,
        journey: str | None = None,
        target: str | None = None,
        env: str | None = None,
        trigger: str | None = None,
        since: float | None = None,
        latest_only: bool = False,
    ) -> list[StoredRun]:
        """Runs oldest first, filtered by whatever is given; `latest_only` keeps the last run
        of each (journey, target)."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("r.journey", journey), ("r.target", target), ("r.env", env), ("r.trigger", trigger),
        ):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("r.finished_at >= ?")
            params.append(since)
        if latest_only:
            clauses.append(
                "r.run_id = (SELECT l.run_id FROM runs l WHERE l.journey = r.journey AND "
                "l.target = r.target ORDER BY l.finished_at DESC, l.run_id DESC LIMIT 1)"
            )
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select(f"{where} ORDER BY r.finished_at, r.run_id", tuple(params))

    def recent(self, journey: str, target: str, limit: int) -> list[StoredRun]:
        """The last `limit` runs of one (journey, target), oldest first (the status page)."""
        return self._select(
            "WHERE r.journey = ? AND r.target = ? ORDER BY r.finished_at DESC, r.run_id DESC "
            "LIMIT ?",
            (journey, target, limit),
        )[::-1]

    def last_failure(self, journey: str, target: str) -> StoredRun | None:
        """The last run of one (journey, target) that did not succeed."""
        found = self._select(
            "WHERE r.journey = ? AND r.target = ? AND r.status != 'success' "
            "ORDER BY r.finished_at DESC, r.run_id DESC LIMIT 1",
            (journey, target),
        )
        return found[0] if found else None

    def state_since(self, journey: str, target: str, status: str) -> float | None:
        """When the current streak of `status` runs of one (journey, target) started: the
        start of its first run after the last run of another status."""
        query = (
            "SELECT MIN(started_at) FROM runs WHERE journey = ? AND target = ? AND status = ? "
            "AND finished_at > (SELECT COALESCE(MAX(finished_at), 0) FROM runs "
            "WHERE journey = ? AND target = ? AND status != ?)"
        )
        params = (journey, target, status, journey, target, status)
        try:
            with self._lock:
                row = self._db.execute(query, params).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        return None if row is None or row[0] is None else float(row[0])

    def _select(self, tail: str, params: tuple[object, ...]) -> list[StoredRun]:
        query = f"{_SELECT_RUNS} {tail}"
        try:
            with self._lock:
                rows = self._db.execute(query, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from exc
        return [_stored(row) for row in rows]

    def result(self, run_id: str) -> dict[str, object] | None:
        """The full JSON result of one run."""
        with self._lock:
            row = self._db.execute("SELECT result FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def latest(self) -> dict[tuple[str, str], StoredRun]:
        """The last run of each (journey, target)."""
        return {(run.journey, run.target): run for run in self.runs(latest_only=True)}


def _stored(row: tuple[Any, ...]) -> StoredRun:
    (run_id, journey, target, env, location, trigger, status, error_type, failed_step,
     failed_service, duration_s, within_slo, started_at, finished_at, trace_id, attempts,
     first_status, latency_s) = row  # fmt: skip
    return StoredRun(
        run_id, journey, target, env, location, trigger, status, error_type, failed_step,
        failed_service, duration_s, bool(within_slo), started_at, finished_at, trace_id,
        attempts, first_status, latency_s,
    )  # fmt: skip


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script, one each, as `execute` takes them."""
    found, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                found.append(pending.strip())
            pending = ""
    return found


def _text(value: object) -> str | None:
    return None if value is None else str(value)
