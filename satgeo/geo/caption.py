"""DiffusionSat captions and an offline country lookup.

Captions follow DiffusionSat's fMoW template: ``"a fmow satellite image of a {class} in {country}"``
with the class words space-separated (fMoW's ``car_dealership`` -> ``car dealership``).

Countries come from Natural Earth 1:50m admin-0 boundaries (public domain), bundled as the
TopoJSON of the ``world-atlas`` package (ISC, (c) Mike Bostock); see ``data/ATTRIBUTION.md``.
No network is used. Points at sea get the nearest country within ~25 km, else ``None``.
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
        parts = []
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
        out.append((_FULL_NAMES.get(name, name), geom))
    return out


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


def caption_for(where: Any, cls: str = "building") -> str:
    """DiffusionSat's fMoW caption for an ``Area``, a shapely geometry (lon/lat) or a (lon, lat) pair.

    ``cls`` is an fMoW-style class name (``"car_dealership"`` or ``"car dealership"``).
    Without a country (open sea) the ``in {country}`` part is left out.
    """
    if hasattr(where, "centroid") and isinstance(where.centroid, tuple):
        lon, lat = where.centroid  # an Area
    elif isinstance(where, BaseGeometry):
        c = where.centroid
        lon, lat = c.x, c.y
    else:
        lon, lat = (float(v) for v in where)
    words = " ".join(str(cls).replace("_", " ").split())
    if not words:
        raise InputError("caption class must not be empty")
    country = country_at(lon, lat)
    return f"a fmow satellite image of a {words} in {country}" if country else f"a fmow satellite image of a {words}"
