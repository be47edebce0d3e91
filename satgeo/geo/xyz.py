"""XYZ (slippy-map) tile math in Web Mercator (EPSG:3857), 256 px tiles unless told.

The one place for Web Mercator maths in satgeo: the tile server, the batch engine's XYZ
lattices and the benches all use it. Tiles and pixels are on the global lattice anchored at
the Web Mercator corner (``-ORIGIN_SHIFT``, ``ORIGIN_SHIFT``), so a pixel's position depends
only on its zoom and global index.

Web Mercator metres are not ground metres: a z-level pixel is ``C / (tile_size * 2**z)``
Mercator metres (C = the equator's length) and ``that * cos(lat)`` ground metres.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeVar

import mercantile
import numpy as np
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from satgeo.errors import InputError
from satgeo.geo.crs import WEB_MERCATOR
from satgeo.geo.grid import Grid

#: Half the Web Mercator world width, metres.
ORIGIN_SHIFT = 20037508.342789244
ArrayOrScalar = TypeVar("ArrayOrScalar", np.ndarray, np.float64)
#: Pixels a side of an XYZ tile.
TILE_SIZE = 256
#: Deepest zoom level satgeo serves.
MAX_ZOOM = 24
#: Web Mercator's latitude limit.
MAX_LAT = 85.0511287798066


def mercator_pixel_size(zoom: int, tile_size: int = 256) -> float:
    """Pixel size in Web Mercator metres at ``zoom``."""
    return 2 * ORIGIN_SHIFT / float(tile_size * 2**zoom)


def tile_ground_gsd(zoom: int, lat: float, tile_size: int = 256) -> float:
    """Ground metres per pixel of a ``zoom`` tile at latitude ``lat``."""
    return mercator_pixel_size(zoom, tile_size) * math.cos(math.radians(lat))


def mercator_scale(lat: float) -> float:
    """Web Mercator metres per ground metre at latitude ``lat``."""
    return 1 / math.cos(math.radians(lat))


def native_zoom_for(gsd: float, lat: float, tile_size: int = 256, lo: int = 1, hi: int = 22) -> int:
    """The zoom whose ground pixel size at ``lat`` is closest to ``gsd`` (in log scale), within ``lo..hi``."""
    return int(min(hi, max(lo, round(math.log2(tile_ground_gsd(0, lat, tile_size) / gsd)))))


def zoom_for_gsd(gsd: float, lat: float, tile_size: int = 256) -> int:
    """The coarsest zoom whose pixels are at most ``gsd`` ground metres at ``lat``."""
    if not (math.isfinite(gsd) and gsd > 0):
        raise InputError(f"GSD must be a positive number, got {gsd}")
    if not abs(lat) < MAX_LAT:
        raise InputError(f"latitude {lat} is outside Web Mercator (|lat| < {MAX_LAT:.2f})")
    z = math.ceil(math.log2(2 * ORIGIN_SHIFT * math.cos(math.radians(lat)) / (tile_size * gsd)) - 1e-9)
    return int(min(max(z, 0), MAX_ZOOM))


def check_tile(x: int, y: int, z: int) -> None:
    """Refuse a tile index outside zoom 0..MAX_ZOOM or outside its zoom's 2**z x 2**z tiles."""
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InputError(f"tile {z}/{x}/{y} does not exist")


