"""DiffusionSat metadata: raw values, the normalized vector the models see, and ground GSD.

Order and formulas (docs/architecture.md), raw -> normalized:

    lon' = (lon + 180) / 360 * 1000        lat' = (lat + 90) / 180 * 1000
    gsd' = gsd * 1000   (ground metres per pixel of the image fed to the model)
    cc'  = cloud_cover * 1000   (0..1)      year' = (year - 1980) / 120 * 1000
    month' = month / 12 * 1000              day' = day / 31 * 1000

Unknown values are ``None`` raw and 0 normalized: that is what the released checkpoints saw
as "dropped". The inverse therefore reads a normalized 0 as unknown.

GSD is always ground GSD. A Web Mercator pixel of ``s`` Mercator metres covers ``s * cos(lat)``
ground metres; ``ground_gsd`` handles that (and any other CRS) with the projection's local scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date as Date
from typing import Protocol, TypeVar

from pyproj import Geod, Proj
from rasterio.crs import CRS

from satgeo.errors import InputError
from satgeo.geo.crs import parse_crs

T = TypeVar("T")

FIELDS = ("lon", "lat", "gsd", "cloud_cover", "year", "month", "day")


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    return value


def check_cloud_cover(value: float | None, what: str = "cloud cover") -> float | None:
    """``value`` as a float when it is a fraction within 0..1 (None stays None), else a one-line InputError.

    The one range check of cloud cover: CLI options, batch jobs and ``Metadata`` all use it.
    """
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a fraction within 0..1, got {value!r}") from None
    if not (math.isfinite(v) and 0.0 <= v <= 1.0):
        raise InputError(f"{what} must be a fraction within 0..1, got {value}")
    return v


class Located(Protocol):
    """Anything with a lon/lat centroid (``satgeo.geo.area.Area``)."""

    @property
    def centroid(self) -> tuple[float, float]: ...


@dataclass(frozen=True)
class Metadata:
    """Raw DiffusionSat metadata; ``None`` means unknown."""

    lon: float | None = None
    lat: float | None = None
    gsd: float | None = None
    cloud_cover: float | None = None
    year: int | None = None
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        check_cloud_cover(self.cloud_cover, "cloud_cover")
        checks = {
            "lon": (-180.0, 180.0), "lat": (-90.0, 90.0),
            "month": (1, 12), "day": (1, 31), "year": (1, 9999),
        }
        for name, (lo, hi) in checks.items():
            v = getattr(self, name)
            if v is not None and not (lo <= _finite(name, v) <= hi):
                raise InputError(f"{name} must be within {lo}..{hi}, got {v}")
        if self.gsd is not None and not _finite("gsd", self.gsd) > 0:
            raise InputError(f"gsd must be positive, got {self.gsd}")

    def normalized(self) -> list[float]:
        """The 7 numbers DiffusionSat conditions on, unknown values as 0."""

        def n(v: float | None, f: Callable[[float], float]) -> float:
            return 0.0 if v is None else float(f(float(v)))

        return [
            n(self.lon, lambda v: (v + 180.0) / 360.0 * 1000.0),
            n(self.lat, lambda v: (v + 90.0) / 180.0 * 1000.0),
            n(self.gsd, lambda v: v * 1000.0),
            n(self.cloud_cover, lambda v: v * 1000.0),
            n(self.year, lambda v: (v - 1980.0) / 120.0 * 1000.0),
            n(self.month, lambda v: v / 12.0 * 1000.0),
            n(self.day, lambda v: v / 31.0 * 1000.0),
        ]

    @classmethod
    def from_normalized(cls, vector: Sequence[float]) -> Metadata:
        """The inverse of ``normalized``; a 0 reads as unknown."""
        if len(vector) != 7:
            raise InputError(f"a DiffusionSat metadata vector has 7 numbers, got {len(vector)}")
        v = [_finite(FIELDS[i], x) for i, x in enumerate(vector)]

        def d(x: float, f: Callable[[float], T]) -> T | None:
            return None if x == 0 else f(x)

        return cls(
            lon=d(v[0], lambda x: x / 1000.0 * 360.0 - 180.0),
            lat=d(v[1], lambda x: x / 1000.0 * 180.0 - 90.0),
            gsd=d(v[2], lambda x: x / 1000.0),
            cloud_cover=d(v[3], lambda x: x / 1000.0),
            year=d(v[4], lambda x: int(round(x / 1000.0 * 120.0 + 1980.0))),
            month=d(v[5], lambda x: int(round(x / 1000.0 * 12.0))),
            day=d(v[6], lambda x: int(round(x / 1000.0 * 31.0))),
        )

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def parse_date(value: str | Date | None, what: str = "date") -> Date | None:
    """``YYYY-MM-DD`` (or a date) -> date; None stays None. ``what`` names the input in errors."""
    if value is None or isinstance(value, Date):
        return value
    try:
        return Date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{what} must be YYYY-MM-DD, got {value!r}") from None


_GEOD = Geod(ellps="WGS84")


def _is_utm_or_ups(crs: CRS) -> bool:
    epsg = crs.to_epsg() or 0
    if 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760 or epsg in (32661, 32761):
        return True
    return bool(crs.to_dict().get("proj") == "utm")


def ground_gsd(crs: CRS | str, pixel_size: float, lon: float, lat: float) -> float:
    """Ground metres covered by a pixel of ``pixel_size`` CRS units at (lon, lat).

    UTM/UPS work grids count as ground metres (their scale is within 0.1% of 1 by design).
    Other projected CRSs are divided by the local point scale (Web Mercator: x cos(lat)).
    Geographic CRSs use the geodesic size of the pixel (geometric mean of its two sides).
    """
    crs = parse_crs(crs)
    if crs.is_geographic:
        _, _, dx = _GEOD.inv(lon, lat, lon + pixel_size, lat)
        _, _, dy = _GEOD.inv(lon, lat, lon, lat + pixel_size if lat < 89 else lat - pixel_size)
        return math.sqrt(abs(dx * dy))
    metres = pixel_size * float(crs.linear_units_factor[1])
    if _is_utm_or_ups(crs):
        return metres
    factors = Proj(crs.to_wkt()).get_factors(lon, lat)
    scale = math.sqrt(factors.meridional_scale * factors.parallel_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise InputError(f"cannot measure ground GSD of {crs.to_string()} at lon {lon}, lat {lat}")
    return metres / scale


def metadata_for(
    area: Located,
    gsd: float,
    date: str | Date | None = None,
    cloud_cover: float | None = None,
) -> Metadata:
    """Metadata for an image of ``area`` at ``gsd`` ground metres per pixel."""
    lon, lat = area.centroid
    d = parse_date(date)
    cloud_cover = check_cloud_cover(cloud_cover)
    return Metadata(
        lon=lon, lat=lat, gsd=float(gsd), cloud_cover=cloud_cover,
        year=d.year if d else None, month=d.month if d else None, day=d.day if d else None,
    )
