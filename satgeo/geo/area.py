"""Areas of interest: one polygonal geometry in lon/lat plus an optional pinned work CRS.

An ``Area`` comes from a bbox in any CRS, a polygon layer (GeoJSON, GeoPackage, Shapefile,
zipped Shapefile, anything GDAL reads) or one geometry. Its work grid is in the local UTM zone
(UPS north of 84 N / south of 80 S) unless a CRS is pinned, at a ground GSD or a pixel width.

Rules:
- invalid geometries are repaired with ``make_valid`` (polygonal parts kept); non-polygonal or
  empty input is refused;
- a lon/lat bbox with W > E crosses the antimeridian (longitudes are kept continuous past 180);
  areas spanning more than 180 degrees of longitude are refused;
- in a projected CRS, W > E is refused;
- grids are limited to ``satgeo.geo.grid.MAX_GRID_SIDE`` pixels a side.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from satgeo.errors import InputError
from satgeo.geo.crs import WGS84, crs_name, is_lonlat, parse_crs, utm_crs_for
from satgeo.geo.grid import Grid
from satgeo.geo.metadata import ground_gsd

#: Areas narrower than this many pixels are refused (nobody asks for a 1 px image on purpose).
MIN_SIDE_PX = 2


def reproject_geometry(geom: BaseGeometry, src: CRS, dst: CRS) -> BaseGeometry:
    """``geom`` from ``src`` to ``dst`` (x = easting/longitude). Non-finite results are refused."""
    if src == dst:
        return geom
    t = Transformer.from_crs(src, dst, always_xy=True)

    def fwd(coords: np.ndarray) -> np.ndarray:
        x, y = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(geom, fwd)
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise InputError(
            f"the area cannot be expressed in {crs_name(dst)} (outside its valid region)"
        )
    return out


def _densify(geom: BaseGeometry, parts: int = 64) -> BaseGeometry:
    """Add vertices so straight edges in one CRS stay faithful in another."""
    w, s, e, n = geom.bounds
    step = max(e - w, n - s) / parts
    return shapely.segmentize(geom, step) if step > 0 else geom


def _polygonal(geom: BaseGeometry, what: str) -> BaseGeometry:
    """The valid polygonal part of ``geom``; refuses non-polygonal or empty input."""
    if geom is None or geom.is_empty:
        raise InputError(f"{what} is empty")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputError(f"{what} has non-finite (NaN or infinite) coordinates")
    if geom.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        raise InputError(f"{what} must be a polygon, got a {geom.geom_type}")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(polys) if polys else shapely.Polygon()
    if geom.is_empty or geom.area <= 0:
        raise InputError(f"{what} has no area")
    return geom


def _unwrap_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """Lon/lat geometry with parts on both sides of 180 -> continuous longitudes (past 180)."""
    w, s, e, n = geom.bounds
    if e - w <= 180:
        return geom
    if n >= 90 - 1e-9 or s <= -90 + 1e-9:
        return geom  # a polar cap: it may span every longitude; its work CRS is UPS
    parts = list(shapely.get_parts(geom))
    shifted = [
        shapely.transform(p, lambda c: c + np.array([360.0, 0.0])) if p.centroid.x < 0 else p for p in parts
    ]
    out = shapely.union_all(shifted)
    w, _, e, _ = out.bounds
    if e - w > 180:
        raise InputError("the area spans more than 180 degrees of longitude; split it into smaller areas")
    return out


def _check_lonlat(geom: BaseGeometry) -> None:
    w, s, e, n = geom.bounds
    if not is_lonlat((w, s, e, n), tol=1e-9):
        raise InputError(
            f"coordinates ({w:g}, {s:g}, {e:g}, {n:g}) are not longitude/latitude; pass the layer's CRS"
        )


@dataclass(frozen=True)
class Area:
    """An area of interest. ``geometry`` is in EPSG:4326 (lon, lat; lon may run past 180)."""

    geometry: BaseGeometry
    crs: CRS | None = None  # pinned work CRS; None means the local UTM zone
    # The geometry as given, so a pinned CRS equal to the input CRS needs no round trip.
    source: tuple[BaseGeometry, CRS] | None = field(default=None, compare=False, repr=False)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_bbox(
        cls,
        bbox: Sequence[float],
        crs: CRS | str = "EPSG:4326",
        work_crs: CRS | str | None = None,
    ) -> Area:
        """An area from W S E N in ``crs``. In lon/lat, W > E means across the antimeridian."""
        if len(bbox) != 4:
            raise InputError(f"bbox needs 4 numbers W S E N, got {len(bbox)}")
        try:
            west, south, east, north = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise InputError(f"bbox must be 4 numbers W S E N, got {bbox}") from None
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise InputError(f"bbox has a non-finite (NaN or infinite) coordinate: {tuple(bbox)}")
        src = parse_crs(crs)
        if north <= south:
            raise InputError(f"bbox must be W S E N with S < N, got S={south:g} N={north:g}")
        if east == west:
            raise InputError(f"bbox has no area: W = E = {west:g}")
        if east < west:
            if not src.is_geographic:
                raise InputError(f"bbox must be W S E N with W < E, got W={west:g} E={east:g}")
            east += 360.0  # across the antimeridian
            if east - west > 180:
                raise InputError(
                    f"bbox W={west:g} > E={east - 360:g} would span {east - west:g} degrees across the "
                    "antimeridian; did you swap W and E?"
                )
        _check_bbox_plausible((west, south, east, north), src)
        geom = box(west, south, east, north)
        return cls._from_source(geom, src, work_crs, "bbox")

    @classmethod
    def from_geometry(
        cls,
        geom: BaseGeometry | Mapping[str, Any],
        crs: CRS | str = "EPSG:4326",
        work_crs: CRS | str | None = None,
    ) -> Area:
        """An area from one geometry (shapely or GeoJSON geometry/Feature/FeatureCollection)."""
        if isinstance(geom, Mapping):
            geom = _from_geojson(geom)
        src = parse_crs(crs)
        return cls._from_source(_polygonal(geom, "area geometry"), src, work_crs, "area geometry")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], layer: str | int | None = None,
                  work_crs: CRS | str | None = None) -> Area:
        """The union of the polygons of a vector layer (any format GDAL reads; .zip shapefiles too)."""
        from satgeo.geo.layers import read_layer  # geopandas: only areas read from files need it

        gdf = read_layer(path, layer=layer)
        geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]
        if not geoms:
            raise InputError(f"{os.fspath(path)} has no geometries")
        polys = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not polys:
            raise InputError(f"{os.fspath(path)} has no polygons (found {geoms[0].geom_type}); an AOI must be polygonal")
        merged = shapely.union_all([g if g.is_valid else shapely.make_valid(g) for g in polys])
        src = parse_crs(gdf.crs)  # read_layer's CRS policy: never None here
        return cls._from_source(_polygonal(merged, f"area in {os.fspath(path)}"), src, work_crs, "area")

    @classmethod
    def _from_source(cls, geom: BaseGeometry, src: CRS, work_crs: CRS | str | None, what: str) -> Area:
        if src.is_geographic:
            _check_lonlat(geom)
            ll = _unwrap_antimeridian(reproject_geometry(_densify(geom), src, WGS84))
        else:
            ll = reproject_geometry(_densify(geom), src, WGS84)
            ll = _unwrap_antimeridian(ll)
        ll = _polygonal(ll, what)
        pinned = parse_crs(work_crs) if work_crs is not None else None
        return cls(ll, pinned, (geom, src))

    def pinned(self, crs: CRS | str) -> Area:
        """The same area with its work grid in ``crs``."""
        return replace(self, crs=parse_crs(crs))

    # -- properties ------------------------------------------------------------------------
    @property
    def centroid(self) -> tuple[float, float]:
        """(lon, lat) of the area's centroid (computed in the local projected CRS), lon in -180..180."""
        c = self.geometry.centroid
        local = utm_crs_for(*_norm_lonlat(c.x, c.y))
        pc = reproject_geometry(self.geometry, WGS84, local).centroid
        back = reproject_geometry(pc, local, WGS84)
        return _norm_lonlat(back.x, back.y)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Lon/lat bounds (east may exceed 180 across the antimeridian)."""
        w, s, e, n = self.geometry.bounds
        return (float(w), float(s), float(e), float(n))

    def work_crs(self) -> CRS:
        if self.crs is not None:
            return self.crs
        c = self.geometry.centroid
        return utm_crs_for(*_norm_lonlat(c.x, c.y))

    def work_geometry(self) -> BaseGeometry:
        crs = self.work_crs()
        if self.source is not None and self.source[1] == crs:
            return self.source[0]
        return reproject_geometry(_densify(self.geometry), WGS84, crs)

    def work_grid(self, gsd: float | None = None, width: int | None = None) -> Grid:
        """The area's grid in its work CRS at ``gsd`` ground metres, or ``width`` px across."""
        crs = self.work_crs()
        bounds = self.work_geometry().bounds
        if gsd is None:
            if width is None:
                raise InputError("give a GSD (--gsd) or a width in pixels (--width)")
            if int(width) <= 0:
                raise InputError(f"width must be a positive number of pixels, got {width}")
            gsd = (bounds[2] - bounds[0]) / int(width)
            height = max(1, round((bounds[3] - bounds[1]) / gsd))
            from affine import Affine

            return Grid(crs, Affine(gsd, 0.0, bounds[0], 0.0, -gsd, bounds[3]), int(width), height)
        if not (isinstance(gsd, (int, float)) and math.isfinite(gsd) and gsd > 0):
            raise InputError(f"GSD must be a positive number of metres, got {gsd}")
        return Grid.from_bounds(crs, bounds, float(gsd))

    def check_pixels(self, gsd: float, min_px: int = MIN_SIDE_PX) -> None:
        """Refuse an area narrower than ``min_px`` pixels at ``gsd`` ground metres (a typo, not a request)."""
        # sides of the smallest enclosing rectangle: a thin sliver tilted by grid convergence still counts as thin
        rect = shapely.minimum_rotated_rectangle(self.work_geometry())
        xy = np.asarray(rect.exterior.coords) if rect.geom_type == "Polygon" else np.zeros((3, 2))
        a, b = (float(np.hypot(*(xy[i + 1] - xy[i]))) for i in (0, 1))
        if min(a, b) / gsd < min_px:
            raise InputError(
                f"the area is {_metres(min(a, b))} x {_metres(max(a, b))}, under {min_px} px at {gsd:g} m/px; "
                f"give an area at least {_metres(min_px * gsd)} a side (check the bbox's CRS and coordinates)"
            )

    def ground_gsd(self, grid: Grid) -> float:
        """Ground metres per pixel of ``grid`` at the area's centroid."""
        return ground_gsd(grid.crs, grid.gsd, *self.centroid)

    def to_geojson(self) -> dict[str, Any]:
        return dict(mapping(self.geometry))


