"""Training (pairs, cache, loop, checkpoints, resume), metrics with known values, `satgeo eval`."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from satgeo.eval.metrics import gaussian_kernel, psnr, ssim
from satgeo.eval.seams import seam_ratio

from render_support import CHIPS, DEMO, SHARED

FOOTPRINTS = DEMO / "footprints.geojson"


def test_psnr_known_values():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 10, np.uint8)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(a, a) == math.inf


def test_ssim_known_values():
    c1 = (0.01 * 255) ** 2
    a, b = np.full((20, 20), 100.0), np.full((20, 20), 150.0)
    # flat images: only the luminance term is left
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))
    rng = np.random.default_rng(1)
    x = rng.integers(0, 200, (40, 40, 3)).astype(np.float64)
    assert ssim(x, x) == pytest.approx(1.0)
    # y = -x + k: same variance, covariance -var -> contrast-structure term (c2 - 2v)/(2v + c2) < 0
    assert ssim(x, 255 - x) < 0
    assert gaussian_kernel().sum() == pytest.approx(1.0) and len(gaussian_kernel()) == 11


def test_seam_ratio_detects_steps():
    rng = np.random.default_rng(0)
    smooth = rng.normal(100, 5, (64, 64))
    assert seam_ratio(smooth, [32], [32]) == pytest.approx(1.0, abs=0.15)
    stepped = smooth.copy()
    stepped[:, 32:] += 40
    assert seam_ratio(stepped, [], [32]) > 5


def test_pairs_cache_and_sampler(tmp_path):
    from satgeo.train.pairs import PairSampler, build_pairs, list_chips

    chips = list_chips(CHIPS)
    pairs = build_pairs(chips, [str(FOOTPRINTS)], tmp_path)
    assert pairs.images.shape == (2, 512, 512, 3) and pairs.masks.shape == (2, 512, 512)
    assert 0.1 < (pairs.masks == 1).mean() < 0.9  # buildings burned on each chip's own grid
    assert pairs.gsd == pytest.approx(0.132, abs=0.002)
    assert len(list(tmp_path.glob("pairs-*.npz"))) == 1
    again = build_pairs(chips, [str(FOOTPRINTS)], tmp_path)  # from the cache
    np.testing.assert_array_equal(again.masks, pairs.masks)
    m, im = PairSampler(pairs, 64, seed=1).batch(3)
    assert m.shape == (3, 64, 64) and im.shape == (3, 64, 64, 3)
    m2, _ = PairSampler(pairs, 64, seed=1).batch(3)
    np.testing.assert_array_equal(m, m2)


def test_train_checkpoint_resume_and_export(tmp_path):
    from satgeo.models.pix2pix import load_pix2pix
    from satgeo.train.pairs import build_pairs, list_chips
    from satgeo.train.pix2pix_loop import TrainOptions, train_pix2pix

    pairs = build_pairs(list_chips(CHIPS), [str(FOOTPRINTS)])
    opts = TrainOptions(steps=4, batch=2, crop=64, ngf=4, ndf=4, num_downs=6, lambda_fm=10.0,
                        checkpoint_every=1e9, card={"name": "t"})
    model = train_pix2pix(pairs, tmp_path, opts)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(float(r["g_l1"])) for r in rows)
    gen = load_pix2pix(model)
    assert gen.card.name == "t" and gen.card.native_gsd == pytest.approx(0.132, abs=0.002)
    assert gen.generate_batch(pairs.masks[:1, :64, :64]).shape == (1, 64, 64, 3)
    opts.steps = 6
    train_pix2pix(pairs, tmp_path, opts, resume=True)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    # the learning rate decays linearly to 0 over the last half
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])


def test_train_cli_and_eval_cli(tmp_path, capsys, monkeypatch):
    """`satgeo train pix2pix` then `satgeo eval` on the same two chips (one trains, one is held out)."""
    from satgeo.cli import main

    out = tmp_path / "run"
    monkeypatch.setattr("sys.argv", [
        "satgeo", "train", "pix2pix", "--chips", str(CHIPS), "--footprints", str(FOOTPRINTS), "-o", str(out),
        "--holdout", "OAM-386695-.*", "--steps", "2", "--batch", "1", "--crop", "64", "--ngf", "4", "--ndf", "4",
        "--num-downs", "6",
    ])
    main()
    assert json.loads((out / "split.json").read_text())["holdout"] == ["OAM-386695-220245-19.tif"]
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", [
        "satgeo", "eval", "--chips", str(CHIPS), "--footprints", str(FOOTPRINTS), "--holdout", "OAM-386695-.*",
        "--model", str(out / "model"),
    ])
    main()
    res = json.loads(capsys.readouterr().out)
    assert res["chips"] == ["OAM-386695-220245-19"]
    for k in ("model", "flat_colour", "untrained"):
        assert 0 < res[k]["psnr"] < 60 and -1 <= res[k]["ssim"] <= 1


@pytest.mark.shared_data
@pytest.mark.slow
def test_default_model_beats_baselines_on_banepa_holdout():
    from satgeo.eval.pix2pix_eval import evaluate
    from satgeo.models.pix2pix import DEFAULT_DIR, load_pix2pix
    from satgeo.train.pairs import BANEPA_HOLDOUT, build_pairs, list_chips, split_chips

    root = SHARED / "hotosm_fair_banepa" / "train"
    if not root.is_dir():
        pytest.skip(f"shared data not available: {root}")
    if not (DEFAULT_DIR / "model.safetensors").is_file():
        pytest.skip("default model weights not shipped in this checkout")
    train, held = split_chips(list_chips(root / "oam"), BANEPA_HOLDOUT)
    layers = [str(next((root / "osm").glob("*.geojson")))]
    res = evaluate(load_pix2pix(DEFAULT_DIR), build_pairs(held[:4], layers), build_pairs(train[::4], layers))
    assert res["model"]["ssim"] > res["flat_colour"]["ssim"]
    assert res["model"]["ssim"] > res["untrained"]["ssim"]
