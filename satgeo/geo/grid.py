"""The work grid: a CRS, an affine transform and a pixel size.

Everything satgeo rasterizes or generates lives on a ``Grid``. Pixel (row, col) covers
the square whose top-left corner is ``transform @ (col, row)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS

from satgeo.errors import InputError
from satgeo.geo.crs import parse_crs

#: Largest grid (pixels per side) satgeo builds; larger requests are refused.
MAX_GRID_SIDE = 100_000


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid in a projected (or geographic) CRS."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"grid must have a positive size, got {self.width} x {self.height} px")
        if max(self.width, self.height) > MAX_GRID_SIDE:
            raise InputError(
                f"grid of {self.width} x {self.height} px is above the limit of {MAX_GRID_SIDE} px a side; "
                "use a coarser --gsd or a smaller area"
            )

    @classmethod
    def from_bounds(cls, crs: CRS | str, bounds: tuple[float, float, float, float], gsd: float) -> Grid:
        """A grid of square ``gsd`` pixels whose top-left corner is (west, north).

        The size is rounded up so the grid covers the bounds.
        """
        west, south, east, north = bounds
        if not all(math.isfinite(v) for v in (west, south, east, north, gsd)):
            raise InputError("bounds and GSD must be finite numbers")
        if gsd <= 0:
            raise InputError(f"GSD must be positive, got {gsd}")
        if east <= west or north <= south:
            raise InputError(f"bounds have no area: {bounds}")
        width = max(1, math.ceil((east - west) / gsd - 1e-9))
        height = max(1, math.ceil((north - south) / gsd - 1e-9))
        if max(width, height) > MAX_GRID_SIDE:
            raise InputError(
                f"area at {gsd:g} m/px would be {width} x {height} px, above the limit of "
                f"{MAX_GRID_SIDE} px a side; use a coarser --gsd or a smaller area"
            )
        crs = parse_crs(crs)
        return cls(crs, Affine(gsd, 0.0, west, 0.0, -gsd, north), width, height)

    @property
    def gsd(self) -> float:
        """Pixel size in CRS units (metres for projected work grids)."""
        return abs(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in the grid's CRS."""
        west, north = self.transform @ (0, 0)
        east, south = self.transform @ (self.width, self.height)
        return (min(west, east), min(south, north), max(west, east), max(south, north))

    def window(self, col_off: int, row_off: int, width: int, height: int) -> Grid:
        """The sub-grid starting at pixel (col_off, row_off); it may extend past this grid."""
        return Grid(self.crs, self.transform @ Affine.translation(col_off, row_off), width, height)

    def with_gsd(self, gsd: float) -> Grid:
        """The same bounds on square pixels of ``gsd`` (size rounded up)."""
        west, _, _, north = self.bounds
        width = max(1, math.ceil(self.width * self.gsd / gsd - 1e-9))
        height = max(1, math.ceil(self.height * self.gsd / gsd - 1e-9))
        return Grid(self.crs, Affine(gsd, 0.0, west, 0.0, -gsd, north), width, height)
