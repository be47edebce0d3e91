"""The embedded SQLite store (WAL) for jobs and scenes.

Every write is a short transaction with ``synchronous=FULL`` so that a job marked
``succeeded`` survives kill -9 and power loss; its COG was renamed into place before.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINAL = (SUCCEEDED, FAILED, CANCELLED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    request TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created);
CREATE TABLE IF NOT EXISTS scenes (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass
class Job:
    id: str
    status: str
    progress: float
    error: str | None
    request: dict[str, Any]
    attempts: int
    created: float
    updated: float


class Store:
    """Thread-safe access to the server database (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._con().executescript(SCHEMA)

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    class _Tx:
        def __init__(self, con: sqlite3.Connection) -> None:
            self.con = con

        def __enter__(self) -> sqlite3.Connection:
            self.con.execute("BEGIN IMMEDIATE")
            return self.con

        def __exit__(self, exc_type, exc, tb) -> None:
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> _Tx:
        return Store._Tx(self._con())

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(self, request: dict[str, Any], max_active: int | None = None, job_id: str | None = None) -> Job | None:
        """Queue a job; None when ``max_active`` jobs are already queued or running."""
        now = time.time()
        job_id = job_id or new_job_id()
        with self._tx() as con:
            if max_active is not None:
                (active,) = con.execute(
                    "SELECT count(*) FROM jobs WHERE status IN (?, ?)", ACTIVE
                ).fetchone()
                if active >= max_active:
                    return None
            con.execute(
                "INSERT INTO jobs (id, status, request, created, updated) VALUES (?, ?, ?, ?, ?)",
                (job_id, QUEUED, json.dumps(request), now, now),
            )
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> Job | None:
        row = self._con().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, limit: int = 100) -> list[Job]:
        rows = self._con().execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it."""
        with self._tx() as con:
            row = con.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY created LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE jobs SET status = ?, progress = 0, attempts = attempts + 1, updated = ? WHERE id = ?",
                (RUNNING, time.time(), row["id"]),
            )
        return self.get_job(row["id"])

    def set_progress(self, job_id: str, progress: float) -> None:
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET progress = ?, updated = ? WHERE id = ? AND status = ?",
                (max(0.0, min(1.0, progress)), time.time(), job_id, RUNNING),
            )

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        assert status in FINAL
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET status = ?, error = ?, progress = CASE WHEN ? THEN 1 ELSE progress END, "
                "updated = ? WHERE id = ? AND status IN (?, ?)",
                (status, error, status == SUCCEEDED, time.time(), job_id, *ACTIVE),
            )

    def cancel(self, job_id: str) -> str | None:
        """Cancel a queued job at once; a running one is only flagged (the worker stops it)."""
        with self._tx() as con:
            row = con.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if row["status"] == RUNNING:
                con.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            if row["status"] == QUEUED:
                con.execute(
                    "UPDATE jobs SET status = ?, error = ?, updated = ? WHERE id = ?",
                    (CANCELLED, "cancelled by the user", time.time(), job_id),
                )
                return CANCELLED
            return row["status"]

    def cancel_requested(self, job_id: str) -> bool:
        row = self._con().execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def requeue_interrupted(self) -> list[str]:
        """After a crash: jobs left ``running`` go back to the queue (they re-run from scratch)."""
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET status = ?, error = ?, updated = ? WHERE status = ? AND cancel_requested = 1",
                (CANCELLED, "cancelled by the user", time.time(), RUNNING),
            )
            ids = [r["id"] for r in con.execute("SELECT id FROM jobs WHERE status = ?", (RUNNING,))]
            con.execute(
                "UPDATE jobs SET status = ?, progress = 0, updated = ? WHERE status = ?",
                (QUEUED, time.time(), RUNNING),
            )
        return ids

    def count_active(self) -> int:
        (n,) = self._con().execute("SELECT count(*) FROM jobs WHERE status IN (?, ?)", ACTIVE).fetchone()
        return n

    # -- scenes -------------------------------------------------------------------------------

    def put_scene(self, scene_id: str, spec: dict[str, Any]) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT OR IGNORE INTO scenes (id, spec, created) VALUES (?, ?, ?)",
                (scene_id, json.dumps(spec), time.time()),
            )

    def get_scene(self, scene_id: str) -> dict[str, Any] | None:
        row = self._con().execute("SELECT spec FROM scenes WHERE id = ?", (scene_id,)).fetchone()
        return json.loads(row["spec"]) if row else None

    def scenes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for row in self._con().execute("SELECT id, spec FROM scenes ORDER BY created"):
            yield row["id"], json.loads(row["spec"])


def new_job_id() -> str:
    return uuid.uuid4().hex


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], status=row["status"], progress=row["progress"], error=row["error"],
        request=json.loads(row["request"]), attempts=row["attempts"], created=row["created"],
        updated=row["updated"],
    )
