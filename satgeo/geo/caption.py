"""DiffusionSat captions (and GeoSynth's) and an offline country lookup.

Captions follow DiffusionSat's fMoW template: ``"a fmow satellite image of a {class} in {country}"``
with the class one of fMoW's 62 categories, words split at ``_`` as the training code does
(``car_dealership`` -> ``car dealership``, ``single-unit_residential`` -> ``single-unit residential``).
``fmow_class_for`` picks the class from a class mask where the map allows it.

Countries: the boundaries are Natural Earth 1:50m admin-0 (public domain), bundled as the
TopoJSON of the ``world-atlas`` package (ISC, (c) Mike Bostock); the *names* are those the
training captions used: DiffusionSat's ``fmow_dataset.CODE3`` (ISO 3166 names such as
"Viet Nam", "Korea, Republic of", "Russian Federation"), joined on the ISO 3166-1 numeric id
(``data/fmow_countries.json``; see ``data/ATTRIBUTION.md``). No network is used. Points at sea
get the nearest country within ~25 km, else ``None``.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from satgeo.errors import InputError

_DATA = Path(__file__).with_name("data") / "countries-50m.json"
_FMOW_NAMES = Path(__file__).with_name("data") / "fmow_countries.json"

#: fMoW's 62 categories (DiffusionSat's fmow_dataset.CATEGORIES), as caption words.
FMOW_CLASSES = tuple(c.replace("_", " ") for c in (
    "airport", "airport_hangar", "airport_terminal", "amusement_park", "aquaculture", "archaeological_site", "barn",
    "border_checkpoint", "burial_site", "car_dealership", "construction_site", "crop_field", "dam",
    "debris_or_rubble", "educational_institution", "electric_substation", "factory_or_powerplant", "fire_station",
    "flooded_road", "fountain", "gas_station", "golf_course", "ground_transportation_station", "helipad", "hospital",
    "impoverished_settlement", "interchange", "lake_or_pond", "lighthouse", "military_facility",
    "multi-unit_residential", "nuclear_powerplant", "office_building", "oil_or_gas_facility", "park",
    "parking_lot_or_garage", "place_of_worship", "police_station", "port", "prison", "race_track", "railway_bridge",
    "recreational_facility", "road_bridge", "runway", "shipyard", "shopping_mall", "single-unit_residential",
    "smokestack", "solar_farm", "space_facility", "stadium", "storage_tank", "surface_mine", "swimming_pool",
    "toll_booth", "tower", "tunnel_opening", "waste_disposal", "water_treatment_facility", "wind_farm", "zoo",
))
#: The class when the map says nothing (no layers): fMoW's house class.
DEFAULT_FMOW_CLASS = "single-unit residential"
#: Median building footprint (m^2) above which buildings read as apartment blocks, not houses.
HOUSE_MAX_M2 = 400.0

#: Natural Earth units without an ISO numeric id -> the ISO country the training data would name.
_NO_ISO_ID = {"Somaliland": "Somalia", "N. Cyprus": "Cyprus", "Indian Ocean Ter.": "Australia",
              "Siachen Glacier": "India", "Kosovo": "Kosovo"}

#: Natural Earth's short map labels -> the names a caption should read.
_FULL_NAMES = {
    "Antigua and Barb.": "Antigua and Barbuda",
    "Bosnia and Herz.": "Bosnia and Herzegovina",
    "Br. Indian Ocean Ter.": "British Indian Ocean Territory",
    "British Virgin Is.": "British Virgin Islands",
    "Cayman Is.": "Cayman Islands",
    "Central African Rep.": "Central African Republic",
    "Cook Is.": "Cook Islands",
    "Dem. Rep. Congo": "Democratic Republic of the Congo",
    "Dominican Rep.": "Dominican Republic",
    "Eq. Guinea": "Equatorial Guinea",
    "Faeroe Is.": "Faroe Islands",
    "Falkland Is.": "Falkland Islands",
    "Fr. Polynesia": "French Polynesia",
    "Fr. S. Antarctic Lands": "French Southern and Antarctic Lands",
    "Heard I. and McDonald Is.": "Heard Island and McDonald Islands",
    "Marshall Is.": "Marshall Islands",
    "N. Cyprus": "Northern Cyprus",
    "N. Mariana Is.": "Northern Mariana Islands",
    "Pitcairn Is.": "Pitcairn Islands",
    "S. Geo. and the Is.": "South Georgia and the South Sandwich Islands",
    "S. Sudan": "South Sudan",
    "Solomon Is.": "Solomon Islands",
    "St. Kitts and Nevis": "Saint Kitts and Nevis",
    "St. Pierre and Miquelon": "Saint Pierre and Miquelon",
    "St. Vin. and Gren.": "Saint Vincent and the Grenadines",
    "St-Barthélemy": "Saint Barthélemy",
    "St-Martin": "Saint Martin",
    "Turks and Caicos Is.": "Turks and Caicos Islands",
    "U.S. Virgin Is.": "United States Virgin Islands",
    "W. Sahara": "Western Sahara",
    "Wallis and Futuna Is.": "Wallis and Futuna",
    "Macedonia": "North Macedonia",
    "eSwatini": "Eswatini",
    "Indian Ocean Ter.": "Australian Indian Ocean Territories",
    "Ashmore and Cartier Is.": "Ashmore and Cartier Islands",
}

#: How far (degrees, ~25 km) a point at sea may be from a coast and still get that country.
_COAST_TOLERANCE_DEG = 0.25


def _decode_topojson(topo: dict[str, Any], obj: str) -> list[tuple[str, BaseGeometry]]:
    """(name, geometry) for each feature of a quantized TopoJSON object."""
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        q = np.cumsum(np.asarray(arc, dtype=np.float64), axis=0)  # delta-encoded positions
        arcs.append(np.column_stack([q[:, 0] * sx + tx, q[:, 1] * sy + ty]))

    def ring(indices: list[int]) -> np.ndarray:
        parts: list[np.ndarray] = []
        for i in indices:
            a = arcs[i] if i >= 0 else arcs[~i][::-1]
            parts.append(a if not parts else a[1:])  # consecutive arcs share an endpoint
        return np.concatenate(parts)

    def polygon(rings: list[list[int]]) -> Polygon:
        coords = [ring(r) for r in rings]
        return Polygon(coords[0], coords[1:])

    out = []
    for g in topo["objects"][obj]["geometries"]:
        if g["type"] == "Polygon":
            geom: BaseGeometry = polygon(g["arcs"])
        elif g["type"] == "MultiPolygon":
            geom = MultiPolygon([polygon(p) for p in g["arcs"]])
        else:
            continue
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        name = g.get("properties", {}).get("name", "")
        out.append((_training_name(g.get("id"), name), geom))
    return out


@lru_cache(maxsize=1)
def _fmow_names() -> dict[str, str]:
    names: dict[str, str] = json.loads(_FMOW_NAMES.read_text(encoding="utf-8"))
    return names


def _training_name(iso_numeric: str | None, ne_name: str) -> str:
    """The country as DiffusionSat's captions name it (ISO 3166 short name), else Natural Earth's."""
    if iso_numeric is not None and iso_numeric in _fmow_names():
        return _fmow_names()[iso_numeric]
    if ne_name in _NO_ISO_ID:
        return _NO_ISO_ID[ne_name]
    return _FULL_NAMES.get(ne_name, ne_name)


@lru_cache(maxsize=1)
def _countries() -> tuple[list[str], list[BaseGeometry], shapely.STRtree]:
    topo = json.loads(_DATA.read_text(encoding="utf-8"))
    feats = _decode_topojson(topo, "countries")
    names = [n for n, _ in feats]
    geoms = [g for _, g in feats]
    for g in geoms:
        shapely.prepare(g)
    return names, geoms, shapely.STRtree(geoms)


def country_at(lon: float, lat: float) -> str | None:
    """The country containing (lon, lat), the nearest one within ~25 km at sea, else None."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputError(f"coordinates must be finite, got ({lon}, {lat})")
    lon = (lon + 180.0) % 360.0 - 180.0
    names, geoms, tree = _countries()
    pt = Point(lon, lat)
    hits = tree.query(pt, predicate="intersects")
    if len(hits):
        return names[int(min(hits))]
    near = tree.query_nearest(pt, max_distance=_COAST_TOLERANCE_DEG)
    return names[int(near[0])] if len(near) else None


