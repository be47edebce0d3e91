"""CRS parsing and the CRS choices of the geo core, in one place.

Every place in satgeo that turns user input (a CLI option, an API field, a layer file's
header) into a CRS goes through ``parse_crs``, so a bad CRS always reads the same:
``unknown CRS 'x'; use e.g. EPSG:4326 or EPSG:32632``. ``crs_name`` and ``epsg_code`` name a
CRS the same way in messages and metadata; ``utm_crs_for`` picks the local work CRS.
"""

from __future__ import annotations

import pyproj
from rasterio.crs import CRS
from rasterio.errors import CRSError

from satgeo.errors import InputError

WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = CRS.from_epsg(3857)
UPS_NORTH = CRS.from_epsg(32661)
UPS_SOUTH = CRS.from_epsg(32761)


def parse_crs(value: CRS | pyproj.CRS | str | int | None, default: CRS | None = None) -> CRS:
    """A CRS from user input (``EPSG:2056``, ``2056``, WKT, PROJ), or a one-line InputError.

    ``None`` gives ``default``; without a default a CRS is required.
    """
    if value is None:
        if default is None:
            raise InputError("a CRS is required")
        return default
    if isinstance(value, CRS):
        return value
    if isinstance(value, pyproj.CRS):
        return CRS.from_wkt(value.to_wkt())
    text = str(value).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        pyproj.CRS.from_user_input(text)  # validates quietly (GDAL would print to stderr)
        return CRS.from_user_input(text)
    except (CRSError, pyproj.exceptions.CRSError, ValueError, TypeError):
        raise InputError(f"unknown CRS {text!r}; use e.g. EPSG:4326 or EPSG:32632") from None


def parse_projected_crs(value: CRS | str | int, what: str = "--crs") -> CRS:
    """``parse_crs`` for a work grid in metres: a geographic CRS is refused."""
    crs = parse_crs(value)
    if crs.is_geographic:
        raise InputError(f"{what} {value} is geographic; pin a projected CRS in metres")
    return crs


def epsg_code(crs: CRS) -> str | None:
    """``EPSG:n`` when the CRS has an EPSG code, else None."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else None


def crs_name(crs: CRS) -> str:
    """A short name for messages: ``EPSG:n``, or "the target CRS"."""
    return epsg_code(crs) or "the target CRS"


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The local UTM zone (WGS 84) of a lon/lat point; UPS beyond UTM's latitude band."""
    if lat > 84.0:
        return UPS_NORTH
    if lat < -80.0:
        return UPS_SOUTH
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def is_lonlat(bounds: tuple[float, float, float, float] | list[float], tol: float = 0.0) -> bool:
    """Can ``(west, south, east, north)`` be longitude/latitude?

    Latitudes within -90..90 (give or take ``tol``); longitudes within -540..540, so that a geometry kept continuous
    across the antimeridian (east past 180) still counts.
    """
    w, s, e, n = (float(v) for v in bounds)
    return -540.0 <= w <= e <= 540.0 and -90.0 - tol <= s <= n <= 90.0 + tol
