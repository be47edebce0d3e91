"""Atomic file writes: a file appears at its final path complete, or not at all.

Every writer in satgeo that must never leave a half-written file (COGs, STAC items, journals,
checkpoints, downloads, PNGs) writes to a temporary sibling and renames it into place, through
this module. The sibling lives in the same folder (so the rename is atomic on one filesystem),
keeps the final suffix (so format-by-extension writers such as GDAL and PIL still work), and is
hidden and unique per process and call, so concurrent writers never share one.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_sibling(path: Path) -> Path:
    """A fresh hidden path next to ``path`` with the same suffix, e.g. ``.a.1234-9f2c.tmp.tif``."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(3)}.tmp{path.suffix}")


def is_temp_sibling(candidate: Path, path: Path) -> bool:
    """Is ``candidate`` a ``temp_sibling`` of ``path`` (what a killed writer leaves behind)?"""
    pattern = rf"\.{re.escape(path.stem)}\.\d+-[0-9a-f]+\.tmp{re.escape(path.suffix)}"
    return candidate.parent == path.parent and re.fullmatch(pattern, candidate.name) is not None


def remove(p: Path) -> None:
    """Delete a file or a whole folder, if it is there."""
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling to write (a file, or a folder the caller creates); on a clean
    exit it replaces ``path``, on any exception it is deleted and ``path`` is left as it was.

    A folder can only replace a missing or empty folder (``os.replace``'s rule).
    """
    final = Path(path)
    tmp = temp_sibling(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists() or tmp.is_symlink():
            remove(tmp)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; ``fsync`` also flushes it to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)
