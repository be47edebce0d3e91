"""Vector layers -> a uint8 multi-class mask on a grid.

Classes and how features get them are in ``satgeo.geo.classes``; reading layers (and the one
CRS policy for files without a CRS) is in ``satgeo.geo.layers``.

Class priority where features overlap (highest wins): building > road > water > vegetation
> background. Buildings sit on top of everything; roads cross rivers on bridges; water
inside a park is water.

Lines become polygons by buffering half their width in metres, in a metric CRS (the target
CRS when it is true-scale, else the local UTM zone).

Burning follows GDAL's pixel-centre rule unless ``all_touched``. ``load_layers`` reads,
classifies, buffers and indexes the layers once; ``rasterize_layers`` on a ``LayerSet`` then
costs only the geometries near each grid (what the tile server and batch engine use).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize

from satgeo.errors import InputError
from satgeo.geo.area import Area
from satgeo.geo.classes import (
    BACKGROUND,
    BUILDING,
    BURN_ORDER,
    CLASS_NAMES,
    PALETTE,
    ROAD,
    VEGETATION,
    WATER,
    classify,
    parse_other_tags,
)
from satgeo.geo.cog import CogWriter
from satgeo.geo.crs import parse_crs, utm_crs_for
from satgeo.geo.grid import Grid
from satgeo.geo.layers import Layer, read_layer

#: A GeoJSON geometry as rasterio burns it.
GeoJSON: TypeAlias = "dict[str, Any]"

__all__ = [  # read_layer and Layer live in satgeo.geo.layers; kept importable from here
    "BACKGROUND", "BUILDING", "ROAD", "WATER", "VEGETATION", "CLASS_NAMES", "PALETTE", "Layer", "LayerSet",
    "classify", "cached_layers", "load_layers", "parse_other_tags", "rasterize_layers", "read_layer", "write_mask",
]


def _true_scale(crs: CRS, lon: float, lat: float) -> bool:
    """Is ``crs`` a metric CRS whose scale at (lon, lat) is within 1% of 1?"""
    if not crs.is_projected or abs(float(crs.linear_units_factor[1]) - 1.0) > 1e-9:
        return False
    from pyproj import Proj

    try:
        f = Proj(crs.to_wkt()).get_factors(lon, lat)
    except Exception:  # noqa: BLE001 - pyproj raises on points outside the projection
        return False
    return abs(f.meridional_scale - 1) < 0.01 and abs(f.parallel_scale - 1) < 0.01


@dataclass
class LayerSet:
    """Classified, line-buffered polygons of some layers, indexed for fast per-grid burning."""

    crs: CRS
    geoms: np.ndarray  # shapely polygons in ``crs``
    classes: np.ndarray  # uint8 class per geometry, already sorted in burn order
    tree: shapely.STRtree = field(repr=False)
    _other: dict[str, LayerSet] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # GeoJSON dicts of geometries already burned once: rasterio converts shapely objects through
    # __geo_interface__ on every call, which dominates per-tile cost otherwise.
    _mapped: dict[int, list[GeoJSON]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, crs: CRS, geoms: np.ndarray, classes: np.ndarray) -> LayerSet:
        rank = np.zeros(256, np.int64)
        rank[list(BURN_ORDER)] = np.arange(len(BURN_ORDER))
        order = np.argsort(rank[classes.astype(np.int64)], kind="stable")
        geoms, classes = geoms[order], classes[order]
        return cls(crs, geoms, classes, shapely.STRtree(geoms))

    def __len__(self) -> int:
        return len(self.geoms)

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        if not len(self.geoms):
            return None
        w, s, e, n = (float(v) for v in shapely.total_bounds(self.geoms))
        return (w, s, e, n)

    def counts(self) -> dict[str, int]:
        return {CLASS_NAMES[c]: int((self.classes == c).sum()) for c in BURN_ORDER}

    def in_crs(self, crs: CRS) -> LayerSet:
        """This set in another CRS (cached)."""
        if crs == self.crs:
            return self
        key = crs.to_wkt()
        with self._lock:
            if key not in self._other:
                gs = gpd.GeoSeries(self.geoms, crs=self.crs).to_crs(crs)
                geoms = gs.to_numpy()
                ok = ~(shapely.is_empty(geoms) | ~np.isfinite(shapely.bounds(geoms)).all(axis=1))
                self._other[key] = LayerSet(crs, geoms[ok], self.classes[ok], shapely.STRtree(geoms[ok]))
            return self._other[key]

    def clipped(self, bounds: tuple[float, float, float, float], crs: CRS) -> LayerSet:
        """This set (in ``crs``) cut to ``bounds``: burning any grid inside ``bounds`` gives the same mask.

        A landuse polygon kilometres across costs GDAL every one of its vertices on every grid it
        is burned on; cut once to the area being rendered, it costs a few.
        """
        ls = self.in_crs(crs)
        idx = np.sort(ls.tree.query(shapely.box(*bounds)))
        geoms = shapely.clip_by_rect(ls.geoms[idx], *bounds)
        keep = ~shapely.is_empty(geoms)
        return LayerSet(crs, geoms[keep], ls.classes[idx][keep], shapely.STRtree(geoms[keep]))

    def rasterize(self, grid: Grid, all_touched: bool = False) -> np.ndarray:
        """The class mask on ``grid``."""
        ls = self.in_crs(grid.crs)
        mask = np.zeros((grid.height, grid.width), dtype=np.uint8)
        if not len(ls.geoms):
            return mask
        t = grid.transform
        x0, y0 = t.c, t.f
        x1, y1 = x0 + t.a * grid.width + t.b * grid.height, y0 + t.d * grid.width + t.e * grid.height
        idx = ls.tree.query(shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        if not len(idx):
            return mask
        idx.sort()  # keep burn order
        shapes: list[tuple[GeoJSON, int]] = []
        for i, value in zip(idx.tolist(), ls.classes[idx].tolist()):
            shapes.extend((part, value) for part in ls._parts(i))
        _burn(shapes, mask, t, all_touched)
        return mask

    def _parts(self, i: int) -> list[GeoJSON]:
        """GeoJSON polygons of geometry ``i``, converted once (multi-parts burned one by one,
        as rasterio does, so overlapping parts leave no holes)."""
        parts = self._mapped.get(i)
        if parts is None:
            geom = self.geoms[i]
            polys = shapely.get_parts(geom) if geom.geom_type in ("MultiPolygon", "GeometryCollection") else [geom]
            parts = [p.__geo_interface__ for p in polys if p.geom_type == "Polygon" and not p.is_empty]
            self._mapped[i] = parts
        return parts


def _burn(shapes: list[tuple[GeoJSON, int]], out: np.ndarray, transform: Affine, all_touched: bool) -> None:
    """Burn (GeoJSON polygon, value) pairs into ``out`` in order, with GDAL's rasterizer.

    Tiles are small, so the public ``rasterio.features.rasterize`` wrapper (which re-validates
    every shape and sets up a GDAL environment per call) costs more than the burning itself;
    its core ``_rasterize`` is called directly when available.
    """
    global _FAST_BURN
    if not shapes:
        return
    if _FAST_BURN is not None:
        try:
            _FAST_BURN(shapes, out, transform, all_touched, _MERGE_REPLACE)
            return
        except TypeError:  # a rasterio whose private signature changed: use the public API
            _FAST_BURN = None
    rasterize(shapes, out=out, transform=transform, all_touched=all_touched, dtype=np.uint8)


try:
    from rasterio._features import _rasterize as _FAST_BURN
    from rasterio.enums import MergeAlg

    _MERGE_REPLACE = MergeAlg.replace
    # the first burn through the public API registers GDAL's drivers (MEM) in this process
    rasterize([({"type": "Polygon", "coordinates": [[(0, 0), (1, 0), (1, 1), (0, 0)]]}, 1)],
              out=np.zeros((1, 1), np.uint8), transform=Affine.identity())
except ImportError:  # pragma: no cover - depends on the rasterio build
    _FAST_BURN = None
    _MERGE_REPLACE = None


def load_layers(
    layers: Sequence[Layer],
    crs: CRS | str,
    road_width: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> LayerSet:
    """Read, classify, buffer (lines) and index ``layers`` in ``crs``.

    ``road_width`` (metres) overrides every road's width. ``bbox`` (lon/lat) limits reading.
    """
    crs = parse_crs(crs)
    if road_width is not None and not (math.isfinite(road_width) and road_width > 0):
        raise InputError(f"road width must be a positive number of metres, got {road_width}")
    all_geoms: list[np.ndarray] = []
    all_classes: list[np.ndarray] = []
    for layer in layers:
        gdf = read_layer(layer, bbox=bbox)  # under the one CRS policy of satgeo.geo.layers
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if gdf.empty:
            continue
        classes, widths = classify(gdf, road_width)
        keep = classes > 0
        gdf, classes, widths = gdf[keep], classes[keep], widths[keep]
        if gdf.empty:
            continue
        geoms = gdf.geometry.to_numpy()
        bad = ~shapely.is_valid(geoms)
        if bad.any():
            geoms[bad] = shapely.make_valid(geoms[bad])
        lines = np.isfinite(widths)
        polys = gpd.GeoSeries(geoms[~lines], crs=gdf.crs).to_crs(crs).to_numpy()
        out_geoms = [polys]
        out_classes = [classes[~lines]]
        if lines.any():
            line_gs = gpd.GeoSeries(geoms[lines], crs=gdf.crs)
            w, s, e, n = line_gs.to_crs(4326).total_bounds
            cx, cy = (w + e) / 2, (s + n) / 2
            metric = crs if _true_scale(crs, cx, cy) else utm_crs_for(cx, cy)
            buffered = shapely.buffer(line_gs.to_crs(metric).to_numpy(), widths[lines] / 2.0, quad_segs=16)
            out_geoms.append(gpd.GeoSeries(buffered, crs=metric).to_crs(crs).to_numpy())
            out_classes.append(classes[lines])
        all_geoms.extend(out_geoms)
        all_classes.extend(out_classes)
    if not all_geoms:
        return LayerSet.build(crs, np.array([], dtype=object), np.array([], dtype=np.uint8))
    geoms = np.concatenate(all_geoms)
    classes = np.concatenate(all_classes).astype(np.uint8)
    # Parts of polygonal/collection results: keep only areas (make_valid may emit lines).
    ok = ~shapely.is_empty(geoms) & np.isfinite(shapely.bounds(geoms)).all(axis=1)
    return LayerSet.build(crs, geoms[ok], classes[ok])


_CacheKey: TypeAlias = "tuple[tuple[tuple[str, int, int], ...], str, float | None]"
_CACHE: OrderedDict[_CacheKey, LayerSet] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _cache_key(layers: Sequence[Layer], crs: CRS, road_width: float | None) -> _CacheKey | None:
    parts = []
    for layer in layers:
        if isinstance(layer, gpd.GeoDataFrame):
            return None
        p = os.path.abspath(os.fspath(layer))
        try:
            st = os.stat(p)
        except OSError:
            return None
        parts.append((p, st.st_mtime_ns, st.st_size))
    return (tuple(parts), crs.to_wkt(), road_width)


def cached_layers(layers: Sequence[Layer], crs: CRS | str, road_width: float | None = None) -> LayerSet:
    """``load_layers`` with a small in-process cache keyed on the files' paths, mtimes and sizes."""
    crs = parse_crs(crs)
    key = _cache_key(layers, crs, road_width)
    if key is None:
        return load_layers(layers, crs, road_width)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    ls = load_layers(layers, crs, road_width)
    with _CACHE_LOCK:
        _CACHE[key] = ls
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ls