def fmow_class(words: str) -> str:
    """An fMoW category as caption words; InputError for anything that is not one of the 62."""
    w = " ".join(str(words).replace("_", " ").split()).lower()
    if not w:
        raise InputError("caption class must not be empty")
    if w not in FMOW_CLASSES:
        close = [c for c in FMOW_CLASSES if any(part in c for part in w.split())][:4]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"{words!r} is not one of fMoW's 62 classes{hint}; DiffusionSat was trained on those only")
    return w


def _fractions(mask: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.asarray(mask, np.uint8).ravel(), minlength=5)[:5]
    return counts / max(1, mask.size)


def _median_building_m2(mask: np.ndarray, gsd: float) -> float:
    """Median area (m^2) of the connected building patches of a class mask."""
    from rasterio.features import shapes
    from shapely.geometry import shape

    b = (np.asarray(mask) == 1).astype(np.uint8)
    areas = [shape(g).area for g, v in shapes(b, mask=b.astype(bool)) if v == 1]
    return float(np.median(areas)) * gsd * gsd if areas else 0.0


def fmow_class_for(mask: np.ndarray | None, gsd: float | None) -> str:
    """The fMoW class a class mask (0 background, 1 building, 2 road, 3 water, 4 vegetation) looks like.

    Mostly water -> lake or pond; buildings -> single-unit residential when the median footprint is
    house-sized (<= 400 m^2), else multi-unit residential; mostly vegetation -> park; open land ->
    crop field. No mask -> single-unit residential.
    """
    if mask is None or not np.asarray(mask).size or not gsd:
        return DEFAULT_FMOW_CLASS
    f = _fractions(mask)
    if f[0] == 1.0:
        return DEFAULT_FMOW_CLASS
    if f[3] >= 0.4:
        return "lake or pond"
    if f[1] >= 0.03:
        return "single-unit residential" if _median_building_m2(mask, gsd) <= HOUSE_MAX_M2 else "multi-unit residential"
    if f[4] >= 0.4:
        return "park"
    return "crop field"


