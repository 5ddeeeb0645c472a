"""SQLite persistence for the platform: workflows, runs and login tokens.

All calls come from the event loop thread; each is a few local statements, short enough not to
need a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workflows (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    nodes TEXT NOT NULL,
    edges TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    output TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


class StoreError(Exception):
    """The database file cannot be used; the message names the file and what to do."""


class VersionConflict(Exception):
    def __init__(self, current_version: int) -> None:
        super().__init__(f"current version is {current_version}")
        self.current_version = current_version


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class PlatformStore:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=2000")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row["value"]) != SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: schema version {row['value']} is not {SCHEMA_VERSION}; "
                    "move the file aside or pass another --db"
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path}: cannot use this file as the sandbox database ({exc}); "
                "move it aside or pass another --db"
            ) from exc
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the sandbox database ({exc})") from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- tokens -------------------------------------------------------------------------------

    def issue_token(self, username: str, ttl_s: float) -> str:
        token = uuid.uuid4().hex + uuid.uuid4().hex
        now = self._clock()
        with self._tx() as db:
            db.execute("DELETE FROM tokens WHERE expires_at < ?", (now,))
            db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, username, now + ttl_s))
        return token

    def token_user(self, token: str) -> str | None:
        row = self._db.execute(
            "SELECT username FROM tokens WHERE token = ? AND expires_at >= ?",
            (token, self._clock()),
        ).fetchone()
        return None if row is None else str(row["username"])

    # --- workflows ----------------------------------------------------------------------------

    def create_workflow(
        self, name: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]
    ) -> dict[str, Any]:
        now = self._clock()
        wf_id = new_id("wf")
        with self._tx() as db:
            db.execute(
                "INSERT INTO workflows VALUES (?, ?, ?, ?, 1, ?, ?)",
                (wf_id, name, json.dumps(nodes), json.dumps(edges), now, now),
            )
        found = self.get_workflow(wf_id)
        assert found is not None
        return found

    def get_workflow(self, wf_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM workflows WHERE id = ?", (wf_id,)).fetchone()
        return None if row is None else _workflow(row)

    def list_workflows(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM workflows ORDER BY created_at, id").fetchall()
        return [_workflow(row) for row in rows]

    def update_workflow(
        self,
        wf_id: str,
        expected_version: int,
        name: str,
        nodes: list[dict[str, Any]],
        edges: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        """The updated workflow; None when it does not exist; VersionConflict when stale."""
        with self._tx() as db:
            row = db.execute("SELECT version FROM workflows WHERE id = ?", (wf_id,)).fetchone()
            if row is None:
                return None
            if row["version"] != expected_version:
                raise VersionConflict(int(row["version"]))
            db.execute(
                "UPDATE workflows SET name = ?, nodes = ?, edges = ?, version = version + 1, "
                "updated_at = ? WHERE id = ?",
                (name, json.dumps(nodes), json.dumps(edges), self._clock(), wf_id),
            )
        return self.get_workflow(wf_id)

    def delete_workflow(self, wf_id: str) -> bool:
        with self._tx() as db:
            deleted = db.execute("DELETE FROM workflows WHERE id = ?", (wf_id,)).rowcount
        return bool(deleted)

    # --- runs ---------------------------------------------------------------------------------

    def create_run(self, workflow_id: str) -> dict[str, Any]:
        run_id = new_id("run")
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, workflow_id, status, created_at) VALUES (?, ?, 'queued', ?)",
                (run_id, workflow_id, self._clock()),
            )
        found = self.get_run(run_id)
        assert found is not None
        return found

    def mark_run_running(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = 'running', started_at = ? WHERE id = ?",
                (self._clock(), run_id),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        output: Any = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, output = ?, error = ? WHERE id = ?",
                (
                    status,
                    self._clock(),
                    None if output is None else json.dumps(output),
                    None if error is None else json.dumps(error),
                    run_id,
                ),
            )

    def fail_unfinished_runs(self, error: dict[str, Any]) -> int:
        """Runs a previous process left queued or running can never finish; say so."""
        with self._tx() as db:
            return db.execute(
                "UPDATE runs SET status = 'failed', finished_at = ?, error = ? "
                "WHERE status IN ('queued', 'running')",
                (self._clock(), json.dumps(error)),
            ).rowcount

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        return {
            "run_id": row["id"],
            "workflow_id": row["workflow_id"],
            "status": row["status"],
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "output": None if row["output"] is None else json.loads(row["output"]),
            "error": None if row["error"] is None else json.loads(row["error"]),
        }


def _workflow(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "nodes": json.loads(row["nodes"]),
        "edges": json.loads(row["edges"]),
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