def rasterize_layers(
    layers: Sequence[Layer] | LayerSet, grid: Grid, all_touched: bool = False
) -> np.ndarray:
    """The class mask of ``layers`` on ``grid`` (GDAL pixel-centre rule unless all_touched).

    ``layers`` is a ``LayerSet`` from ``load_layers`` (fast, for many grids) or paths /
    GeoDataFrames (loaded through a small cache).
    """
    if isinstance(layers, LayerSet):
        return layers.rasterize(grid, all_touched)
    if isinstance(layers, (str, Path, gpd.GeoDataFrame)):
        layers = [layers]
    return cached_layers(list(layers), grid.crs).rasterize(grid, all_touched)


#: Rows/columns rasterized at once by ``write_mask`` (bounds memory for any grid size).
MASK_CHUNK = 2048


def write_mask(
    layers: Sequence[Layer],
    area: Area,
    gsd: float,
    path: str | os.PathLike[str],
    road_width: float | None = None,
    all_touched: bool = False,
    progress: bool = False,
) -> Path:
    """Burn ``layers`` on ``area``'s work grid at ``gsd`` and write a class-mask COG, atomically.

    Refuses (``InputError``, nothing written) when no feature reaches the area.
    """
    import json

    from tqdm import tqdm

    grid = area.work_grid(gsd=gsd)
    w, s, e, n = area.bounds
    pad = 0.002  # degrees (~200 m): roads outside the area whose buffer reaches in
    bbox = None if (w - pad < -180 or e + pad > 180) else (w - pad, max(s - pad, -90), e + pad, min(n + pad, 90))
    ls = load_layers(layers, grid.crs, road_width=road_width, bbox=bbox)
    if not len(ls) or not len(ls.tree.query(shapely.box(*grid.bounds), predicate="intersects")):
        names = ", ".join(os.path.basename(os.fspath(p)) for p in layers if not isinstance(p, gpd.GeoDataFrame))
        raise InputError(f"no building, road, water or vegetation feature of {names or 'the layers'} intersects the area")
    tags = {
        "CLASSES": json.dumps({i: name for i, name in enumerate(CLASS_NAMES)}),
        "PRODUCT": "satgeo class mask",
        "GSD": f"{gsd:g}",
        "SOURCE_LAYERS": json.dumps([os.path.basename(os.fspath(p)) for p in layers if not isinstance(p, gpd.GeoDataFrame)]),
    }
    blocks = [(r, c) for r in range(0, grid.height, MASK_CHUNK) for c in range(0, grid.width, MASK_CHUNK)]
    with CogWriter(path, grid, 1, "uint8", tags=tags, overview_resampling="mode", colormap=PALETTE) as writer:
        for r, c in tqdm(blocks, desc="mask", unit="block", disable=not progress or len(blocks) < 2, file=None):
            sub = grid.window(c, r, min(MASK_CHUNK, grid.width - c), min(MASK_CHUNK, grid.height - r))
            writer.write(ls.rasterize(sub, all_touched), r, c)
    return Path(path)
