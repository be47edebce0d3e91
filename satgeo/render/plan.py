"""The global window lattice a render lives on.

A ``Lattice`` is anchored at the work CRS's origin: lattice pixel (r, c) has its top-left
corner at x = c * gsd, y = -r * gsd. Window (i, j) covers lattice rows [i*S, i*S + T) and
columns [j*S, j*S + T) with T the model's tile size and S = T - overlap. Because the lattice
depends only on (CRS, GSD, T, overlap), any area, chunk or metatile is an exact crop of one
virtual image: same pixels whatever is asked first, and no seams between chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS

from satgeo.errors import InputError
from satgeo.geo.grid import Grid


@dataclass(frozen=True)
class Lattice:
    crs: CRS
    gsd: float
    tile: int
    overlap: int

    def __post_init__(self) -> None:
        if not (0 <= self.overlap * 2 <= self.tile):
            raise InputError(f"overlap {self.overlap} must be between 0 and half the tile ({self.tile})")

    @property
    def stride(self) -> int:
        return self.tile - self.overlap

    @property
    def key(self) -> str:
        """Identifies the lattice in noise hashes."""
        epsg = self.crs.to_epsg()
        crs = f"EPSG:{epsg}" if epsg else self.crs.to_wkt()
        return f"{crs}|{self.gsd:.9g}|{self.tile}|{self.overlap}"

    def grid(self, row: int, col: int, height: int, width: int) -> Grid:
        """The grid of lattice rows [row, row+height) and columns [col, col+width)."""
        g = self.gsd
        return Grid(self.crs, Affine(g, 0.0, col * g, 0.0, -g, -row * g), width, height)

    def rect_for_bounds(self, bounds: tuple[float, float, float, float], margin: int = 0) -> tuple[int, int, int, int]:
        """(row0, col0, row1, col1): the lattice pixels covering ``bounds`` (lattice CRS) plus ``margin``."""
        west, south, east, north = bounds
        g = self.gsd
        col0 = math.floor(west / g + 1e-9) - margin
        col1 = math.ceil(east / g - 1e-9) + margin
        row0 = math.floor(-north / g + 1e-9) - margin
        row1 = math.ceil(-south / g - 1e-9) + margin
        return row0, col0, max(row1, row0 + 1), max(col1, col0 + 1)

    def windows_1d(self, start: int, stop: int) -> range:
        """Indices of the windows meeting pixels [start, stop) along one axis."""
        s, t = self.stride, self.tile
        first = (start - t) // s + 1
        last = -(-stop // s) - 1  # ceil(stop / s) - 1
        return range(first, last + 1)

    def offset_of(self, grid: Grid) -> tuple[int, int] | None:
        """(row, col) of ``grid`` on this lattice, or None when it is not an exact crop."""
        t = grid.transform
        if grid.crs != self.crs or t.b or t.d or not math.isclose(t.a, self.gsd, rel_tol=1e-9) \
                or not math.isclose(-t.e, self.gsd, rel_tol=1e-9):
            return None
        col, row = t.c / self.gsd, -t.f / self.gsd
        rc, rr = round(col), round(row)
        if abs(col - rc) > 1e-6 or abs(row - rr) > 1e-6:
            return None
        return rr, rc


def snapped_grid(crs: CRS, bounds: tuple[float, float, float, float], gsd: float) -> Grid:
    """A grid of ``gsd`` pixels covering ``bounds`` whose corners sit on multiples of ``gsd``.

    Snapping makes grids of the same CRS and GSD exact crops of one another.
    """
    west, south, east, north = bounds
    c0, c1 = math.floor(west / gsd + 1e-9), math.ceil(east / gsd - 1e-9)
    r0, r1 = math.floor(-north / gsd + 1e-9), math.ceil(-south / gsd - 1e-9)
    return Grid(crs, Affine(gsd, 0.0, c0 * gsd, 0.0, -gsd, -r0 * gsd), max(1, c1 - c0), max(1, r1 - r0))
