"""End to end with the real render engine and a tiny random pix2pix model: chunk COGs, the
VRT mosaic, the mosaic COG, the STAC catalog, seamlessness, resume after an interruption."""

from __future__ import annotations

import json

import numpy as np
import pystac
import pytest
import rasterio
from batch_helpers import JOB, SUBSET, imagery_bytes
from rio_cogeo.cogeo import cog_validate

from satgeo.batch import BatchOptions, prepare, run_batch
from satgeo.errors import InputError
from satgeo.render.engine import get_generator, render_grid


def test_every_chunk_is_a_valid_tagged_cog_on_its_planned_grid(reference_run, tiny_model):
    out, summary = reference_run
    job = prepare(BatchOptions([str(SUBSET)], out, model=tiny_model, **JOB), log=lambda m: None)
    assert summary.chunks == len(job.plan.chunks) >= 8
    assert summary.tiles == summary.tiles_rendered == job.plan.tile_count
    for chunk in job.plan.chunks:
        path = out / "chunks" / chunk.filename
        ok, errors, _ = cog_validate(str(path))
        assert ok, errors
        with rasterio.open(path) as src:
            assert src.count == 3 and src.dtypes[0] == "uint8"
            assert src.crs == chunk.grid.crs and src.transform.almost_equals(chunk.grid.transform)
            assert (src.width, src.height) == (chunk.grid.width, chunk.grid.height)
            tags = src.tags()
            assert tags["SYNTHETIC"] == "TRUE" and tags["SEED"] == "3" and tags["CHUNK"] == chunk.id
            # the model's real name and weights hash, as `satgeo render` tags them
            assert tags["MODEL"] == "tiny-batch-test" and tags["MODEL_HASH"] == get_generator(tiny_model).model_hash
            assert src.read().std() > 0  # real generated pixels, not a blank
    # Nothing else in the folder but what the job writes.
    names = {p.name for p in out.iterdir()}
    assert names == {"chunks", "mosaic.vrt", "stac", "summary.json", "satgeo-batch.sqlite"} | (names & {"satgeo-batch.sqlite-wal", "satgeo-batch.sqlite-shm"})
    assert not [p for p in (out / "chunks").iterdir() if p.name.startswith(".")]


@pytest.mark.determinism
def test_the_mosaic_is_one_seamless_image_equal_to_a_single_render(reference_run, tiny_model):
    out, _ = reference_run
    job = prepare(BatchOptions([str(SUBSET)], out, model=tiny_model, **JOB), log=lambda m: None)
    with rasterio.open(out / "mosaic.vrt") as vrt:
        mosaic = vrt.read()
        grid_t, crs, shape = vrt.transform, vrt.crs, (vrt.height, vrt.width)
    alpha = mosaic[3]
    assert set(np.unique(alpha)) == {0, 255}  # gaps where no tile touches a building
    # The whole extent rendered in one call must equal the chunks wherever chunks exist.
    import torch

    from satgeo.geo.grid import Grid

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = render_grid(job.params.request(job.layers.frames), Grid(crs, grid_t, shape[1], shape[0]))
    finally:
        torch.set_num_threads(saved)
    covered = alpha == 255
    assert np.array_equal(mosaic[:3][:, covered], whole[:, covered])
    assert covered.sum() == job.plan.tile_count * 32 * 32


def test_stac_catalog_has_one_synthetic_item_per_chunk_with_projection(reference_run):
    out, summary = reference_run
    catalog = pystac.Catalog.from_file(str(out / "stac" / "catalog.json"))
    items = list(catalog.get_items())
    assert len(items) == summary.chunks
    for item in items:
        assert item.properties["satgeo:synthetic"] is True
        assert item.properties["proj:code"] == "EPSG:32613"
        href = item.assets["image"].get_absolute_href()
        with rasterio.open(href) as src:
            assert list(src.transform)[:6] == item.properties["proj:transform"]
            assert [src.height, src.width] == item.properties["proj:shape"]
        west, south, east, north = item.bbox
        assert -105.3 < west < east < -105.2 and 39.9 < south < north < 40.1
    summary_json = json.loads((out / "summary.json").read_text())
    assert summary_json["tiles"] == summary.tiles and summary_json["bytes_total"] > 0


