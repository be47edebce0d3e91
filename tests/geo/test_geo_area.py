"""Areas and work grids: bboxes in any CRS, polygon layers in several formats, edge cases."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

from satgeo.errors import InputError
from satgeo.geo.area import Area, utm_crs_for
from satgeo.geo.grid import MAX_GRID_SIDE


def _to(crs_from, crs_to, x, y):
    return pyproj.Transformer.from_crs(crs_from, crs_to, always_xy=True).transform(x, y)


def test_lonlat_bbox_gets_local_utm_grid_at_ground_gsd():
    area = Area.from_bbox((9.50, 47.12, 9.54, 47.15))
    grid = area.work_grid(gsd=2.0)
    assert grid.crs.to_epsg() == 32632
    assert grid.gsd == 2.0
    # about 3.03 km x 3.34 km, a little more in UTM bounds (the box is slightly rotated there)
    assert 1515 <= grid.width <= 1560 and 1665 <= grid.height <= 1700
    w, s, e, n = grid.bounds
    cx, cy = _to(4326, 32632, 9.52, 47.135)
    assert w < cx < e and s < cy < n


def test_web_mercator_bbox():
    x0, y0 = _to(4326, 3857, -105.30, 39.96)
    x1, y1 = _to(4326, 3857, -105.21, 40.02)
    area = Area.from_bbox((x0, y0, x1, y1), "EPSG:3857")
    assert area.work_crs().to_epsg() == 32613
    lon, lat = area.centroid
    assert lon == pytest.approx(-105.255, abs=1e-3) and lat == pytest.approx(39.99, abs=2e-3)
    grid = area.work_grid(gsd=10)
    # ground size ~7.7 km x 6.7 km (Mercator metres would say 10.0 km x 8.7 km)
    assert 760 <= grid.width <= 790 and 660 <= grid.height <= 690


def test_utm_bbox_round_trips_exactly_when_pinned():
    bbox = (733601.0, 3724689.0, 734051.0, 3725139.0)
    area = Area.from_bbox(bbox, "EPSG:32616", work_crs="EPSG:32616")
    grid = area.work_grid(gsd=0.5)
    assert (grid.width, grid.height) == (900, 900)
    assert grid.bounds == bbox
    # unpinned, it lands in its own UTM zone anyway, to within millimetres
    g2 = Area.from_bbox(bbox, "EPSG:32616").work_grid(gsd=0.5)
    assert g2.crs.to_epsg() == 32616 and g2.bounds == pytest.approx(bbox, abs=1e-3)


@pytest.mark.parametrize("epsg,bbox,utm", [
    (2056, (2600000.0, 1200000.0, 2601000.0, 1201000.0), 32632),  # Swiss LV95, Bern
    (27700, (530000.0, 180000.0, 531000.0, 181000.0), 32630),  # British National Grid, London
])
def test_national_grid_bbox(epsg, bbox, utm):
    area = Area.from_bbox(bbox, f"EPSG:{epsg}")
    assert area.work_crs().to_epsg() == utm
    g = area.work_grid(gsd=1.0)
    assert 1000 <= g.width <= 1030 and 1000 <= g.height <= 1030  # rotated slightly in UTM
    pinned = area.pinned(f"EPSG:{epsg}").work_grid(gsd=1.0)
    assert pinned.crs.to_epsg() == epsg
    assert (pinned.width, pinned.height) == (1000, 1000) and pinned.bounds == bbox


def test_width_sets_the_gsd():
    area = Area.from_bbox((2600000.0, 1200000.0, 2602000.0, 1201000.0), "EPSG:2056", work_crs="EPSG:2056")
    g = area.work_grid(width=500)
    assert (g.gsd, g.width, g.height) == (4.0, 500, 250)


def test_antimeridian_bbox_is_one_area():
    area = Area.from_bbox((179.9, -16.6, -179.9, -16.4))  # W > E: across 180
    w, s, e, n = area.bounds
    assert (w, e) == pytest.approx((179.9, 180.1))
    lon, lat = area.centroid
    assert abs(abs(lon) - 180) < 1e-3 and lat == pytest.approx(-16.5, abs=1e-3)
    g = area.work_grid(gsd=10)
    assert g.crs.to_epsg() in (32701, 32760)
    assert 2100 <= g.width <= 2200 and 2200 <= g.height <= 2260  # ~21.3 km x 22.1 km


def test_swapped_w_e_is_refused_in_projected_and_far_apart_in_lonlat():
    with pytest.raises(InputError, match="W < E"):
        Area.from_bbox((10.0, 0.0, 5.0, 1.0), "EPSG:3857")
    with pytest.raises(InputError, match="swap"):
        Area.from_bbox((10.0, 0.0, 5.0, 1.0))


def test_polar_areas_use_ups():
    cap = Area.from_bbox((-180.0, 86.0, 180.0, 90.0))
    g = cap.work_grid(gsd=1000)
    assert g.crs.to_epsg() == 32661
    assert 880 <= g.width <= 895 and 880 <= g.height <= 895  # a disc ~889 km across
    south = Area.from_bbox((0.0, -89.0, 10.0, -85.0))
    assert south.work_crs().to_epsg() == 32761
    assert utm_crs_for(10, 84.5).to_epsg() == 32661 and utm_crs_for(10, 83.9).to_epsg() == 32632


@pytest.mark.parametrize("bbox,crs,match", [
    ((1.0, 2.0, 1.0, 3.0), "EPSG:4326", "no area"),
    ((1.0, 2.0, 3.0, 2.0), "EPSG:4326", "S < N"),
    ((float("nan"), 0.0, 1.0, 1.0), "EPSG:4326", "non-finite"),
    ((0.0, 0.0, 1.0, float("inf")), "EPSG:4326", "non-finite"),
    ((0.0, 0.0, 1.0, 1.0), "EPSG:999999", "unknown CRS"),
    ((0.0, 0.0, 1.0, 1.0), "not-a-crs", "unknown CRS"),
    ((500000.0, 5.0e6, 500100.0, 5.0001e6), "EPSG:4326", "not longitude/latitude"),
])
def test_bad_bboxes_are_refused(bbox, crs, match):
    with pytest.raises(InputError, match=match):
        Area.from_bbox(bbox, crs)


def test_grid_above_limit_is_refused():
    with pytest.raises(InputError, match=f"limit of {MAX_GRID_SIDE}"):
        Area.from_bbox((0.0, 0.0, 10.0, 10.0)).work_grid(gsd=0.5)


def _write(gdf: gpd.GeoDataFrame, path, driver):
    gdf.to_file(path, driver=driver)
    return path


@pytest.fixture
def aoi_gdf():
    # two touching squares near Vaduz, EPSG:2056 (LV95), one given with a self-crossing ring
    x, y = 2758000.0, 1223000.0
    bowtie = Polygon([(x + 500, y), (x + 1000, y + 500), (x + 1000, y), (x + 500, y + 500)])
    return gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[box(x, y, x + 500, y + 500), bowtie], crs=2056)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "zip"])
def test_area_from_polygon_layer_in_several_formats(tmp_path, aoi_gdf, fmt):
    if fmt == "geojson":
        path = _write(aoi_gdf, tmp_path / "aoi.geojson", "GeoJSON")
    elif fmt == "gpkg":
        path = _write(aoi_gdf, tmp_path / "aoi.gpkg", "GPKG")
    else:
        shp = _write(aoi_gdf, tmp_path / "aoi.shp", "ESRI Shapefile")
        path = shp
        if fmt == "zip":
            path = tmp_path / "aoi.zip"
            with zipfile.ZipFile(path, "w") as z:
                for f in tmp_path.glob("aoi.*"):
                    if f.suffix != ".zip":
                        z.write(f, f.name)
    area = Area.from_file(path)
    assert area.geometry.is_valid
    lon, lat = area.centroid
    assert 9.4 < lon < 9.7 and 47.0 < lat < 47.3  # Liechtenstein
    g = area.pinned("EPSG:2056").work_grid(gsd=10)
    assert g.bounds == pytest.approx((2758000.0, 1223000.0, 2759000.0, 1223500.0), abs=1e-6)
    # the bow-tie is repaired into two triangles: 250,000 + 2 x 62,500 m2
    assert area.pinned("EPSG:2056").work_geometry().area == pytest.approx(250000 + 125000, rel=1e-9)
    assert area.work_geometry().area == pytest.approx(375000, rel=2e-3)  # UTM 32 scale ~0.9996^2


def test_area_from_geometry_and_geojson():
    geom = box(85.519, 27.629, 85.523, 27.634)
    a1 = Area.from_geometry(geom)
    a2 = Area.from_geometry({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(geom)})
    assert a1.geometry.equals(a2.geometry)
    assert a1.work_crs().to_epsg() == 32645


def test_non_polygon_and_empty_areas_are_refused(tmp_path):
    with pytest.raises(InputError, match="polygon"):
        Area.from_geometry(LineString([(0, 0), (1, 1)]))
    with pytest.raises(InputError, match="empty"):
        Area.from_geometry(Polygon())
    with pytest.raises(InputError, match="no area"):
        Area.from_geometry(Polygon([(0, 0), (1, 1), (2, 2), (0, 0)]))  # degenerate ring
    lines = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])], crs=4326)
    lines.to_file(tmp_path / "l.geojson", driver="GeoJSON")
    with pytest.raises(InputError, match="no polygons"):
        Area.from_file(tmp_path / "l.geojson")
    with pytest.raises(InputError, match="no such file"):
        Area.from_file(tmp_path / "missing.gpkg")
    (tmp_path / "junk.geojson").write_text("{ not json")
    with pytest.raises(InputError, match="cannot read"):
        Area.from_file(tmp_path / "junk.geojson")


def test_area_layer_split_at_antimeridian_is_joined(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(box(179.8, -17, 180, -16))},
        {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(box(-180, -17, -179.8, -16))},
    ]}
    (tmp_path / "fiji.geojson").write_text(json.dumps(fc))
    area = Area.from_file(tmp_path / "fiji.geojson")
    w, _, e, _ = area.bounds
    assert (w, e) == pytest.approx((179.8, 180.2))
    assert area.geometry.geom_type == "Polygon"