def _metres(v: float) -> str:
    return f"{v:.3g} m" if v < 1000 else f"{v / 1000:.3g} km"


def _check_bbox_plausible(bbox: tuple[float, float, float, float], crs: CRS) -> None:
    """Catch the two usual bbox typos before anything is computed: swapped lat/lon and degrees in metres."""
    west, south, east, north = bbox
    nums = " ".join(f"{v:g}" for v in bbox)
    if crs.is_geographic:
        # A sub-degree box beyond 80 degrees whose "longitudes" would be ordinary latitudes is
        # almost always lat/lon given as lon/lat (polar work is done with polygons or wide boxes).
        tiny = east - west < 1 and north - south < 1
        if tiny and min(abs(south), abs(north)) > 80 and max(abs(west), abs(east)) <= 80:
            raise InputError(
                f"bbox {nums} is a tiny area near the pole (latitude {south:g}); latitude and longitude look "
                f"swapped: a bbox is W S E N (lon lat lon lat), e.g. {south:g} {west:g} {north:g} {east:g} "
                "(for a real polar area pass a polygon file as the area instead)"
            )
        return
    if crs.is_projected and all(abs(v) <= 180 for v in (west, east)) and all(abs(v) <= 90 for v in (south, north)) \
            and east - west < 2 and north - south < 2:
        name = crs_name(crs)
        raise InputError(
            f"bbox {nums} in {name} spans {_metres(east - west)} x {_metres(north - south)}; these look like "
            f"degrees: drop the CRS (lon/lat, EPSG:4326, is the default) or give the bbox in {name} metres"
        )


def _norm_lonlat(lon: float, lat: float) -> tuple[float, float]:
    lon = (lon + 180.0) % 360.0 - 180.0
    return (lon, lat)


def _from_geojson(obj: Mapping[str, Any]) -> BaseGeometry:
    kind = obj.get("type")
    try:
        if kind == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in obj.get("features", []) if f.get("geometry")]
            if not geoms:
                raise InputError("GeoJSON FeatureCollection has no geometries")
            return shapely.union_all([g if g.is_valid else shapely.make_valid(g) for g in geoms])
        if kind == "Feature":
            if not obj.get("geometry"):
                raise InputError("GeoJSON Feature has no geometry")
            return shape(obj["geometry"])
        return shape(obj)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - shapely raises many kinds for bad GeoJSON
        raise InputError(f"not a GeoJSON geometry: {exc}") from None
