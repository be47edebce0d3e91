"""The SQLite journal of a batch job: its parameters and every finished chunk.

A chunk is recorded only after its COG has been renamed into place, so the journal never
names a file that is not complete. The journal also marks an output folder as satgeo's:
``open_output_dir`` refuses folders that hold anything else, so nothing a user owns is
ever overwritten.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TypeVar

from satgeo.errors import InputError

JOURNAL_NAME = "satgeo-batch.sqlite"
CHUNKS_DIR = "chunks"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    tiles INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pairs (
    id TEXT PRIMARY KEY,
    split TEXT NOT NULL,
    image TEXT NOT NULL,
    label TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    label_sha256 TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class DonePair:
    """A training pair whose image and label COGs are both in place (paths relative to the output folder)."""

    id: str
    split: str
    image: str
    label: str
    image_sha256: str
    label_sha256: str


@dataclass(frozen=True)
class DoneChunk:
    id: str
    path: str  # relative to the output folder
    tiles: int
    bytes: int
    sha256: str
    seconds: float


_Row = TypeVar("_Row", DoneChunk, DonePair)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def params(self) -> dict | None:
        raw = self.get("params")
        return json.loads(raw) if raw else None

    def _rows(self, table: str, cls: type[_Row]) -> dict[str, _Row]:
        """Every row of ``table`` as ``cls`` (a dataclass whose fields are columns, ``id`` first)."""
        cols = ", ".join(f.name for f in fields(cls))
        return {r[0]: cls(*r) for r in self.db.execute(f"SELECT {cols} FROM {table}").fetchall()}

    def _upsert(self, table: str, values: dict[str, object]) -> None:
        cols, marks = ", ".join(values), ", ".join("?" * len(values))
        self.db.execute(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", tuple(values.values()))

    def done(self) -> dict[str, DoneChunk]:
        return self._rows("chunks", DoneChunk)

    def record(self, chunk: DoneChunk) -> None:
        self._upsert("chunks", {**asdict(chunk), "finished": time.time()})

    def forget(self, chunk_id: str) -> None:
        self.db.execute("DELETE FROM chunks WHERE id = ?", (chunk_id,))

    def done_pairs(self) -> dict[str, DonePair]:
        return self._rows("pairs", DonePair)

    def record_pair(self, pair: DonePair) -> None:
        self._upsert("pairs", asdict(pair))

    def forget_pair(self, pair_id: str) -> None:
        self.db.execute("DELETE FROM pairs WHERE id = ?", (pair_id,))


def check_output_dir(out_dir: Path, resume: bool) -> bool:
    """Refuse a folder holding files satgeo did not write, or an earlier job without ``resume``.

    Returns whether a journal (an earlier job) is there. Creates nothing.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output {out_dir} exists and is not a folder; pass a folder path to -o")
    existed = (out_dir / JOURNAL_NAME).exists()
    if out_dir.exists() and not existed:
        others = sorted(p.name for p in out_dir.iterdir())
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(
                f"output folder {out_dir} already holds {len(others)} file(s) satgeo did not write ({shown}); "
                "choose an empty or new folder"
            )
    if existed and not resume:
        raise InputError(f"{out_dir} holds an earlier batch job; pass --resume to finish it, or choose a new folder")
    return existed


def open_journal(out_dir: Path) -> Journal:
    """Create the output folder (and its chunks folder) and open the job journal."""
    out_dir = Path(out_dir)
    try:
        (out_dir / CHUNKS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    path = out_dir / JOURNAL_NAME
    try:
        return Journal(path)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"cannot open the job journal {path}: {exc}") from None
