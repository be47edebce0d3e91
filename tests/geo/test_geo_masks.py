"""Multi-class masks: exact solaris oracles, tag classification, priorities, caching, OSM PBF."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import LineString, Point, box

from satgeo.errors import InputError
from satgeo.geo.area import Area
from satgeo.geo.grid import Grid
from satgeo.geo.masks import (
    BUILDING,
    ROAD,
    VEGETATION,
    WATER,
    classify,
    load_layers,
    parse_other_tags,
    rasterize_layers,
    read_layer,
)

UTM32 = CRS.from_epsg(32632)


def _grid_from_json(path) -> Grid:
    d = json.loads(path.read_text())
    return Grid(CRS.from_user_input(d["crs"]), Affine(*d["transform"]), d["width"], d["height"])


def test_solaris_footprint_oracle_is_exact(data_dir):
    d = data_dir / "solaris"
    grid = _grid_from_json(d / "sample_geotiff.grid.json")
    mask = rasterize_layers([d / "geotiff_labels.geojson"], grid)
    with rasterio.open(d / "sample_fp_mask_from_geojson.tif") as src:
        ref = src.read(1)
    assert set(np.unique(mask)) == {0, BUILDING}
    np.testing.assert_array_equal(mask > 0, ref > 0)
    assert (ref > 0).mean() == pytest.approx(0.0418, abs=1e-4)


def test_solaris_road_oracle_is_exact(data_dir):
    d = data_dir / "solaris"
    with rasterio.open(d / "sample_road_raster_mask.tif") as src:
        ref = src.read(1)
        grid = Grid(src.crs, src.transform, src.width, src.height)
    assert grid.crs.to_epsg() == 4326  # buffered in UTM 11N, burned in lon/lat
    layers = load_layers([d / "sample_roads_for_masking.geojson"], grid.crs, road_width=4.0)
    mask = layers.rasterize(grid)
    assert set(np.unique(mask)) == {0, ROAD}
    np.testing.assert_array_equal(mask > 0, ref > 0)
    # and the oracle is sensitive: 3 m instead of 4 m differs
    thinner = load_layers([d / "sample_roads_for_masking.geojson"], grid.crs, road_width=3.0).rasterize(grid)
    assert ((thinner > 0) != (ref > 0)).sum() > 1000


def _town() -> gpd.GeoDataFrame:
    """A hand-made OSM-like layer in UTM 32 (Vaduz): every class, overlaps and ignored tags."""
    x, y = 540000.0, 5220000.0
    rows = [
        ({"leisure": "park"}, box(x, y, x + 200, y + 200)),
        ({"building": "yes"}, box(x + 50, y + 50, x + 90, y + 90)),  # inside the park
        ({"natural": "water"}, box(x + 120, y + 120, x + 180, y + 180)),  # pond in the park
        ({"highway": "primary"}, LineString([(x - 100, y + 100), (x + 300, y + 100)])),  # 10 m wide
        ({"waterway": "river", "other_tags": '"width"=>"20"'}, LineString([(x + 250, y - 100), (x + 250, y + 300)])),
        ({"highway": "residential", "other_tags": '"lanes"=>"4","surface"=>"asphalt"'},
         LineString([(x - 100, y + 250), (x + 300, y + 250)])),  # 14 m wide (4 lanes x 3.5 m)
        ({"building": "no"}, box(x - 90, y - 90, x - 50, y - 50)),
        ({"landuse": "residential"}, box(x - 100, y - 100, x, y)),
        ({"highway": "proposed"}, LineString([(x - 100, y - 20), (x + 300, y - 20)])),
        ({"landuse": "forest"}, box(x + 300, y, x + 400, y + 300)),
        ({"natural": "wood"}, Point(x, y).buffer(1)),  # tiny
    ]
    cols = ("building", "highway", "waterway", "natural", "landuse", "leisure", "other_tags")
    data = {c: [r[0].get(c) for r in rows] for c in cols}
    return gpd.GeoDataFrame(data, geometry=[r[1] for r in rows], crs=UTM32)


def _at(mask: np.ndarray, grid: Grid, x: float, y: float) -> int:
    col, row = ~grid.transform @ (x, y)
    return int(mask[int(row), int(col)])


def test_tagged_layer_classes_and_priority():
    gdf = _town()
    classes, widths = classify(gdf)
    assert classes.tolist() == [VEGETATION, BUILDING, WATER, ROAD, WATER, ROAD, 0, 0, 0, VEGETATION, VEGETATION]
    assert widths[3] == 10.0 and widths[4] == 20.0 and widths[5] == 14.0
    x, y = 540000.0, 5220000.0
    grid = Grid.from_bounds(UTM32, (x - 100, y - 100, x + 400, y + 300), 1.0)
    mask = rasterize_layers([gdf], grid)
    assert _at(mask, grid, x + 20, y + 20) == VEGETATION
    assert _at(mask, grid, x + 70, y + 70) == BUILDING  # building over park
    assert _at(mask, grid, x + 150, y + 150) == WATER  # pond over park
    assert _at(mask, grid, x + 150, y + 100) == ROAD  # road over park
    assert _at(mask, grid, x + 250, y + 100) == ROAD  # road bridges the river
    assert _at(mask, grid, x + 250, y + 50) == WATER
    assert _at(mask, grid, x - 70, y - 70) == 0  # building=no, landuse=residential, proposed road
    assert _at(mask, grid, x - 50, y - 20) == 0
    # widths in pixels across each line (1 m pixels)
    col = int(x - 50 - grid.transform.c)
    assert (mask[:, col] == ROAD).sum() == 10 + 14
    row = int(grid.transform.f - (y - 50))
    assert (mask[row, :] == WATER).sum() == 20


def test_plain_layers_are_buildings_and_roads():
    x, y = 540000.0, 5220000.0
    plain = gpd.GeoDataFrame({"year_built": [1990, 2000]},
                             geometry=[box(x, y, x + 10, y + 10), LineString([(x, y + 50), (x + 100, y + 50)])],
                             crs=UTM32)
    classes, widths = classify(plain)
    assert classes.tolist() == [BUILDING, ROAD] and widths[1] == 6.0
    lanes = plain.assign(lane_number=[None, 2])
    assert classify(lanes)[1][1] == 7.0


def test_pixel_centre_rule_and_all_touched():
    grid = Grid(UTM32, Affine(1, 0, 0, 0, -1, 10), 10, 10)
    # covers x 2.4..4.6: centres at 2.5, 3.5, 4.5 -> 3 columns; touches 2..5 -> 3 (2,3,4) too
    # so use 2.6..4.4: centres 3.5 only -> 1 column; touched columns 2, 3, 4
    gdf = gpd.GeoDataFrame(geometry=[box(2.6, 2.6, 4.4, 4.4)], crs=UTM32)
    assert (rasterize_layers([gdf], grid) == BUILDING).sum() == 1
    assert (rasterize_layers([gdf], grid, all_touched=True) == BUILDING).sum() == 9


def test_layerset_tiles_stitch_to_the_whole(data_dir):
    grid = _grid_from_json(data_dir / "solaris" / "sample_geotiff.grid.json")
    ls = load_layers([data_dir / "solaris" / "geotiff_labels.geojson"], "EPSG:4326")
    whole = ls.rasterize(grid)  # reprojected once to the grid's CRS and cached
    assert ls.in_crs(grid.crs) is ls.in_crs(grid.crs)
    stitched = np.zeros_like(whole)
    for r in range(0, 900, 256):
        for c in range(0, 900, 256):
            sub = grid.window(c, r, 256, 256)
            tile = ls.rasterize(sub)
            h, w = min(256, 900 - r), min(256, 900 - c)
            stitched[r : r + h, c : c + w] = tile[:h, :w]
    np.testing.assert_array_equal(stitched, whole)
    assert (whole == BUILDING).mean() == pytest.approx(0.0418, abs=2e-3)


def test_parse_other_tags():
    assert parse_other_tags('"lanes"=>"2","name:de"=>"Haupt \\"str\\"","width"=>"7.5 m"') == {
        "lanes": "2", "name:de": 'Haupt "str"', "width": "7.5 m"}
    assert parse_other_tags(None) == {} and parse_other_tags("") == {}


def test_unreadable_layers_are_refused(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_layer(tmp_path / "nope.gpkg")
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"this is not a geopackage")
    with pytest.raises(InputError, match="cannot read"):
        read_layer(bad)
    no_crs = tmp_path / "utm_without_prj.shp"
    gpd.GeoDataFrame(geometry=[box(500000, 5000000, 500010, 5000010)]).to_file(no_crs)
    with pytest.raises(InputError, match="no CRS"):
        read_layer(no_crs)


@pytest.mark.shared_data
def test_liechtenstein_pbf_has_all_four_classes_where_expected(shared_file):
    pbf = shared_file("osm2pgsql_liechtenstein/liechtenstein-2013-08-03.osm.pbf")
    area = Area.from_bbox((9.49, 47.12, 9.55, 47.17))  # Vaduz and Schaan, the Rhine, forests
    grid = area.work_grid(gsd=2.0)
    ls = load_layers([pbf], grid.crs, bbox=(9.48, 47.11, 9.56, 47.18))
    counts = ls.counts()
    assert all(counts[c] > 5 for c in ("building", "road", "water", "vegetation")), counts
    mask = ls.rasterize(grid)
    frac = np.bincount(mask.ravel(), minlength=5) / mask.size
    assert all(frac[c] > 0.001 for c in (BUILDING, ROAD, WATER, VEGETATION)), frac

    raw = read_layer(pbf).to_crs(grid.crs)
    inside = raw[raw.intersects(box(*grid.bounds).buffer(-50))]

    def sample(points) -> np.ndarray:
        cols, rows = ~grid.transform @ (np.array([p.x for p in points]), np.array([p.y for p in points]))
        rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
        ok = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        return mask[rows[ok], cols[ok]]

    def tag(col: str, values: set[str]):
        return inside[inside[col].isin(values)]

    buildings = inside[inside["building"].notna() & (inside["building"] != "no")]
    at = sample(buildings.geometry.representative_point())
    assert len(at) > 300 and (at == BUILDING).mean() > 0.95
    roads = tag("highway", {"primary", "secondary", "tertiary", "residential"})
    at = sample([g.interpolate(0.5, normalized=True) for g in roads.geometry])
    assert len(at) > 50 and (at == ROAD).mean() > 0.95 and not np.isin(at, [0, VEGETATION]).any()
    rivers = tag("waterway", {"river", "canal", "stream"})
    at = sample([g.interpolate(0.5, normalized=True) for g in rivers.geometry])
    assert len(at) >= 3 and (at == WATER).mean() > 0.75 and not np.isin(at, [0, VEGETATION]).any()
    forests = inside[inside["landuse"].isin({"forest"}) | inside["natural"].isin({"wood"})]
    at = sample(forests.geometry.representative_point())
    assert len(at) >= 3 and (at == VEGETATION).mean() > 0.9 and (at != 0).all()


@pytest.mark.shared_data
def test_boulder_zipped_shapefile_is_all_buildings(shared_file):
    z = shared_file("opengeos_boulder_mtbf33/boulder_buildings.zip")
    gdf = read_layer(z)
    assert len(gdf) == 13491
    classes, _ = classify(gdf)
    assert (classes == BUILDING).all()
