"""Per-window noise seeds: a hash of (seed, lattice, window origin), never of run order.

The generator draws its noise on the CPU from these seeds, so the same request gives the
same bytes on any machine and in any tile order, and another seed gives other pixels. The
hash itself lives in :mod:`satgeo.models.noise_field` (families below the engine use it too).
"""

from __future__ import annotations

from satgeo.models.noise_field import field_noise_seed, window_noise_seed
from satgeo.render.plan import Lattice


def window_seed(seed: int, lattice: Lattice, row: int, col: int) -> int:
    """63-bit seed of the window whose top-left lattice pixel is (row, col)."""
    return window_noise_seed(seed, lattice.key, row, col)


def field_seed(seed: int, lattice: Lattice) -> int:
    """63-bit seed of the request's global noise field (``satgeo.models.noise_field``)."""
    return field_noise_seed(seed, lattice.key)
