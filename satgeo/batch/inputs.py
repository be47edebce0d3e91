"""Reading and checking the vector layers (and the optional AOI) of a batch job.

Every layer is read by ``satgeo.geo.layers`` (any GDAL vector format, OSM PBF included, and
its one CRS policy for files without a CRS), cleaned (invalid geometries repaired, points and empties dropped, collections
exploded) and reprojected to one work CRS. Problems a user can fix raise ``InputError``;
recoverable oddities come back as one-line notes for the CLI to print.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from satgeo.errors import InputError
from satgeo.geo.layers import read_named_layers

_POLYGONAL = ("Polygon", "MultiPolygon")
_LINEAR = ("LineString", "MultiLineString", "LinearRing")


@dataclass
class LoadedLayers:
    """Cleaned layers in the work CRS, plus what was changed on the way."""

    frames: list[gpd.GeoDataFrame]
    names: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def feature_count(self) -> int:
        return sum(len(f) for f in self.frames)

    def geometries(self) -> np.ndarray:
        parts = [f.geometry.values for f in self.frames if len(f)]
        return np.concatenate([np.asarray(p) for p in parts]) if parts else np.array([], dtype=object)

    def fingerprint(self) -> str:
        """A hash of every geometry and attribute: a resumed job must see the same input."""
        h = hashlib.sha256()
        for name, frame in zip(self.names, self.frames):
            h.update(name.encode())
            h.update(b"\0")
            for wkb in shapely.to_wkb(frame.geometry.values, hex=False, output_dimension=2):
                h.update(wkb)
            attrs = frame.drop(columns=frame.geometry.name)
            h.update(attrs.to_csv(index=False).encode())
        return h.hexdigest()


def split_spec(spec: str) -> tuple[Path, str | None]:
    """``path`` or ``path:layer`` (the latter only when ``path`` exists and the whole does not)."""
    p = Path(spec).expanduser()
    if p.exists() or ":" not in spec:
        return p, None
    head, _, layer = spec.rpartition(":")
    if Path(head).expanduser().exists() and layer:
        return Path(head).expanduser(), layer
    return p, None


def _read(spec: str) -> list[tuple[str, gpd.GeoDataFrame]]:
    path, layer = split_spec(spec)
    return read_named_layers(path, layer)


def _clean(label: str, gdf: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    """Polygons and lines only, valid, non-empty, one part type per row."""
    gdf = gdf[gdf.geometry.notna()]
    gdf = gdf[~gdf.geometry.is_empty]
    if gdf.empty:
        return gdf
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        fixed = shapely.make_valid(gdf.geometry.values[invalid.values])
        gdf = gdf.copy()
        gdf.loc[invalid, gdf.geometry.name] = fixed
        notes.append(f"{label}: repaired {int(invalid.sum())} invalid geometr{'y' if invalid.sum() == 1 else 'ies'}")
    types = gdf.geometry.geom_type
    if (types == "GeometryCollection").any():
        gdf = gdf.explode(index_parts=False)
        gdf = gdf[~gdf.geometry.is_empty]
        types = gdf.geometry.geom_type
    keep = types.isin(_POLYGONAL + _LINEAR)
    dropped = types[~keep].value_counts()
    if len(dropped):
        what = ", ".join(f"{n} {t}" for t, n in dropped.items())
        notes.append(f"{label}: ignored {what} feature(s); only polygons and lines make masks")
    gdf = gdf[keep]
    kinds = {("polygon" if t in _POLYGONAL else "line") for t in gdf.geometry.geom_type.unique()}
    if len(kinds) > 1:
        notes.append(f"{label}: mixes polygons and lines; each is classified on its own")
    return gdf


def read_layer_specs(specs: Sequence[str]) -> list[tuple[str, gpd.GeoDataFrame]]:
    """Read every layer of ``path`` / ``path:layer`` specs as given (no cleaning): ``[(label, frame), ...]``."""
    if not specs:
        raise InputError("give at least one vector layer (footprints, roads, water or landuse)")
    out: list[tuple[str, gpd.GeoDataFrame]] = []
    for spec in specs:
        out.extend(_read(spec))
    return out


def features_centroid(raw: Sequence[tuple[str, gpd.GeoDataFrame]]) -> tuple[float, float]:
    """The lon/lat centre of the bounds of every feature (to pick the local UTM zone)."""
    boxes = []
    for _, gdf in raw:
        if gdf.empty or gdf.geometry.notna().sum() == 0:
            continue
        b = gdf.geometry.dropna().to_crs(4326).total_bounds
        if np.all(np.isfinite(b)):
            boxes.append(b)
    if not boxes:
        raise InputError("every layer is empty: no features to render")
    arr = np.array(boxes)
    return (float((arr[:, 0].min() + arr[:, 2].max()) / 2), float((arr[:, 1].min() + arr[:, 3].max()) / 2))


def prepare_layers(raw: Sequence[tuple[str, gpd.GeoDataFrame]], work_crs: CRS) -> LoadedLayers:
    """Clean each layer and bring it into ``work_crs``."""
    notes: list[str] = []
    frames, names = [], []
    crss = set()
    for label, gdf in raw:
        crss.add(gdf.crs.to_string())
        cleaned = _clean(label, gdf, notes)
        if cleaned.empty:
            notes.append(f"{label}: no usable features (empty layer), skipped")
            continue
        cleaned = cleaned.to_crs(work_crs)
        frames.append(cleaned.reset_index(drop=True))
        names.append(label)
    if len(crss) > 1:
        notes.append(f"layers come in {len(crss)} CRSs ({', '.join(sorted(crss))}); all reprojected to {work_crs.to_string()}")
    if not frames:
        raise InputError("no usable features in any layer (all empty, or only points)")
    return LoadedLayers(frames, names, notes)


def read_aoi(spec: str, work_crs: CRS) -> BaseGeometry:
    """The union of an AOI file's polygons, in ``work_crs``."""
    raw = read_layer_specs([spec])
    parts: list[BaseGeometry] = []
    for _, gdf in raw:
        if gdf.empty:
            continue
        geoms = shapely.make_valid(gdf.to_crs(work_crs).geometry.dropna().values)
        parts.extend(g for g in geoms if g.geom_type in _POLYGONAL or g.geom_type == "GeometryCollection")
    aoi = shapely.union_all(parts) if parts else None
    if aoi is None or aoi.is_empty or aoi.area == 0:
        raise InputError(f"AOI {spec} holds no polygon to clip to")
    return aoi
