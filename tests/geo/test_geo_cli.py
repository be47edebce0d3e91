"""`satgeo metadata` and `satgeo mask` through the real entry point; bad input -> one line, exit 2, no file."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from cli_support import run_cli
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import LineString, box


def test_metadata_json_with_negative_coordinates():
    code, out, err = run_cli("metadata", "--bbox", "-105.3", "39.9", "-105.2", "40.0",
                         "--gsd", "0.5", "--date", "2020-06-15", "--cloud-cover", "0.2", "--json")
    assert code == 0, err
    d = json.loads(out)
    for key in ("lon", "lat", "gsd", "cloud_cover", "year", "month", "day", "normalized", "caption",
                "crs", "width", "height"):
        assert key in d
    assert d["lon"] == pytest.approx(-105.25, abs=1e-3) and d["lat"] == pytest.approx(39.95, abs=1e-3)
    assert (d["gsd"], d["cloud_cover"], d["year"], d["month"], d["day"]) == (0.5, 0.2, 2020, 6, 15)
    assert d["crs"] == "EPSG:32613"
    assert d["caption"] == "a fmow satellite image of a single-unit residential in United States of America"
    assert d["normalized"] == pytest.approx([
        (d["lon"] + 180) / 0.36, (d["lat"] + 90) / 0.18, 500.0, 200.0, 40 / 120 * 1000, 500.0, 15 / 31 * 1000])
    assert 17000 < d["width"] < 17300 and 22000 < d["height"] < 22400  # ~8.5 km x 11.1 km at 0.5 m


def test_metadata_width_in_web_mercator_is_ground_gsd():
    # a 1280 m (Mercator) square at 60 N on 9 E: 640 ground metres; 128 px -> 5 m
    import pyproj

    x, y = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(9.0, 60.0)
    code, out, err = run_cli("metadata", "--bbox", str(x - 640), str(y - 640), str(x + 640),
                         str(y + 640), "--crs", "EPSG:3857", "--width", "128", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["width"] == 128 and d["gsd"] == pytest.approx(5.0, rel=3e-3)
    assert d["normalized"][3:] == [0, 0, 0, 0] and d["caption"].endswith("in Norway")


@pytest.fixture
def town(tmp_path):
    x, y = 540000.0, 5220000.0  # Vaduz, UTM 32N
    gdf = gpd.GeoDataFrame(
        {"building": ["yes", None, None], "highway": [None, "primary", None], "landuse": [None, None, "forest"]},
        geometry=[box(x + 10, y + 10, x + 40, y + 40), LineString([(x, y + 80), (x + 200, y + 80)]),
                  box(x + 100, y, x + 200, y + 60)],
        crs=32632,
    ).to_crs(4326)
    path = tmp_path / "town.gpkg"
    gdf.to_file(path, driver="GPKG")
    return path, (x, y)


def test_mask_writes_a_class_cog(tmp_path, town):
    layer, (x, y) = town
    out = tmp_path / "sub" / "mask.tif"
    code, stdout, err = run_cli("mask", str(layer), "--bbox", str(x), str(y), str(x + 200),
                            str(y + 100), "--crs", "EPSG:32632", "--work-crs", "EPSG:32632", "--gsd", "0.5",
                            "-o", str(out))
    assert code == 0, err
    assert stdout.strip() == str(out)
    assert cog_validate(str(out), quiet=True)[0]
    with rasterio.open(out) as src:
        m = src.read(1)
        assert src.crs.to_epsg() == 32632 and (src.width, src.height) == (400, 200)
        assert src.transform.c == x and src.transform.f == y + 100 and src.transform.a == 0.5
        assert src.colormap(1)[1][:3] == (230, 75, 60)
        assert json.loads(src.tags()["CLASSES"])["2"] == "road"
    counts = np.bincount(m.ravel(), minlength=5)
    assert counts[1] == 60 * 60  # 30 m x 30 m building at 0.5 m
    assert counts[2] == 400 * 20  # 10 m primary road across the grid
    assert counts[4] == 200 * 120  # forest, 100 m x 60 m
    assert sorted(p.name for p in out.parent.iterdir()) == ["mask.tif"]


def test_mask_with_aoi_file(tmp_path, town):
    layer, (x, y) = town
    aoi = tmp_path / "aoi.geojson"
    gpd.GeoDataFrame(geometry=[box(x, y, x + 100, y + 100)], crs=32632).to_file(aoi, driver="GeoJSON")
    out = tmp_path / "m.tif"
    code, _, err = run_cli("mask", str(layer), "--aoi", str(aoi), "--gsd", "1", "-o", str(out))
    assert code == 0, err
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32632 and src.read(1).max() == 2


BAD = [
    (["mask", "{missing}", "--bbox", "9.5", "47.1", "9.51", "47.11", "--gsd", "1"], "no such file"),
    (["mask", "{junk}", "--bbox", "9.5", "47.1", "9.51", "47.11", "--gsd", "1"], "cannot read"),
    (["mask", "{town}", "--bbox", "9.5", "47.1", "9.51", "47.11", "--crs", "EPSG:12345678", "--gsd", "1"], "unknown CRS"),
    (["mask", "{town}", "--bbox", "0", "0", "0.01", "0.01", "--gsd", "1"], "intersects the area"),
    (["mask", "{town}", "--bbox", "9.5", "47.1", "9.5", "47.11", "--gsd", "1"], "no area"),
    (["mask", "{town}", "--bbox", "nan", "47.1", "9.51", "47.11", "--gsd", "1"], "non-finite"),
    (["mask", "{town}", "--bbox", "9", "47", "10", "48", "--gsd", "0.001"], "limit"),
    (["mask", "{town}", "--bbox", "9.5", "47.1", "9.51", "47.11", "--gsd", "-1"], "GSD"),
    (["metadata", "--bbox", "9.5", "47.1", "9.51", "47.11", "--crs", "nope", "--json"], "unknown CRS"),
    (["metadata", "--bbox", "9.5", "47.1", "9.51", "nan", "--json"], "non-finite"),
    (["metadata", "--bbox", "1", "1", "1", "2", "--json"], "no area"),
    (["metadata", "--bbox", "9.5", "47.1", "9.51", "47.11", "--date", "2020-02-30", "--json"], "YYYY-MM-DD"),
    (["metadata", "--bbox", "9.5", "47.1", "9.51", "47.11", "--cloud-cover", "3", "--json"], "cloud-cover"),
    (["metadata", "--bbox", "0", "0", "10", "10", "--gsd", "0.001", "--json"], "limit"),
    (["metadata", "--bbox", "9.5", "47.1", "9.51", "47.11", "--gsd", "1", "--width", "10", "--json"], "not both"),
    (["metadata", "--aoi", "{missing}", "--json"], "no such file"),
    (["mask", "{town}", "--aoi", "{town}", "--bbox", "9.5", "47.1", "9.51", "47.11", "--gsd", "1"], "not both"),
    (["mask", "{town}", "--bbox", "9.5", "47.1", "9.51", "47.11", "--work-crs", "EPSG:0", "--gsd", "1"], "unknown CRS"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[f"{a[0]}-{m.split()[0]}" for a, m in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, town, args, message):
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"not a geopackage")
    subs = {"{missing}": str(tmp_path / "missing.gpkg"), "{junk}": str(junk), "{town}": str(town[0])}
    args = [subs.get(a, a) for a in args]
    out = tmp_path / "out" / "mask.tif"
    if args[0] == "mask":
        args += ["-o", str(out)]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, err = run_cli(*args)
    assert code == 2, (stdout, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not out.exists() and not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_in_a_subprocess(satgeo_process):
    res = satgeo_process("metadata", "--bbox", "85.519", "27.629", "85.523", "27.634", "--width", "512", "--json")
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["width"] == 512 and d["crs"] == "EPSG:32645" and d["caption"].endswith("in Nepal")
    bad = satgeo_process("metadata", "--bbox", "85.5", "27.6", "85.5", "27.7", "--json")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("error: ")
