"""One global noise field per (seed, lattice), sampled at lattice pixel positions.

Channel k at lattice pixel (row, col) is a pure function of (field seed, k, row, col), so
every window that covers a pixel sees the same noise there, whichever window it is, in any
order, on any machine. Two kinds of channel:

* white: independent values in [-1, 1) per pixel (fine texture);
* smooth: value noise on a coarse grid of ``cell`` pixels, interpolated with a smoothstep
  (patches larger than the generator's receptive field: field strips, roof tints, silt).

Hashing is splitmix64 over uint64 arithmetic (wrapping), and interpolation is float32
elementwise arithmetic: bit-identical everywhere.

The seeds themselves (``window_noise_seed`` per window, ``field_noise_seed`` per field) are
63-bit BLAKE2b hashes of (seed, lattice key, ...): the one definition the render engine
(``satgeo.render.noise``) and the families share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_ROW = np.uint64(0xD1B54A32D192ED03)
_COL = np.uint64(0xABC98388FB8FAC03)
_CHAN = np.uint64(0x8CB92BA72F3D8DD7)


def hash63(text: str) -> int:
    """A 63-bit integer hash (BLAKE2b, 8 bytes, little-endian) of ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


def window_noise_seed(seed: int, lattice_key: str, row: int, col: int) -> int:
    """63-bit noise seed of the window whose top-left lattice pixel is (row, col): order-independent."""
    return hash63(f"{int(seed)}|{lattice_key}|{int(row)}|{int(col)}")


def field_noise_seed(seed: int, lattice_key: str) -> int:
    """63-bit seed of a request's global noise field (``field_noise``)."""
    return hash63(f"{int(seed)}|{lattice_key}|field")


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        x = x + _GOLD
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _u64(v: np.ndarray | int) -> np.ndarray:
    return np.asarray(v, np.int64).astype(np.uint64)


def hash_uniform(seed: int, channel: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 values in [-1, 1) for every (row, col) pair of the broadcast ``rows`` x ``cols``."""
    with np.errstate(over="ignore"):
        base = _splitmix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ (_u64(channel) * _CHAN))
        h = _splitmix(base ^ (_u64(rows)[:, None] * _ROW) ^ (_u64(cols)[None, :] * _COL))
    # top 24 bits -> exact float32 in [0, 1)
    return ((h >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -23)) - np.float32(1.0)


def _smooth(seed: int, channel: int, rows: np.ndarray, cols: np.ndarray, cell: int) -> np.ndarray:
    r0, c0 = np.floor_divide(rows, cell), np.floor_divide(cols, cell)
    corners = hash_uniform(seed, channel, np.arange(r0[0], r0[-1] + 2), np.arange(c0[0], c0[-1] + 2))
    ir, ic = r0 - r0[0], c0 - c0[0]
    tr = ((rows - r0 * cell).astype(np.float32) + np.float32(0.5)) / np.float32(cell)
    tc = ((cols - c0 * cell).astype(np.float32) + np.float32(0.5)) / np.float32(cell)
    tr = (tr * tr * (np.float32(3) - np.float32(2) * tr))[:, None]
    tc = (tc * tc * (np.float32(3) - np.float32(2) * tc))[None, :]
    top = corners[ir][:, ic] * (np.float32(1) - tc) + corners[ir][:, ic + 1] * tc
    bottom = corners[ir + 1][:, ic] * (np.float32(1) - tc) + corners[ir + 1][:, ic + 1] * tc
    return top * (np.float32(1) - tr) + bottom * tr


def field_noise(
    seed: int, origins: Sequence[tuple[int, int]], height: int, width: int,
    white: int = 2, smooth: int = 2, cell: int = 32,
) -> np.ndarray:
    """(N, white + smooth, height, width) float32 noise for windows whose top-left lattice pixels are ``origins``."""
    out = np.empty((len(origins), white + smooth, height, width), np.float32)
    for n, (r, c) in enumerate(origins):
        rows = np.arange(r, r + height, dtype=np.int64)
        cols = np.arange(c, c + width, dtype=np.int64)
        for k in range(white):
            out[n, k] = hash_uniform(seed, k, rows, cols)
        for k in range(smooth):
            # scale up so the smooth channels have about the white channels' spread
            out[n, white + k] = _smooth(seed, 1000 + k, rows, cols, cell) * np.float32(1.7)
    return out
