"""The batch plan: which tiles of a ``TileGrid`` touch features, grouped into aligned chunks.

(``TileGrid`` is the batch job's grid of output tiles; the model's render lattice is
``satgeo.render.plan.Lattice``.) Tiles live on a global lattice anchored at a fixed point of the work CRS (the CRS origin
for UTM work grids, the Web Mercator corner for XYZ zooms), never at the data's bounds,
so a chunk's pixels do not depend on what else is in the job. A tile is planned only when
a feature's geometry (not its bounding box) covers part of it; chunks are ``k x k`` tiles
of the same lattice and each becomes one COG covering the bounding box of its tiles.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from satgeo.errors import InputError
from satgeo.geo.crs import WEB_MERCATOR
from satgeo.geo.grid import Grid
from satgeo.geo.xyz import MAX_ZOOM, ORIGIN_SHIFT, TILE_SIZE, mercator_pixel_size


@dataclass(frozen=True)
class TileGrid:
    """Square tiles of ``tile_px`` pixels of ``gsd`` CRS units; tile (0, 0) has its top-left at ``origin``."""

    crs: CRS
    gsd: float
    tile_px: int
    origin: tuple[float, float]
    zoom: int | None = None  # set for XYZ (EPSG:3857) lattices

    @classmethod
    def utm(cls, crs: CRS, gsd: float, tile_px: int) -> TileGrid:
        if not (math.isfinite(gsd) and gsd > 0):
            raise InputError(f"--gsd must be a positive number of metres, got {gsd}")
        if tile_px < 16:
            raise InputError(f"tile size must be at least 16 px, got {tile_px}")
        return cls(crs, float(gsd), int(tile_px), (0.0, 0.0))

    @classmethod
    def xyz(cls, zoom: int) -> TileGrid:
        if not 0 <= zoom <= MAX_ZOOM:
            raise InputError(f"--zoom must be between 0 and {MAX_ZOOM}, got {zoom}")
        return cls(WEB_MERCATOR, mercator_pixel_size(zoom, TILE_SIZE), TILE_SIZE, (-ORIGIN_SHIFT, ORIGIN_SHIFT), zoom)

    @property
    def tile_size(self) -> float:
        """Tile side in CRS units."""
        return self.gsd * self.tile_px

    def tile_left_top(self, tx: int, ty: int) -> tuple[float, float]:
        s = self.tile_size
        return (self.origin[0] + tx * s, self.origin[1] - ty * s)

    def grid(self, tx0: int, ty0: int, tx1: int, ty1: int) -> Grid:
        """The grid covering tiles ``tx0..tx1`` x ``ty0..ty1`` (inclusive)."""
        left, top = self.tile_left_top(tx0, ty0)
        return Grid(
            self.crs,
            Affine(self.gsd, 0.0, left, 0.0, -self.gsd, top),
            (tx1 - tx0 + 1) * self.tile_px,
            (ty1 - ty0 + 1) * self.tile_px,
        )

    def tile_ranges(self, bounds: np.ndarray) -> tuple[np.ndarray, ...]:
        """Inclusive tile index ranges (tx0, tx1, ty0, ty1) of (N, 4) bounds."""
        s = self.tile_size
        ox, oy = self.origin
        tx0 = np.floor((bounds[:, 0] - ox) / s).astype(np.int64)
        tx1 = np.floor((bounds[:, 2] - ox) / s).astype(np.int64)
        ty0 = np.floor((oy - bounds[:, 3]) / s).astype(np.int64)
        ty1 = np.floor((oy - bounds[:, 1]) / s).astype(np.int64)
        return tx0, tx1, ty0, ty1

    def describe(self) -> dict:
        return {
            "crs": self.crs.to_string(),
            "gsd": self.gsd,
            "tile_px": self.tile_px,
            "origin": list(self.origin),
            "zoom": self.zoom,
        }


@dataclass(frozen=True)
class Chunk:
    """One unit of work: a lattice-aligned block of tiles, rendered and written as one COG."""

    id: str
    cx: int
    cy: int
    tiles: tuple[tuple[int, int], ...]  # (tx, ty) of the planned tiles, sorted
    grid: Grid  # covers the bounding box of ``tiles``

    @property
    def filename(self) -> str:
        return f"{self.id}.tif"

    @property
    def pixels(self) -> int:
        return self.grid.width * self.grid.height


@dataclass(frozen=True)
class Plan:
    lattice: TileGrid
    chunk_tiles: int
    chunks: tuple[Chunk, ...]

    @property
    def tile_count(self) -> int:
        return sum(len(c.tiles) for c in self.chunks)

    @property
    def pixel_count(self) -> int:
        return sum(c.pixels for c in self.chunks)

    def describe(self) -> dict:
        return {
            "lattice": self.lattice.describe(),
            "chunk_tiles": self.chunk_tiles,
            "chunks": [[c.id, [list(t) for t in c.tiles]] for c in self.chunks],
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()


def touched_tiles(geoms: np.ndarray, lattice: TileGrid) -> set[tuple[int, int]]:
    """Tiles whose interior some geometry reaches (touching along an edge does not count)."""
    geoms = geoms[~shapely.is_empty(geoms)] if len(geoms) else geoms
    if len(geoms) == 0:
        return set()
    bounds = shapely.bounds(geoms)
    tx0, tx1, ty0, ty1 = lattice.tile_ranges(bounds)
    nx, ny = tx1 - tx0 + 1, ty1 - ty0 + 1
    tiles: set[tuple[int, int]] = set()
    single = (nx == 1) & (ny == 1)
    tiles.update(zip(tx0[single].tolist(), ty0[single].tolist()))
    multi = np.flatnonzero(~single)
    if len(multi) == 0:
        return tiles
    # Candidate (geometry, tile) pairs from each geometry's bounds, then an exact test.
    counts = (nx * ny)[multi]
    gi = np.repeat(multi, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    width = np.repeat(nx[multi], counts)
    cand_tx = np.repeat(tx0[multi], counts) + offsets % width
    cand_ty = np.repeat(ty0[multi], counts) + offsets // width
    s = lattice.tile_size
    left = lattice.origin[0] + cand_tx * s
    top = lattice.origin[1] - cand_ty * s
    boxes = shapely.box(left, top - s, left + s, top)
    g = geoms[gi]
    hit = shapely.intersects(g, boxes) & ~shapely.touches(g, boxes)
    tiles.update(zip(cand_tx[hit].tolist(), cand_ty[hit].tolist()))
    return tiles


def group_chunks(tiles: Iterable[tuple[int, int]], lattice: TileGrid, chunk_tiles: int) -> tuple[Chunk, ...]:
    """Group tiles into ``chunk_tiles x chunk_tiles`` lattice blocks, in row-major order."""
    if chunk_tiles < 1:
        raise InputError(f"chunk size must be at least 1 tile, got {chunk_tiles}")
    blocks: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for tx, ty in tiles:
        blocks[(tx // chunk_tiles, ty // chunk_tiles)].append((tx, ty))
    chunks = []
    prefix = f"z{lattice.zoom}_" if lattice.zoom is not None else ""
    for (cx, cy) in sorted(blocks, key=lambda b: (b[1], b[0])):
        ts = tuple(sorted(blocks[(cx, cy)], key=lambda t: (t[1], t[0])))
        xs = [t[0] for t in ts]
        ys = [t[1] for t in ts]
        grid = lattice.grid(min(xs), min(ys), max(xs), max(ys))
        chunks.append(Chunk(f"{prefix}c{cx}_r{cy}", cx, cy, ts, grid))
    return tuple(chunks)


def make_plan(
    geoms: np.ndarray,
    lattice: TileGrid,
    chunk_tiles: int,
    aoi: BaseGeometry | None = None,
    line_margin: float = 0.0,
) -> Plan:
    """Plan the tiles touched by ``geoms`` (work CRS), optionally only inside ``aoi``.

    Lines are widened by ``line_margin`` (CRS units) first, since masks draw roads with a width.
    """
    geoms = np.asarray(geoms, dtype=object)
    if line_margin > 0 and len(geoms):
        linear = np.isin(shapely.get_type_id(geoms), [1, 2, 5])  # LineString, LinearRing, MultiLineString
        if linear.any():
            geoms = geoms.copy()
            geoms[linear] = shapely.buffer(geoms[linear], line_margin, cap_style="flat")
    if aoi is not None:
        geoms = shapely.intersection(geoms, aoi)
        geoms = geoms[~shapely.is_empty(geoms)]
        if len(geoms) == 0:
            raise InputError("no feature lies inside the --aoi area; check the AOI and the layers")
    tiles = touched_tiles(geoms, lattice)
    if not tiles:
        raise InputError("the layers cover no tile (empty or zero-area geometries only)")
    return Plan(lattice, chunk_tiles, group_chunks(tiles, lattice, chunk_tiles))
