"""The one layer reader and its one CRS policy, seen from the CLI (`satgeo mask`, `satgeo batch`):
a file without a CRS is lon/lat only when every coordinate can be; otherwise one line, exit 2."""

from __future__ import annotations

import geopandas as gpd
import pytest
from cli_support import run_cli
from shapely.geometry import box

from satgeo.errors import InputError
from satgeo.geo.layers import NO_CRS, read_layer, read_named_layers


def _no_crs(path, geom):
    gpd.GeoDataFrame({"building": ["yes"]}, geometry=[geom]).to_file(path)  # a .shp without .prj
    return path


def test_a_lonlat_file_without_crs_is_taken_as_wgs84(tmp_path):
    gdf = read_layer(_no_crs(tmp_path / "ll.shp", box(9.50, 47.10, 9.51, 47.11)))
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == 1


def test_a_projected_file_without_crs_is_refused_in_one_line(tmp_path):
    path = _no_crs(tmp_path / "utm.shp", box(500000, 5200000, 500100, 5200100))
    with pytest.raises(InputError) as err:
        read_named_layers(path)
    assert NO_CRS in str(err.value) and "utm.shp" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="no CRS"):  # in memory too
        read_layer(gpd.GeoDataFrame(geometry=[box(500000, 5200000, 500100, 5200100)]))


def test_mask_and_batch_refuse_it_with_the_same_message(tmp_path):
    path = str(_no_crs(tmp_path / "utm.shp", box(500000, 5200000, 500100, 5200100)))
    code, _, err = run_cli("mask", path, "--bbox", "9.0", "46.9", "9.01", "46.91", "--gsd", "1",
                     "-o", str(tmp_path / "m.tif"))
    assert code == 2 and NO_CRS in err and len(err.strip().splitlines()) == 1, err
    code, _, err2 = run_cli("batch", path, "-o", str(tmp_path / "job"), "--gsd", "1", "--no-progress")
    assert code == 2 and NO_CRS in err2 and len(err2.strip().splitlines()) == 1, err2
    assert err.strip() == err2.strip()
    assert not (tmp_path / "m.tif").exists()


def test_lonlat_test_honours_its_tolerance_at_the_poles():
    from satgeo.geo.crs import is_lonlat

    beyond = (0.0, -90.0000000001, 1.0, 0.0)  # a pole rounded past -90 by a reprojection
    assert not is_lonlat(beyond) and is_lonlat(beyond, tol=1e-9)
    assert not is_lonlat((0.0, -90.1, 1.0, 0.0), tol=1e-9)
