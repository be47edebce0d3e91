"""Areas of interest: a geometry in lon/lat plus an optional pinned work CRS."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform as shp_transform

from satgeo.errors import InputError
from satgeo.geo.grid import Grid

WGS84 = CRS.from_epsg(4326)


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The local UTM zone (WGS 84) of a lon/lat point."""
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def reproject_geometry(geom: BaseGeometry, src: CRS, dst: CRS) -> BaseGeometry:
    t = Transformer.from_crs(src, dst, always_xy=True)
    return shp_transform(t.transform, geom)


@dataclass(frozen=True)
class Area:
    """An area of interest. ``geometry`` is in EPSG:4326 (lon, lat)."""

    geometry: BaseGeometry
    crs: CRS | None = None  # pinned work CRS; None means the local UTM zone

    @classmethod
    def from_bbox(cls, bbox: tuple[float, float, float, float], crs: CRS | str = "EPSG:4326") -> Area:
        west, south, east, north = bbox
        if not all(math.isfinite(v) for v in bbox):
            raise InputError(f"bbox has a non-finite coordinate: {bbox}")
        if east <= west or north <= south:
            raise InputError(f"bbox must be W S E N with W < E and S < N, got {bbox}")
        src = CRS.from_user_input(crs)
        return cls(reproject_geometry(box(west, south, east, north), src, WGS84))

    @property
    def centroid(self) -> tuple[float, float]:
        c = self.geometry.centroid
        return (c.x, c.y)

    def work_crs(self) -> CRS:
        return self.crs or utm_crs_for(*self.centroid)

    def work_geometry(self) -> BaseGeometry:
        return reproject_geometry(self.geometry, WGS84, self.work_crs())

    def work_grid(self, gsd: float | None = None, width: int | None = None) -> Grid:
        """The area's grid in its work CRS at ``gsd`` ground metres, or ``width`` px across."""
        bounds = self.work_geometry().bounds
        if gsd is None:
            if not width:
                raise InputError("give a GSD or a width in pixels")
            gsd = (bounds[2] - bounds[0]) / width
        return Grid.from_bounds(self.work_crs(), bounds, gsd)

    def to_geojson(self) -> dict:
        return mapping(self.geometry)
