"""Planning: polygon coverage (not bounding boxes), lattice-aligned chunks, XYZ tiles, AOI."""

from __future__ import annotations

import math

import mercantile
import numpy as np
import pytest
import shapely
from rasterio.crs import CRS

from satgeo.batch.tiling import TileGrid, group_chunks, make_plan, touched_tiles
from satgeo.errors import InputError

UTM = CRS.from_epsg(32613)


def lattice(tile_px: int = 100, gsd: float = 1.0) -> TileGrid:
    return TileGrid.utm(UTM, gsd, tile_px)  # tiles of 100 m


def test_an_l_shaped_polygon_plans_only_the_tiles_it_covers_not_its_bbox():
    # An L along the left column and bottom row of a 3 x 3 tile block at (500000, 4400000)-(500300, 4400300).
    l_shape = shapely.Polygon(
        [(500010, 4400010), (500290, 4400010), (500290, 4400090), (500090, 4400090), (500090, 4400290), (500010, 4400290)]
    )
    tiles = touched_tiles(np.array([l_shape]), lattice())
    tx0, ty_bottom = 5000, -44000 - 1  # ty counts down from the CRS origin: row of y in [4400000, 4400100)
    expected = {(tx0, ty_bottom), (tx0 + 1, ty_bottom), (tx0 + 2, ty_bottom), (tx0, ty_bottom - 1), (tx0, ty_bottom - 2)}
    assert tiles == expected  # 5 of the bbox's 9 tiles


def test_touching_a_tile_edge_does_not_plan_that_tile():
    square = shapely.box(500000, 4400000, 500100, 4400100)  # exactly one tile, edges on tile borders
    assert len(touched_tiles(np.array([square]), lattice())) == 1


def test_chunks_sit_on_the_lattice_whatever_else_is_in_the_job():
    a = shapely.box(500010, 4400010, 500050, 4400050)
    far = shapely.box(503210, 4403210, 503250, 4403250)
    alone = make_plan(np.array([a]), lattice(), chunk_tiles=4)
    both = make_plan(np.array([a, far]), lattice(), chunk_tiles=4)
    assert len(alone.chunks) == 1 and len(both.chunks) == 2
    chunk = alone.chunks[0]
    assert chunk in both.chunks  # same id, tiles and grid
    t = chunk.grid.transform
    assert t.c % 100 == 0 and t.f % 100 == 0 and t.a == 1.0 and t.e == -1.0
    assert (chunk.grid.width, chunk.grid.height) == (100, 100)  # bbox of its planned tiles only


def test_chunk_grid_covers_exactly_its_tiles_and_ids_are_unique():
    tiles = {(0, 0), (1, 0), (3, 3), (4, 4), (5, 4)}
    chunks = group_chunks(tiles, lattice(), 4)
    assert sorted(t for c in chunks for t in c.tiles) == sorted(tiles)
    assert len({c.id for c in chunks}) == len(chunks) == 2
    first = next(c for c in chunks if (3, 3) in c.tiles)
    assert first.tiles == ((0, 0), (1, 0), (3, 3))
    assert (first.grid.width, first.grid.height) == (400, 400)


def test_xyz_lattice_matches_web_mercator_tiles():
    lat = TileGrid.xyz(17)
    lon, la = -105.25, 40.0
    tile = mercantile.tile(lon, la, 17)
    x, y = mercantile.xy(lon, la)
    pt = shapely.Point(x, y).buffer(1.0)
    tiles = touched_tiles(np.array([pt]), lat)
    assert tiles == {(tile.x, tile.y)}
    b = mercantile.xy_bounds(tile)
    g = lat.grid(tile.x, tile.y, tile.x, tile.y)
    assert g.crs.to_epsg() == 3857 and (g.width, g.height) == (256, 256)
    assert np.allclose(g.bounds, (b.left, b.bottom, b.right, b.top), atol=1e-6)


def test_aoi_keeps_only_tiles_inside_it_and_refuses_an_empty_intersection():
    a = shapely.box(500010, 4400010, 500050, 4400050)
    b = shapely.box(500510, 4400010, 500550, 4400050)
    aoi = shapely.box(500000, 4400000, 500200, 4400200)
    plan = make_plan(np.array([a, b]), lattice(), 1, aoi=aoi)
    assert plan.tile_count == 1
    with pytest.raises(InputError, match="inside the --aoi"):
        make_plan(np.array([b]), lattice(), 1, aoi=aoi)


def test_roads_are_widened_when_planning():
    road = shapely.LineString([(500010, 4400098), (500090, 4400098)])  # 2 m below a tile border
    assert len(make_plan(np.array([road]), lattice(), 1).chunks) == 1
    assert len(make_plan(np.array([road]), lattice(), 1, line_margin=5.0).chunks) == 2


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_bad_gsd_is_refused(bad):
    with pytest.raises(InputError, match="--gsd"):
        TileGrid.utm(UTM, bad, 256)


def test_bad_zoom_is_refused():
    with pytest.raises(InputError, match="--zoom"):
        TileGrid.xyz(40)
