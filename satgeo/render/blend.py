"""Feathered blending of overlapping windows, streamed row band by row band.

Each window is weighted by a separable smoothstep ramp over its ``overlap`` border pixels.
The ramp satisfies w(t) + w(t + stride) = 1 in every overlap, so the weights of all
windows covering a lattice pixel sum to 1 (a partition of unity): a pixel's value is
a convex mix of the windows that saw it, and no window edge is ever a visible step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from satgeo.render.plan import Lattice

#: make_row(i, js) -> (len(js), T, T, 3) uint8: the windows (i, j) for j in js
RowMaker = Callable[[int, Sequence[int]], np.ndarray]


def ramp(tile: int, overlap: int) -> np.ndarray:
    """(tile,) float32 weights: smoothstep up over the first ``overlap`` px, down over the last."""
    w = np.ones(tile, np.float32)
    if overlap > 0:
        t = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
        up = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
        w[:overlap] = up
        w[tile - overlap:] = up[::-1]
    return w


class NativeCanvas:
    """Lattice rows [row0, row1) x columns [col0, col1), produced top to bottom.

    ``rows(a, b)`` must be asked with non-decreasing ``a``; window rows are generated once,
    as they are needed, and memory stays at about one window row plus the rows asked for.
    """

    def __init__(
        self, lattice: Lattice, row0: int, col0: int, row1: int, col1: int, make_row: RowMaker,
        on_row: Callable[[int, int], None] | None = None,
    ) -> None:
        self.lat = lattice
        self.row0, self.col0, self.row1, self.col1 = row0, col0, row1, col1
        self.make_row = make_row
        self.on_row = on_row
        self.irange = lattice.windows_1d(row0, row1)
        self.jrange = lattice.windows_1d(col0, col1)
        s, t = lattice.stride, lattice.tile
        self.x0 = self.jrange.start * s  # lattice column of the accumulators' first column
        width = (self.jrange.stop - 1) * s + t - self.x0
        self.acc = np.zeros((t, width, 3), np.float32)
        self.wsum = np.zeros((t, width), np.float32)
        w = ramp(t, lattice.overlap)
        self.weight = np.outer(w, w)
        self.next_i = self.irange.start
        self.base = self.next_i * s  # lattice row of acc[0]
        # finished rows not yet handed out: lattice rows [ready_start, ready_start + len)
        self.ready: list[np.ndarray] = []
        self.ready_start = self.base

    @property
    def total_rows(self) -> int:
        return len(self.irange)

    def _ready_end(self) -> int:
        return self.ready_start + sum(len(r) for r in self.ready)

    def _advance(self) -> None:
        i = self.next_i
        s, t = self.lat.stride, self.lat.tile
        js = list(self.jrange)
        tiles = self.make_row(i, js)
        for k, j in enumerate(js):
            x = j * s - self.x0
            self.acc[:, x:x + t] += tiles[k].astype(np.float32) * self.weight[:, :, None]
            self.wsum[:, x:x + t] += self.weight
        done = self.acc[:s] / np.maximum(self.wsum[:s], 1e-12)[:, :, None]
        c = self.col0 - self.x0
        self.ready.append(np.clip(np.rint(done[:, c:c + self.col1 - self.col0]), 0, 255).astype(np.uint8))
        # shift the accumulators up by one stride
        o = t - s
        self.acc[:o] = self.acc[s:]
        self.wsum[:o] = self.wsum[s:]
        self.acc[o:] = 0
        self.wsum[o:] = 0
        self.base += s
        self.next_i += 1
        if self.on_row is not None:
            self.on_row(self.next_i - self.irange.start, self.total_rows)

    def rows(self, a: int, b: int) -> np.ndarray:
        """(b - a, col1 - col0, 3) uint8 for lattice rows [a, b) (inside [row0, row1))."""
        if a < self.ready_start:
            raise ValueError(f"row {a} was already released (rows must be asked in order)")
        if a < self.row0 or b > self.row1 or b <= a:
            raise ValueError(f"rows [{a}, {b}) outside the canvas [{self.row0}, {self.row1})")
        while self._ready_end() < b:
            self._advance()
        # release what callers will not ask again
        while self.ready and self.ready_start + len(self.ready[0]) <= a:
            self.ready_start += len(self.ready.pop(0))
        block = np.concatenate(self.ready) if len(self.ready) > 1 else self.ready[0]
        return block[a - self.ready_start:b - self.ready_start]
