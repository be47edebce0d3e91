"""An MBTiles (SQLite) tile cache per scene, plus markers of the metatiles already generated."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tiles (
    zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB,
    PRIMARY KEY (zoom_level, tile_column, tile_row)
);
CREATE TABLE IF NOT EXISTS satgeo_metatiles (
    zoom INTEGER, mx INTEGER, my INTEGER, PRIMARY KEY (zoom, mx, my)
);
"""


class TileCache:
    """Tiles keyed by XYZ (stored with the TMS row MBTiles uses). One connection per thread."""

    def __init__(self, path: Path, metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        con = self._con()
        con.executescript(SCHEMA)
        if metadata:
            with con:
                con.executemany("INSERT OR REPLACE INTO metadata VALUES (?, ?)", list(metadata.items()))

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def get(self, z: int, x: int, y: int) -> bytes | None:
        row = self._con().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
        return row[0] if row else None

    def put(self, z: int, x: int, y: int, data: bytes) -> None:
        self.put_many(z, [((x, y), data)])

    def put_many(self, z: int, tiles: Iterable[tuple[tuple[int, int], bytes]],
                 metatile: tuple[int, int] | None = None) -> None:
        """Store tiles (and the metatile marker) in one transaction: all or nothing."""
        con = self._con()
        with con:
            con.executemany(
                "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)",
                [(z, x, (1 << z) - 1 - y, sqlite3.Binary(d)) for (x, y), d in tiles],
            )
            if metatile is not None:
                con.execute("INSERT OR REPLACE INTO satgeo_metatiles VALUES (?, ?, ?)", (z, *metatile))

    def has_metatile(self, z: int, mx: int, my: int) -> bool:
        return self._con().execute(
            "SELECT 1 FROM satgeo_metatiles WHERE zoom = ? AND mx = ? AND my = ?", (z, mx, my)
        ).fetchone() is not None
