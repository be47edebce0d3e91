"""`satgeo batch --pairs` on a tiny in-repo OSM extract (all four classes): a STAC collection
pystac reads, labels equal to `satgeo mask` on every chip's grid, an area split where no val
chip touches a train chip, webdataset shards, resume after an interruption, and bad options."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pystac
import pytest
import rasterio
from batch_helpers import HERE, journal_rows, sigkill_at
from cli_support import run_cli
from pairs_helpers import mask_on_grid_of, touching
from rio_cogeo.cogeo import cog_validate

from satgeo.batch import BatchOptions, run_batch
from satgeo.batch.chips import PairOptions

SCHAAN = HERE / "data" / "schaan_osm.gpkg"
# a fixed date makes the STAC datetime (else: when the job was created) and so every byte repeatable
JOB = dict(gsd=4.0, tile_px=32, chunk_tiles=2, seed=1, threads=1, progress=False, date=dt.date(2021, 6, 15))
PAIRS = PairOptions(chip_size=16, overlap=4, val_fraction=0.25, split_block=2, webdataset=True, shard_size=16)


def _run(out, tiny_model, **kw):
    return run_batch(BatchOptions([str(SCHAAN)], out, model=tiny_model, pairs=PAIRS, **{**JOB, **kw}), log=lambda m: None)


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("pairs") / "out"
    return out, _run(out, tiny_model)


def _tree(out) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "pairs").rglob("*")) if p.is_file()}


def test_pairs_open_as_a_stac_collection_with_the_label_extension(pairs_run):
    out, summary = pairs_run
    n = summary.pairs["train"] + summary.pairs["val"]
    assert summary.pairs["train"] >= 10 and summary.pairs["val"] >= 3
    collection = pystac.Collection.from_file(str(out / "pairs" / "collection.json"))
    items = list(collection.get_items())
    assert len(items) == 2 * n
    labels = [i for i in items if i.id.endswith("-label")]
    for item in labels:
        assert item.properties["label:type"] == "raster" and item.properties["label:tasks"] == ["segmentation"]
        assert item.properties["label:classes"][0]["classes"] == [0, 1, 2, 3, 4]
        source = item.get_single_link("source").resolve_stac_object().target
        assert source.id == item.id.replace("-label", "-image")
        label_href, image_href = item.assets["labels"].get_absolute_href(), source.assets["image"].get_absolute_href()
        assert f"/{item.properties['satgeo:split']}/labels/" in label_href
        with rasterio.open(label_href) as lab, rasterio.open(image_href) as img:
            assert lab.transform == img.transform and lab.crs == img.crs == rasterio.crs.CRS.from_epsg(32632)
            assert lab.shape == img.shape == (16, 16) and lab.nodata == 255 and img.count == 3
            assert img.tags()["MODEL"] == "tiny-batch-test" and len(img.tags()["MODEL_HASH"]) == 64
    with open(out / "pairs" / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n and {r["split"] for r in rows} == {"train", "val"}
    assert all((out / "pairs" / r["image"]).is_file() and (out / "pairs" / r["label"]).is_file() for r in rows)
    assert all(cog_validate(str(out / "pairs" / r[k]), quiet=True)[0] for r in rows[:3] for k in ("image", "label"))


def test_every_label_chip_equals_satgeo_mask_on_its_grid(pairs_run, tmp_path):
    out, _ = pairs_run
    labels = sorted((out / "pairs").glob("*/labels/*.tif"))
    seen = np.zeros(256, np.int64)
    for k, path in enumerate(labels):
        with rasterio.open(path) as src:
            label = src.read(1)
        expected = mask_on_grid_of(path, [str(SCHAAN)], tmp_path / f"m{k}.tif")
        assert np.array_equal(label, expected), path.name
        seen += np.bincount(label.ravel(), minlength=256)
    assert all(seen[c] > 0 for c in (0, 1, 2, 3)), seen[:5]  # background, buildings, roads and water all occur


def test_no_val_chip_touches_a_train_chip_and_images_are_crops_of_the_mosaic(pairs_run):
    out, summary = pairs_run
    rows = []
    with rasterio.open(out / "mosaic.vrt") as vrt:
        for path in sorted((out / "pairs").glob("*/images/*.tif")):
            with rasterio.open(path) as src:
                rows.append((path.stem, path.parts[-3], tuple(src.bounds)))
                window = vrt.window(*src.bounds)
                crop = vrt.read([1, 2, 3], window=window.round_offsets().round_lengths())
                assert np.array_equal(src.read(), crop) and src.read().std() > 0
    assert touching(rows, 4.0) == []
    assert summary.pairs["dropped_near_val"] > 0  # the buffer did drop train chips beside val blocks


def test_webdataset_shards_read_back_for_training(pairs_run):
    out, summary = pairs_run
    shards = sorted((out / "pairs" / "webdataset").glob("*.tar"))
    assert [p.name for p in shards][-1].startswith("val-") and summary.pairs["shards"]
    pytest.importorskip("webdataset", reason="reading shards needs the satgeo[train] extra (webdataset)")
    from satgeo.train.shards import load_samples

    train = load_samples([str(p) for p in shards if p.name.startswith("train-")], need_mask=True)
    assert len(train) == summary.pairs["train"]
    s = train[0]
    with rasterio.open(out / "pairs" / "train" / "labels" / f"{s.key}.tif") as src:
        assert np.array_equal(s.mask, src.read(1))
    assert s.image.shape == (16, 16, 3) and s.metadata["caption"].startswith("a fmow satellite image of a ")
    assert "Liechtenstein" in s.metadata["caption"]
    lon, lat, gsd, cloud, year, month, day = s.raw_metadata()
    assert 9.50 < lon < 9.52 and 47.16 < lat < 47.17 and abs(gsd - 4.0) < 1e-9 and (year, month, day) == (2021, 6, 15)


def test_an_interrupted_pair_export_resumes_to_the_same_bytes(pairs_run, tiny_model, tmp_path, monkeypatch):
    ref, _ = pairs_run
    out = tmp_path / "out"
    import satgeo.batch.pairs as pairs_mod

    real, calls = pairs_mod.write_cog, {"n": 0}

    def dies_on_the_ninth_cog(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(pairs_mod, "write_cog", dies_on_the_ninth_cog)
    with pytest.raises(KeyboardInterrupt):
        _run(out, tiny_model)
    monkeypatch.setattr(pairs_mod, "write_cog", real)
    assert not (out / "pairs" / "collection.json").exists()
    # what a kill -9 inside the COG writer leaves: its hidden temporary folder
    name = next((ref / "pairs" / "train" / "labels").glob("*.tif")).name
    stale = out / "pairs" / "train" / "labels" / f".{name}.k9x_2ab.tmp"
    stale.mkdir(parents=True)
    (stale / "stage.tif").write_bytes(b"partial")
    summary = _run(out, tiny_model, resume=True)
    assert not stale.exists()
    assert summary.pairs["written"] == summary.pairs["train"] + summary.pairs["val"] - 4  # 4 pairs were done
    assert _tree(out) == _tree(ref)
    # a lost label is written again on the next resume
    victim = next((out / "pairs" / "val" / "labels").glob("*.tif"))
    victim.unlink()
    assert _run(out, tiny_model, resume=True).pairs["written"] == 1
    assert _tree(out) == _tree(ref)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pairs", "--chip-size", "16", "--chip-overlap", "16"], "--chip-overlap"),
        (["--pairs", "--val-fraction", "1"], "--val-fraction"),
        (["--pairs", "--chip-size", "8"], "--chip-size"),
        (["--pairs", "--chip-size", "512"], "no complete 512 px chip"),
        (["--pairs", "--chip-size", "16", "--split-block", "1000"], "split blocks"),
        (["--webdataset"], "add --pairs"),
        (["--chip-size", "64"], "add --pairs"),
        (["--pairs", "--shard-size", "4"], "add --webdataset"),
    ],
)
def test_unusable_pair_options_give_one_error_line_and_write_nothing(tiny_model, tmp_path, args, message):
    out = tmp_path / "out"
    code, _, err = run_cli("batch", str(SCHAAN), "-o", str(out), "--model", tiny_model, "--gsd", "4", "--tile-px", "32",
                        "--no-progress", *args)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("planned", "note:"))]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not out.exists()


def test_sigkill_during_the_pair_export_then_resume_gives_identical_bytes(pairs_run, tiny_model, tmp_path):
    import subprocess
    import sys

    ref, summary = pairs_run
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "satgeo.cli", "batch", str(SCHAAN), "-o", str(out), "--model", tiny_model, "--no-progress",
           "--gsd", "4", "--tile-px", "32", "--chunk-tiles", "2", "--seed", "1", "--threads", "1", "--date", "2021-06-15",
           "--pairs", "--chip-size", "16", "--chip-overlap", "4", "--val-fraction", "0.25", "--split-block", "2",
           "--webdataset", "--shard-size", "16"]
    journal = out / "satgeo-batch.sqlite"
    sigkill_at(cmd, journal, "pairs", 3, within_s=240)
    assert 3 <= journal_rows(journal, "pairs") < summary.pairs["train"] + summary.pairs["val"], "the kill should land mid-export"
    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming pairs" in r.stderr
    assert _tree(out) == _tree(ref)
    assert not [p for p in (out / "pairs").rglob(".*")]
