"""XYZ tile math against mercantile and brute force."""

from __future__ import annotations

import math

import mercantile
import pytest
from shapely.geometry import Polygon, box

from satgeo.errors import InputError
from satgeo.geo.xyz import (
    mercator_pixel_size,
    tile_bounds,
    tile_grid,
    tile_ground_gsd,
    tiles_for_geometry,
    zoom_for_gsd,
)


@pytest.mark.parametrize("x,y,z", [(0, 0, 0), (100, 200, 9), (54122, 97212, 18), (386690, 220241, 19)])
def test_tile_bounds_match_mercantile(x, y, z):
    assert tile_bounds(x, y, z) == pytest.approx(tuple(mercantile.xy_bounds(x, y, z)), abs=1e-6)
    g = tile_grid(x, y, z)
    assert g.crs.to_epsg() == 3857 and (g.width, g.height) == (256, 256)
    assert g.bounds == pytest.approx(tile_bounds(x, y, z), abs=1e-6)


def test_zoom_for_gsd_and_ground_gsd():
    assert mercator_pixel_size(0) == pytest.approx(156543.03392804097)
    assert tile_ground_gsd(18, 60.0) == pytest.approx(mercator_pixel_size(18) / 2)
    for lat in (0.0, 40.0, 60.0):
        for gsd in (0.3, 0.5, 1.0, 10.0):
            z = zoom_for_gsd(gsd, lat)
            assert tile_ground_gsd(z, lat) <= gsd + 1e-12 < tile_ground_gsd(z - 1, lat)
    with pytest.raises(InputError):
        zoom_for_gsd(0.0, 10.0)
    with pytest.raises(InputError):
        zoom_for_gsd(1.0, 89.0)


def test_tiles_for_geometry_equals_brute_force():
    tri = Polygon([(-105.30, 39.96), (-105.21, 39.97), (-105.25, 40.02)])
    got = set(tiles_for_geometry(tri, 16))
    cands = mercantile.tiles(*tri.bounds, [16])
    want = {(t.x, t.y, t.z) for t in cands if box(*mercantile.bounds(t)).intersects(tri)}
    assert got == want
    assert len(got) < len(list(mercantile.tiles(*tri.bounds, [16])))  # the triangle skips corners


def test_tiles_across_antimeridian():
    tiles = tiles_for_geometry(box(179.99, -16.01, 180.01, -16.0), 14)
    xs = {x for x, _, _ in tiles}
    assert xs == {0, 2**14 - 1}
    with pytest.raises(InputError):
        tiles_for_geometry(box(0, 0, 1, 1), 25)
    assert not math.isnan(tile_ground_gsd(0, 0))