def tile_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of tile x/y/z in Web Mercator metres."""
    check_tile(x, y, z)
    size = 2 * ORIGIN_SHIFT / 2**z
    west = -ORIGIN_SHIFT + x * size
    north = ORIGIN_SHIFT - y * size
    return (west, north - size, west + size, north)


def _mercator_xy(lon: ArrayOrScalar, lat: ArrayOrScalar) -> tuple[ArrayOrScalar, ArrayOrScalar]:
    x = lon * ORIGIN_SHIFT / 180.0
    y = np.log(np.tan((90.0 + lat) * np.pi / 360.0)) * ORIGIN_SHIFT / np.pi
    return x, y


def lonlat_to_mercator(lon: float, lat: float) -> tuple[float, float]:
    """EPSG:3857 (x, y) metres of a lon/lat point (spherical Web Mercator)."""
    x, y = _mercator_xy(np.float64(lon), np.float64(lat))
    return (float(x), float(y))


def pixel_centres(
    z: int, tile_size: int, row0: int, col0: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:3857 x (width,) and y (height,) of the centres of global pixel rows/cols at zoom ``z``."""
    res = mercator_pixel_size(z, tile_size)
    xs = -ORIGIN_SHIFT + (np.arange(col0, col0 + width, dtype=np.float64) + 0.5) * res
    ys = ORIGIN_SHIFT - (np.arange(row0, row0 + height, dtype=np.float64) + 0.5) * res
    return xs, ys


def tile_grid(x: int, y: int, z: int, tile_size: int = 256) -> Grid:
    """The pixel grid of tile x/y/z in EPSG:3857."""
    west, _, _, north = tile_bounds(x, y, z)
    px = mercator_pixel_size(z, tile_size)
    return Grid(WEB_MERCATOR, Affine(px, 0.0, west, 0.0, -px, north), tile_size, tile_size)


def tile_center_lonlat(x: int, y: int, z: int) -> tuple[float, float]:
    b = mercantile.bounds(x, y, z)
    return ((b.west + b.east) / 2, (b.south + b.north) / 2)


def tiles_for_geometry(geom: BaseGeometry, zoom: int) -> list[tuple[int, int, int]]:
    """(x, y, z) of every ``zoom`` tile that intersects ``geom`` (EPSG:4326 lon/lat).

    Longitudes beyond +-180 (areas across the antimeridian) wrap around.
    """
    if not 0 <= zoom <= MAX_ZOOM:
        raise InputError(f"zoom must be within 0..{MAX_ZOOM}, got {zoom}")
    if geom is None or geom.is_empty:
        return []
    parts = _wrap_lon(geom)
    out: set[tuple[int, int, int]] = set()
    for part in parts:
        w, s, e, n = part.bounds
        s, n = max(s, -MAX_LAT + 1e-9), min(n, MAX_LAT - 1e-9)
        if n <= s:
            continue
        cands = list(mercantile.tiles(w, s, e, n, [zoom]))
        xs = np.array([t.x for t in cands], dtype=np.int64)
        ys = np.array([t.y for t in cands], dtype=np.int64)
        merc = _to_mercator(part)
        size = 2 * ORIGIN_SHIFT / 2**zoom
        boxes = shapely.box(
            -ORIGIN_SHIFT + xs * size, ORIGIN_SHIFT - (ys + 1) * size,
            -ORIGIN_SHIFT + (xs + 1) * size, ORIGIN_SHIFT - ys * size,
        )
        shapely.prepare(merc)
        hit = shapely.intersects(merc, boxes)
        out.update((int(x), int(y), zoom) for x, y in zip(xs[hit], ys[hit]))
    return sorted(out, key=lambda t: (t[1], t[0]))


def iter_tiles(geom: BaseGeometry, zoom: int) -> Iterator[tuple[int, int, int]]:
    yield from tiles_for_geometry(geom, zoom)


def _to_mercator(geom: BaseGeometry) -> BaseGeometry:
    def fwd(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(_mercator_xy(coords[:, 0], np.clip(coords[:, 1], -MAX_LAT, MAX_LAT)))

    return shapely.transform(geom, fwd)


def _wrap_lon(geom: BaseGeometry) -> list[BaseGeometry]:
    """Split a lon/lat geometry that runs past +-180 into pieces inside -180..180."""
    w, _, e, _ = geom.bounds
    if w >= -180 and e <= 180:
        return [geom]
    pieces = []
    for shift in (-360.0, 0.0, 360.0):
        window = shapely.box(-180 - shift, -90, 180 - shift, 90)
        piece = shapely.intersection(geom, window)
        if not piece.is_empty:
            pieces.append(shapely.transform(piece, lambda c, s=shift: c + np.array([s, 0.0])))
    return pieces
