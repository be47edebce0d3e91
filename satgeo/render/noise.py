"""Per-window noise seeds: a hash of (seed, lattice, window origin), never of run order.

The generator draws its noise on the CPU from these seeds, so the same request gives the
same bytes on any machine and in any tile order, and another seed gives other pixels.
"""

from __future__ import annotations

import hashlib

from satgeo.render.plan import Lattice


def _hash63(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


def window_seed(seed: int, lattice: Lattice, row: int, col: int) -> int:
    """63-bit seed of the window whose top-left lattice pixel is (row, col)."""
    return _hash63(f"{int(seed)}|{lattice.key}|{int(row)}|{int(col)}")


def field_seed(seed: int, lattice: Lattice) -> int:
    """63-bit seed of the request's global noise field (``satgeo.models.noise_field``)."""
    return _hash63(f"{int(seed)}|{lattice.key}|field")
