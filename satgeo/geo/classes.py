"""Feature classes of vector layers: the class table, OSM tags -> class, line widths.

Classes: 0 background, 1 building, 2 road, 3 water, 4 vegetation (``BURN_ORDER``: later
classes overwrite earlier ones, so building > road > water > vegetation > background).

Classification of a layer's features:

- *Plain layers* (no OSM-style tag columns, e.g. a footprint GeoJSON or shapefile): polygons
  are buildings, lines are roads of ``DEFAULT_ROAD_WIDTH`` metres (or ``width`` / ``lanes``
  columns when present). Points are ignored.
- *Tagged layers* (columns such as ``building``, ``highway``, ``waterway``, ``natural``,
  ``landuse``, ``leisure`` or GDAL's OSM ``other_tags``):
  building: ``building`` set and not ``no``;
  road: lines with a ``highway`` value in ``ROAD_WIDTHS``;
  water: polygons with ``natural=water``, a ``water`` tag, ``landuse`` reservoir/basin,
  ``waterway`` riverbank/dock; and waterway lines (river, stream, canal, ...);
  vegetation: ``landuse`` / ``natural`` / ``leisure`` values in ``VEGETATION_TAGS``.
  Everything else is ignored.

A line's width comes from the ``width`` tag, else ``lanes`` x ``LANE_WIDTH``, else the class
table; ``road_width`` overrides roads.
"""

from __future__ import annotations

import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

BACKGROUND, BUILDING, ROAD, WATER, VEGETATION = 0, 1, 2, 3, 4
CLASS_NAMES = ("background", "building", "road", "water", "vegetation")
#: Burn order: later classes overwrite earlier ones.
BURN_ORDER = (VEGETATION, WATER, ROAD, BUILDING)
#: RGBA palette (QGIS style and COG colour table use the same colours).
PALETTE = {
    BACKGROUND: (0, 0, 0, 0),
    BUILDING: (230, 75, 60, 255),
    ROAD: (250, 250, 250, 255),
    WATER: (40, 110, 220, 255),
    VEGETATION: (60, 170, 70, 255),
}

DEFAULT_ROAD_WIDTH = 6.0
LANE_WIDTH = 3.5
#: Carriageway widths (m) by OSM highway class.
ROAD_WIDTHS = {
    "motorway": 14.0, "trunk": 12.0, "primary": 10.0, "secondary": 9.0, "tertiary": 8.0,
    "motorway_link": 7.0, "trunk_link": 7.0, "primary_link": 7.0, "secondary_link": 6.0,
    "tertiary_link": 6.0, "residential": 6.0, "unclassified": 6.0, "living_street": 5.0,
    "road": 6.0, "busway": 6.0, "service": 4.0, "pedestrian": 5.0, "raceway": 8.0,
    "track": 3.0, "footway": 2.0, "path": 1.5, "cycleway": 2.0, "bridleway": 2.0, "steps": 2.0,
    "construction": 6.0,
}
#: Widths (m) of waterway lines by class.
WATERWAY_WIDTHS = {"river": 12.0, "canal": 8.0, "stream": 2.5, "drain": 2.0, "ditch": 1.5, "tidal_channel": 5.0}
WATER_POLYGON_TAGS = {
    "natural": {"water", "bay", "strait"},
    "landuse": {"reservoir", "basin", "salt_pond"},
    "waterway": {"riverbank", "dock", "canal", "river"},
    "leisure": {"swimming_pool"},
}
VEGETATION_TAGS = {
    "landuse": {
        "forest", "grass", "meadow", "orchard", "vineyard", "farmland", "recreation_ground",
        "village_green", "allotments", "cemetery", "plant_nursery", "greenfield", "conservation",
    },
    "natural": {"wood", "scrub", "grassland", "heath", "wetland", "fell", "tundra"},
    "leisure": {"park", "garden", "golf_course", "nature_reserve", "common", "dog_park", "pitch"},
}
TAG_COLUMNS = ("building", "highway", "waterway", "natural", "landuse", "leisure", "water", "other_tags")

# --------------------------------------------------------------------------------------------
# Classification

_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def parse_other_tags(value: Any) -> dict[str, str]:
    """GDAL OSM ``other_tags`` (hstore text ``"k"=>"v",...``) -> dict."""
    if not isinstance(value, str) or not value:
        return {}
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _HSTORE.findall(value)}