def geosynth_caption(mask: np.ndarray | None, gsd: float | None = None) -> str:
    """A caption in GeoSynth-OSM's style ("Satellite image features a city neighborhood").

    GeoSynth's captions were LLaVA-1.5 descriptions of each satellite image; its model card prompts
    with "Satellite image features ..." and a short scene. The scene comes from the map.
    """
    if mask is None or not np.asarray(mask).size or _fractions(mask)[0] == 1.0:
        return "Satellite image features a city neighborhood"
    f = _fractions(mask)
    roads = " and roads" if f[2] >= 0.02 else ""
    if f[3] >= 0.4:
        scene = "a lake surrounded by land"
    elif f[1] >= 0.03:
        houses = gsd is None or _median_building_m2(mask, gsd) <= HOUSE_MAX_M2
        scene = f"a residential neighborhood with houses, trees{roads}" if houses else f"a city neighborhood with buildings{roads}"
    elif f[4] >= 0.4:
        scene = f"a green area with trees{roads}"
    else:
        scene = f"an open rural area with fields{roads}"
    return f"Satellite image features {scene}"


def caption_for(where: Any, cls: str | None = None) -> str:
    """DiffusionSat's fMoW caption for an ``Area``, a shapely geometry (lon/lat) or a (lon, lat) pair.

    ``cls`` is one of fMoW's classes (``"car_dealership"`` or ``"car dealership"``); None means
    single-unit residential. Without a country (open sea) the ``in {country}`` part is left out.
    """
    if hasattr(where, "centroid") and isinstance(where.centroid, tuple):
        lon, lat = where.centroid  # an Area
    elif isinstance(where, BaseGeometry):
        c = where.centroid
        lon, lat = c.x, c.y
    else:
        lon, lat = (float(v) for v in where)
    words = fmow_class(cls if cls is not None else DEFAULT_FMOW_CLASS)
    country = country_at(lon, lat)
    return f"a fmow satellite image of a {words} in {country}" if country else f"a fmow satellite image of a {words}"
