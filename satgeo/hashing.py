"""Content hashes of files (model weights, downloads, finished batch chunks): the one file hasher."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file (any ``hashlib`` algorithm: sha256, md5 for Zenodo's checksums), read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return file_digest(path, "sha256")
