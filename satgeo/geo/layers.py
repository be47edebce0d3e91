"""Reading vector layers: one reader for the CLI, the batch engine and the server.

Any format GDAL reads is accepted (GeoJSON, GeoPackage, Shapefile, zipped Shapefile, FlatGeobuf,
OSM XML/PBF, ...). Without a layer name every layer with geometry is read (for OSM files:
``lines`` and ``multipolygons``).

CRS policy (the only one in satgeo): a layer keeps the CRS its file declares. A layer whose
file declares none is taken as EPSG:4326 only if every coordinate is a valid longitude/latitude
(``satgeo.geo.crs.is_lonlat``); otherwise it is refused with one line telling the user to set
the CRS. Nothing is ever reprojected on a guess.

Every problem a user can fix (missing file, unreadable file, no CRS) is a one-line ``InputError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeAlias

import geopandas as gpd
import pandas as pd

from satgeo.errors import InputError
from satgeo.geo.crs import WGS84, is_lonlat, parse_crs

#: GDAL OSM driver layers that carry area and line features.
OSM_LAYERS = ("lines", "multipolygons")

#: The refusal every reader (CLI, batch, server) gives for a file without a CRS and not in lon/lat.
NO_CRS = "has no CRS and its coordinates are not longitude/latitude; set the layer's CRS"

#: A layer: a file path (anything GDAL reads) or a GeoDataFrame already in memory.
Layer: TypeAlias = "str | Path | gpd.GeoDataFrame"


def is_osm(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith((".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2"))


def gdal_path(path: str | os.PathLike[str]) -> str:
    """The name GDAL opens ``path`` by (gzipped OSM XML through /vsigzip/)."""
    path = os.fspath(path)
    return f"/vsigzip/{path}" if path.lower().endswith(".osm.gz") and not path.startswith("/vsi") else path


def vector_layers(path: str, layer: str | int | None = None) -> list[str | int]:
    """The layers to read: ``layer`` alone, OSM's lines + multipolygons, or every layer with geometry."""
    import pyogrio

    if layer is not None:
        return [layer]
    if is_osm(path):
        return list(OSM_LAYERS)
    listed = pyogrio.list_layers(path)
    return [str(n) for n, gtype in listed if gtype is not None] or [str(listed[0][0])]


def with_crs_policy(gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """``gdf`` with a CRS, by the module's policy: none declared -> EPSG:4326 if lon/lat, else refused."""
    if gdf.crs is not None:
        return gdf
    bounds = gdf.total_bounds if len(gdf) and gdf.geometry.notna().any() else (0.0, 0.0, 0.0, 0.0)
    if not is_lonlat(tuple(bounds)):
        raise InputError(f"{name} {NO_CRS} (e.g. `ogr2ogr -a_srs EPSG:32632 fixed.gpkg {name}`)")
    return gdf.set_crs(4326, allow_override=True)


def read_named_layers(
    source: str | os.PathLike[str],
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    name: str | None = None,
) -> list[tuple[str, gpd.GeoDataFrame]]:
    """Each layer of a file as ``(label, frame)``, with the CRS policy applied.

    The label is the file name (or ``name``, for a file stored under another), or ``file:layer``
    when the file has several layers (or one was named). ``bbox`` (lon/lat W S E N) keeps the
    features that reach it.
    """
    path = os.fspath(source)
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise InputError(f"no such file: {path}")
    fname = name or os.path.basename(path)
    src = gdal_path(path)
    try:
        names = vector_layers(src, layer)
        out = []
        for lname in names:
            layer_bbox = _bbox_in_layer_crs(src, lname, bbox) if bbox is not None else None
            gdf = gpd.read_file(src, layer=lname, bbox=layer_bbox, on_invalid="ignore", engine="pyogrio")
            label = f"{fname}:{lname}" if len(names) > 1 or layer is not None else fname
            out.append((label, gdf))
    except Exception as exc:  # noqa: BLE001 - pyogrio/GDAL: unreadable, unknown layer, not vector data
        raise InputError(f"cannot read layer {fname}: {_first_line(exc)}") from None
    checked = []
    for label, gdf in out:
        if gdf.crs is None:  # read whole (see _bbox_in_layer_crs): the policy looks at every coordinate
            gdf = with_crs_policy(gdf, label)
            if bbox is not None:
                gdf = gdf.cx[bbox[0]:bbox[2], bbox[1]:bbox[3]]
        checked.append((label, gdf))
    return checked


def read_layer(
    source: Layer,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """A vector layer as one GeoDataFrame (several layers of a file concatenated, in the first's CRS).

    A GeoDataFrame passes through, under the same CRS policy. ``name`` names the file in errors.
    """
    if isinstance(source, gpd.GeoDataFrame):
        return with_crs_policy(source, name or "the layer")
    frames = [gdf for _, gdf in read_named_layers(source, layer, bbox, name)]
    if len(frames) == 1:
        return frames[0]
    crs = frames[0].crs
    frames = [f.to_crs(crs) if f.crs != crs else f for f in frames if len(f)]
    if not frames:
        return gpd.GeoDataFrame(geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _bbox_in_layer_crs(
    path: str, layer: str | int, bbox: tuple[float, float, float, float]
) -> tuple[float, float, float, float] | None:
    import pyogrio
    from rasterio.warp import transform_bounds

    info = pyogrio.read_info(path, layer=layer)
    if not info.get("crs"):
        return None  # no CRS: read it all, so the CRS policy sees every coordinate before any filtering
    crs = parse_crs(info["crs"])
    if crs == WGS84:
        return bbox
    w, s, e, n = transform_bounds(WGS84, crs, *bbox, densify_pts=21)
    return (w, s, e, n)
