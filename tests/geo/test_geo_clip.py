"""Cutting a layer set to the area being rendered changes no pixel and drops the far-away vertices."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import Point, box

from satgeo.geo.grid import Grid
from satgeo.geo.masks import load_layers

UTM32 = CRS.from_epsg(32632)


def _landuse_and_houses() -> gpd.GeoDataFrame:
    # a 3 km wavy meadow with 20,000 vertices, a lake inside it and a few houses
    t = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
    r = 1500 + 40 * np.sin(37 * t)
    meadow = shapely.Polygon(np.c_[500000 + r * np.cos(t), 5200000 + r * np.sin(t)])
    lake = Point(500100, 5200050).buffer(60)
    houses = [box(500000 + 25 * k, 5199990, 500012 + 25 * k, 5200002) for k in range(6)]
    return gpd.GeoDataFrame(
        {"landuse": ["meadow", None] + [None] * 6, "natural": [None, "water"] + [None] * 6,
         "building": [None, None] + ["yes"] * 6},
        geometry=[meadow, lake, *houses], crs=UTM32,
    )


def test_clipped_set_burns_the_same_mask():
    ls = load_layers([_landuse_and_houses()], UTM32)
    grid = Grid(UTM32, Affine(0.5, 0, 499950.0, 0, -0.5, 5200150.0), 400, 300)
    w, s, e, n = grid.bounds
    cut = ls.clipped((w - 10, s - 10, e + 10, n + 10), UTM32)
    a, b = ls.rasterize(grid), cut.rasterize(grid)
    assert set(np.unique(a)) >= {1, 3, 4}
    np.testing.assert_array_equal(a, b)
    before = int(shapely.get_num_coordinates(ls.geoms).sum())
    after = int(shapely.get_num_coordinates(cut.geoms).sum())
    assert after < before / 50