@pytest.mark.determinism
def test_interrupted_then_resumed_is_byte_identical(reference_run, tiny_model, tmp_path):
    ref, _ = reference_run
    out = tmp_path / "out"
    calls = {"n": 0}

    def dies_on_third_chunk(request, grid):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return render_grid(request, grid)

    opts = BatchOptions([str(SUBSET)], out, model=tiny_model, progress=False, **JOB)
    with pytest.raises(KeyboardInterrupt):
        run_batch(opts, render_fn=dies_on_third_chunk)
    assert len(list((out / "chunks").glob("*.tif"))) == 2
    with pytest.raises(InputError, match="--resume"):
        run_batch(opts)
    opts.resume = True
    summary = run_batch(opts)
    assert summary.tiles_done_before == 2 and summary.tiles_rendered == summary.tiles - 2
    assert imagery_bytes(out) == imagery_bytes(ref)
    # Finishing a finished job renders nothing and changes nothing.
    again = run_batch(opts, render_fn=lambda r, g: pytest.fail("nothing should be rendered"))
    assert again.tiles_rendered == 0 and imagery_bytes(out) == imagery_bytes(ref)


def test_resume_redoes_a_chunk_whose_file_was_lost_or_changed(reference_run, tiny_model, tmp_path):
    import shutil

    ref, _ = reference_run
    out = tmp_path / "copy"
    shutil.copytree(ref, out)
    victims = sorted((out / "chunks").glob("*.tif"))[:2]
    victims[0].unlink()
    victims[1].write_bytes(b"truncated")
    summary = run_batch(BatchOptions([str(SUBSET)], out, model=tiny_model, progress=False, resume=True, **JOB))
    assert summary.tiles_rendered == 2
    assert imagery_bytes(out) == imagery_bytes(ref)


def test_resume_with_other_parameters_is_refused(reference_run, tiny_model, tmp_path):
    import shutil

    ref, _ = reference_run
    out = tmp_path / "copy"
    shutil.copytree(ref, out)
    before = imagery_bytes(out)
    with pytest.raises(InputError, match="other layers or parameters"):
        run_batch(BatchOptions([str(SUBSET)], out, model=tiny_model, progress=False, resume=True, **{**JOB, "seed": 4}))
    assert imagery_bytes(out) == before


def test_xyz_zoom_with_an_aoi_and_a_mosaic_cog(tiny_model, tmp_path):
    import geopandas as gpd
    import shapely

    aoi = tmp_path / "aoi.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(-105.25433, 39.97488).buffer(0.0002)], crs=4326).to_file(aoi)
    out = tmp_path / "z"
    summary = run_batch(
        BatchOptions([str(SUBSET)], out, zoom=16, chunk_tiles=2, aoi=str(aoi), model=tiny_model, progress=False,
                     mosaic_cog=True, threads=1)
    )
    assert summary.chunks == 1 and 1 <= summary.tiles <= 4  # the AOI is 40 m across
    chunk = next((out / "chunks").glob("z16_*.tif"))
    with rasterio.open(chunk) as src:
        assert src.crs.to_epsg() == 3857 and src.width % 256 == 0 and src.height % 256 == 0
        assert src.width * src.height == summary.pixels
        x0 = (src.transform.c + 20037508.342789244) / (256 * src.transform.a)
        assert abs(x0 - round(x0)) < 1e-6  # on the XYZ tile lattice
        assert abs(src.transform.a - 2.388657133911758) < 1e-9
    assert cog_validate(str(out / "mosaic.tif"))[0]
    with rasterio.open(out / "mosaic.tif") as m, rasterio.open(chunk) as c:
        assert m.count == 4 and np.array_equal(m.read()[:3], c.read())
