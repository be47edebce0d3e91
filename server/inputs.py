"""Turning API bodies into areas and layers: validation, limits, data-dir confinement."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
from shapely.geometry import shape

from satgeo.atomic import write_text
from satgeo.errors import InputError, LimitError, ModelError
from satgeo.geo.area import Area
from satgeo.geo.layers import read_layer
from satgeo_server.schemas import FeatureCollection, JobCreate
from satgeo_server.settings import Settings

LAYER_SUFFIXES = (".geojson", ".json", ".gpkg")
#: GSD assumed for the pixel limit when a job leaves GSD to the model.
FALLBACK_GSD = 0.3


def confined_path(settings: Settings, rel: str) -> Path:
    """``rel`` resolved inside --data-dir; anything that escapes it is refused."""
    if "\x00" in rel:
        raise InputError("path contains a NUL byte")
    path = (settings.data_dir / rel).resolve()
    if not path.is_relative_to(settings.data_dir):
        raise InputError(f"path {rel!r} is outside the server's --data-dir; copy the file there first")
    return path


#: Latitudes the server accepts (its maps are Web Mercator).
MAX_LAT = 85.0


def _check_server_lonlat(bounds: tuple[float, float, float, float], what: str) -> None:
    west, south, east, north = bounds
    if not all(math.isfinite(v) for v in bounds):
        raise InputError(f"{what} has non-finite coordinates")
    if west < -180 or east > 180 or south < -MAX_LAT or north > MAX_LAT:
        raise InputError(f"{what} must be lon/lat (EPSG:4326) within lon -180..180 and lat -{MAX_LAT:g}..{MAX_LAT:g}")


def area_from_request(aoi: dict[str, Any] | None, bbox: Sequence[float] | None, crs: str | None) -> Area:
    """An area through the geo core's validating constructors (as the CLI builds it), within the server's limits.

    ``aoi`` is a GeoJSON geometry in lon/lat; else ``bbox`` is W S E N in ``crs`` (default EPSG:4326).
    """
    if aoi is not None:
        try:
            _check_server_lonlat(shape(aoi).bounds, "aoi")
            area = Area.from_geometry(aoi)
        except InputError as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith("aoi") else f"aoi: {msg}") from None
        except Exception as exc:  # noqa: BLE001 - shapely raises many types on malformed coordinates
            raise InputError(f"aoi is not a valid GeoJSON {aoi.get('type')}: {str(exc).splitlines()[0]}") from None
    else:
        if bbox is None:
            raise InputError("give exactly one of bbox or aoi")
        try:
            area = Area.from_bbox(tuple(bbox), crs or "EPSG:4326")
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyproj / rasterio errors on exotic CRSs
            raise InputError(f"bbox/crs not usable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    west, south, east, north = area.geometry.bounds
    if not all(math.isfinite(v) for v in area.geometry.bounds) or south < -MAX_LAT or north > MAX_LAT:
        raise InputError(f"bbox must lie between latitudes -{MAX_LAT:g} and {MAX_LAT:g}")
    return area


def area_from_job(body: JobCreate) -> Area:
    return area_from_request(body.aoi.model_dump() if body.aoi is not None else None, body.bbox, body.crs)


def check_area_limits(area: Area, gsd: float | None, settings: Settings) -> None:
    try:
        work = area.work_geometry()
    except Exception as exc:
        raise InputError(f"cannot project the area to its work CRS: {exc}") from None
    km2 = work.area / 1e6
    if not math.isfinite(km2) or km2 <= 0:
        raise InputError("area has no extent in its work CRS")
    if km2 > settings.max_area_km2:
        raise LimitError(f"area is {km2:,.2f} km², above this server's limit of {settings.max_area_km2:g} km²; "
                         "draw or pass a smaller area")
    if gsd:
        area.check_pixels(gsd)
    west, south, east, north = work.bounds
    g = gsd or FALLBACK_GSD
    pixels = math.ceil((east - west) / g) * math.ceil((north - south) / g)
    if pixels > settings.max_pixels:
        raise LimitError(
            f"output would be {pixels:,} px at {g:g} m/px, above the limit of {settings.max_pixels:,}; "
            "use a coarser gsd or a smaller area"
        )


def read_feature_collection(fc: FeatureCollection) -> gpd.GeoDataFrame:
    try:
        gdf = gpd.GeoDataFrame.from_features(fc.model_dump()["features"], crs="EPSG:4326")
    except Exception as exc:
        raise InputError(f"footprints are not a valid GeoJSON FeatureCollection: {exc}") from None
    if "geometry" not in gdf:
        raise InputError("footprints have no geometries")
    return gdf


def write_feature_collection(fc: FeatureCollection, path: Path) -> Path:
    read_feature_collection(fc)  # validate before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(fc.model_dump()))


def read_layer_file(path: Path, name: str | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON or GeoPackage layer inside --data-dir, read by the geo core's one reader (and CRS policy).

    ``name`` is what errors call the file (an upload's own name rather than its temporary one).
    """
    if path.suffix.lower() not in LAYER_SUFFIXES:
        raise InputError(f"{path.name}: layers must be GeoJSON or GeoPackage ({', '.join(LAYER_SUFFIXES)})")
    if not path.is_file():
        raise InputError(f"layer {path.name!r} does not exist in --data-dir")
    return read_layer(path, name=name)


def resolve_model(name: str | None, settings: Settings) -> str | None:
    """A registry name as is, or a checkpoint path confined to --data-dir; refuses the rest."""
    from satgeo.models import registry

    if name is None:
        return None
    if name in registry.entries():
        registry.resolve(name)  # raises ModelError when it is not downloaded
        return name
    path = confined_path(settings, name)
    if not path.exists():
        known = ", ".join(sorted(registry.entries())) or "none"
        raise ModelError(f"unknown model {name!r}: use a known name ({known}) or a checkpoint path inside --data-dir")
    registry.resolve(str(path))
    return str(path)


def layer_bounds(layers: list[gpd.GeoDataFrame]) -> tuple[float, float, float, float]:
    boxes = [g.to_crs("EPSG:4326").total_bounds for g in layers if not g.empty]
    if not boxes:
        raise InputError("the scene's layers hold no features")
    west = min(b[0] for b in boxes)
    south = min(b[1] for b in boxes)
    east = max(b[2] for b in boxes)
    north = max(b[3] for b in boxes)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InputError("the scene's layers have non-finite coordinates")
    if south < -85 or north > 85 or west < -180 or east > 180:
        raise InputError("the scene's layers must lie within lon -180..180 and lat -85..85")
    return (west, south, east, north)


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