def _col(gdf: gpd.GeoDataFrame, name: str, extra: pd.Series | None) -> pd.Series:
    """Column ``name`` as stripped lower-case strings with '' -> NaN, filled from other_tags."""
    if name in gdf.columns:
        s = gdf[name].astype("string").str.strip().str.lower()
        s = s.mask(s == "")
    else:
        s = pd.Series(pd.NA, index=gdf.index, dtype="string")
    if extra is not None:
        fill = extra.map(lambda d: d.get(name)).astype("string").str.strip().str.lower()
        s = s.fillna(fill)
    return s


def _num(series: pd.Series) -> pd.Series:
    """First number in each string (``"5 m"`` -> 5.0), NaN when there is none."""
    return pd.to_numeric(series.astype("string").str.extract(r"([0-9]+(?:\.[0-9]+)?)", expand=False), errors="coerce")


def _is_tagged(gdf: gpd.GeoDataFrame) -> bool:
    cols = {c.lower() for c in gdf.columns}
    for c in TAG_COLUMNS:
        if c in cols:
            s = gdf[[x for x in gdf.columns if x.lower() == c][0]]
            if s.astype("string").str.strip().replace("", pd.NA).notna().any():
                return True
    return False


def classify(gdf: gpd.GeoDataFrame, road_width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(class per feature (0 = ignored), line width in metres per feature (NaN for areas))."""
    gdf = gdf.rename(columns={c: c.lower() for c in gdf.columns if isinstance(c, str) and c != "geometry"})
    n = len(gdf)
    gtype = gdf.geometry.geom_type.fillna("")
    is_line = gtype.isin(["LineString", "MultiLineString", "LinearRing"]).to_numpy()
    is_poly = gtype.isin(["Polygon", "MultiPolygon"]).to_numpy()
    classes = np.zeros(n, np.uint8)
    widths = np.full(n, np.nan)
    extra = gdf["other_tags"].map(parse_other_tags) if "other_tags" in gdf.columns else None

    def num_tag(name: str, alt: str | None = None) -> np.ndarray:
        s = _col(gdf, name, extra)
        if alt and alt in gdf.columns:
            s = s.fillna(_col(gdf, alt, None))
        out: np.ndarray = _num(s).to_numpy(dtype=float)
        return out

    tag_width = num_tag("width")
    lanes = num_tag("lanes", "lane_number")
    explicit = np.where(np.isfinite(tag_width) & (tag_width > 0), tag_width,
                        np.where(np.isfinite(lanes) & (lanes > 0), lanes * LANE_WIDTH, np.nan))

    if not _is_tagged(gdf):
        classes[is_poly] = BUILDING
        classes[is_line] = ROAD
        widths[is_line] = road_width if road_width else np.where(
            np.isfinite(explicit[is_line]), explicit[is_line], DEFAULT_ROAD_WIDTH)
        return classes, widths

    tags = {k: _col(gdf, k, extra) for k in ("building", "highway", "waterway", "natural", "landuse", "leisure", "water")}

    def isin(key: str, values: set[str]) -> np.ndarray:
        out: np.ndarray = tags[key].isin(list(values)).fillna(False).to_numpy(dtype=bool)
        return out

    veg = np.zeros(n, bool)
    for key, values in VEGETATION_TAGS.items():
        veg |= isin(key, values)
    classes[is_poly & veg] = VEGETATION

    water_poly = tags["water"].notna().to_numpy(dtype=bool).copy()
    for key, values in WATER_POLYGON_TAGS.items():
        water_poly |= isin(key, values)
    classes[is_poly & water_poly] = WATER
    ww = tags["waterway"]
    ww_line = is_line & isin("waterway", set(WATERWAY_WIDTHS))
    classes[ww_line] = WATER
    ww_default = ww.map(WATERWAY_WIDTHS).astype(float).to_numpy()
    widths[ww_line] = np.where(np.isfinite(tag_width[ww_line]) & (tag_width[ww_line] > 0),
                               tag_width[ww_line], ww_default[ww_line])

    hw = tags["highway"]
    road = is_line & isin("highway", set(ROAD_WIDTHS))
    classes[road] = ROAD
    if road_width:
        widths[road] = road_width
    else:
        hw_default = hw.map(ROAD_WIDTHS).astype(float).to_numpy()
        widths[road] = np.where(np.isfinite(explicit[road]), explicit[road], hw_default[road])

    b = tags["building"]
    building = is_poly & (b.notna() & (b != "no")).fillna(False).to_numpy(dtype=bool)
    classes[building] = BUILDING
    return classes, widths
