"""Bad and awkward input: empty layers, mixed geometry types, invalid geometries, mixed CRSs,
foreign files in the output folder. Clear one-line errors, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from satgeo.batch import BatchOptions, prepare, run_batch
from satgeo.errors import InputError

# Around (-105.256, 39.975), UTM 13N.
X0, Y0 = 478000.0, 4425000.0


def _write(path: Path, geoms, crs="EPSG:32613", **cols) -> str:
    gpd.GeoDataFrame(cols or {"id": list(range(len(geoms)))}, geometry=list(geoms), crs=crs).to_file(path)
    return str(path)


def _box(dx, dy, size=20.0):
    return shapely.box(X0 + dx, Y0 + dy, X0 + dx + size, Y0 + dy + size)


def test_a_layer_in_another_crs_is_reprojected_and_plans_the_same_tiles(tmp_path):
    geoms = [_box(10, 10), _box(310, 40)]
    utm = _write(tmp_path / "utm.geojson", geoms)
    wgs = _write(tmp_path / "wgs.gpkg", gpd.GeoSeries(geoms, crs=32613).to_crs(4326), crs="EPSG:4326")
    merc = _write(tmp_path / "merc.gpkg", [_box(150, 150)], crs="EPSG:32613")
    merc3857 = tmp_path / "m3857.gpkg"
    gpd.read_file(merc).to_crs(3857).to_file(merc3857)
    notes = []
    a = prepare(BatchOptions([utm, str(merc3857)], tmp_path / "o1", gsd=1.0, tile_px=100), log=notes.append)
    b = prepare(BatchOptions([wgs, str(merc3857)], tmp_path / "o2", gsd=1.0, tile_px=100), log=notes.append)
    assert [c.tiles for c in a.plan.chunks] == [c.tiles for c in b.plan.chunks]
    assert a.plan.tile_count == 3
    assert any("CRSs" in n and "reprojected" in n for n in notes)


def test_mixed_geometry_types_keep_polygons_and_lines_and_say_what_was_ignored(tmp_path):
    geoms = [_box(10, 10), shapely.LineString([(X0, Y0 + 150), (X0 + 90, Y0 + 150)]), shapely.Point(X0 + 500, Y0 + 500)]
    path = _write(tmp_path / "mixed.gpkg", geoms)
    notes = []
    job = prepare(BatchOptions([path], tmp_path / "o", gsd=1.0, tile_px=100), log=notes.append)
    assert job.layers.feature_count == 2
    assert job.plan.tile_count == 2  # the point's tile is not planned
    assert any("ignored 1 Point" in n for n in notes)
    assert any("mixes polygons and lines" in n for n in notes)


def test_invalid_geometries_are_repaired_not_dropped(tmp_path):
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 50, Y0 + 50), (X0 + 50, Y0), (X0, Y0 + 50), (X0, Y0)])
    assert not bowtie.is_valid
    path = _write(tmp_path / "bad.gpkg", [bowtie, _box(210, 10)])
    notes = []
    job = prepare(BatchOptions([path], tmp_path / "o", gsd=1.0, tile_px=100), log=notes.append)
    assert all(job.layers.frames[0].geometry.is_valid)
    assert job.plan.tile_count == 2
    assert any("repaired 1 invalid geometry" in n for n in notes)


def test_empty_layers(tmp_path):
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:4326").to_file(empty, layer="empty")
    full = _write(tmp_path / "full.gpkg", [_box(10, 10)])
    with pytest.raises(InputError, match="every layer is empty"):
        prepare(BatchOptions([str(empty)], tmp_path / "o", gsd=1.0))
    notes = []
    job = prepare(BatchOptions([str(empty), full], tmp_path / "o", gsd=1.0), log=notes.append)
    assert job.plan.tile_count == 1
    points = _write(tmp_path / "pts.gpkg", [shapely.Point(X0, Y0)])
    with pytest.raises(InputError, match="no usable features"):
        prepare(BatchOptions([points], tmp_path / "o", gsd=1.0))


def test_missing_unreadable_and_crs_less_layers(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        prepare(BatchOptions([str(tmp_path / "nope.gpkg")], tmp_path / "o", gsd=1.0))
    junk = tmp_path / "junk.geojson"
    junk.write_text("this is not json")
    with pytest.raises(InputError, match="cannot read layer"):
        prepare(BatchOptions([str(junk)], tmp_path / "o", gsd=1.0))
    # satgeo.geo.layers' one CRS policy: no CRS and projected coordinates -> refused, in one line
    shp = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 50, Y0 + 50)]).to_file(shp)
    with pytest.raises(InputError, match="has no CRS and its coordinates are not longitude/latitude"):
        prepare(BatchOptions([str(shp)], tmp_path / "o", gsd=1.0))


def test_gsd_and_zoom_are_exclusive(tmp_path, subset_layer):
    with pytest.raises(InputError, match="not both"):
        prepare(BatchOptions([subset_layer], tmp_path / "o", gsd=1.0, zoom=17))


def test_output_folder_with_foreign_files_is_refused_and_left_alone(tmp_path, subset_layer):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "chunks").mkdir()
    (out / "chunks" / "precious.tif").write_bytes(b"user data")
    before = sorted((p.relative_to(out), p.read_bytes() if p.is_file() else None) for p in out.rglob("*"))
    with pytest.raises(InputError, match="did not write"):
        run_batch(BatchOptions([subset_layer], out, gsd=1.0), render_fn=lambda r, g: None)
    after = sorted((p.relative_to(out), p.read_bytes() if p.is_file() else None) for p in out.rglob("*"))
    assert before == after


def test_cli_prints_one_line_and_exits_2_on_bad_input(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = subprocess.run(
        [sys.executable, "-m", "satgeo.cli", "batch", str(tmp_path / "missing.gpkg"), "-o", str(out), "--gsd", "1"],
        capture_output=True, text=True, env={**os.environ, "SATGEO_DEBUG": ""},
    )
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "did not write" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_sampling_options_are_checked_and_reach_every_chunk_request(tmp_path, subset_layer):
    from satgeo.batch.chunk import RenderChoices, RenderParams

    with pytest.raises(InputError, match="--guidance must be a number >= 0"):
        prepare(BatchOptions([subset_layer], tmp_path / "o", gsd=1.0, guidance=float("nan")))
    with pytest.raises(InputError, match="--scheduler must be one of default, ddim, dpm"):
        prepare(BatchOptions([subset_layer], tmp_path / "o", gsd=1.0, scheduler="euler"))
    # unset, the options leave the description (and so the fingerprint) of a job as it was before they existed
    assert set(RenderChoices().describe()) == {"model", "seed", "prompt", "date", "cloud_cover", "steps"}
    choices = RenderChoices(guidance=2.0, scheduler="ddim")
    assert choices.describe()["guidance"] == 2.0 and choices.render_choices() == choices
    params = RenderParams(area_bounds=(-105.26, 39.97, -105.25, 39.98), gsd=1.0, render_crs="EPSG:32613",
                          choices=choices)
    req = params.request([])
    assert (req.guidance, req.scheduler) == (2.0, "ddim")
