"""Training (pairs, cache, loop, checkpoints, resume), metrics with known values, `satgeo eval`."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from cli_support import run_cli
from render_support import CHIPS, DEMO

from satgeo.eval.seams import seam_ratio
from satgeo.train.metrics import gaussian_kernel, psnr, ssim

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


def test_training_ssim_matches_eval_ssim_also_under_bf16_autocast():
    import torch

    from satgeo.train.losses import ssim_torch

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (48, 40, 3)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).round()
    t = lambda im: torch.from_numpy(im / 127.5 - 1.0).permute(2, 0, 1)[None].float()  # noqa: E731
    x = t(a).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = ssim_torch(x, t(b))
    assert float(value.detach()) == pytest.approx(ssim(a, b), abs=1e-5)
    value.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


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


def test_train_init_validation_and_snapshots(tmp_path):
    """--init starts G from a model (lr 0 keeps it bit for bit); saves score val pairs and keep snapshots."""
    import torch
    from safetensors.torch import load_file

    from satgeo.errors import InputError
    from satgeo.train.pairs import build_pairs, list_chips
    from satgeo.train.pix2pix_loop import TrainOptions, train_pix2pix

    chips = list_chips(CHIPS)
    pairs, val = build_pairs(chips[:1], [str(FOOTPRINTS)]), build_pairs(chips[1:], [str(FOOTPRINTS)])
    base = dict(batch=1, crop=64, ngf=4, ndf=4, num_downs=6, checkpoint_every=1e9, card={"name": "t"})
    first = train_pix2pix(pairs, tmp_path / "a", TrainOptions(steps=3, **base))
    tuned = train_pix2pix(pairs, tmp_path / "b", TrainOptions(steps=2, lr=0.0, init=str(first), snapshots=True,
                                                              **base), val=val)
    a, b = load_file(first / "model.safetensors"), load_file(tuned / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader(open(tmp_path / "b" / "val.csv")))
    assert [int(r["step"]) for r in rows] == [2] and 0 < float(rows[0]["psnr"]) < 60
    assert -1 <= float(rows[0]["ssim"]) <= 1
    assert (tmp_path / "b" / "snapshots" / "step-000002" / "model.safetensors").is_file()
    with pytest.raises(InputError, match="another architecture"):
        train_pix2pix(pairs, tmp_path / "c", TrainOptions(steps=1, init=str(first), **{**base, "ngf": 8}))


def test_blend_interpolates_weights_and_refuses_other_architectures(tmp_path):
    import torch
    from safetensors.torch import load_file

    from satgeo.errors import InputError
    from satgeo.models.pix2pix import Pix2PixConfig, load_pix2pix, save_pix2pix
    from satgeo.models.pix2pix_nets import init_weights
    from satgeo.train.blend import blend_pix2pix

    cfg = Pix2PixConfig(name="structure", ngf=4, num_downs=6)
    save_pix2pix(init_weights(cfg.build(), seed=1), cfg, tmp_path / "a")
    save_pix2pix(init_weights(cfg.build(), seed=2), Pix2PixConfig(name="texture", ngf=4, num_downs=6), tmp_path / "b")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    for alpha, want in ((0.0, a), (1.0, b)):
        got = load_file(blend_pix2pix(tmp_path / "a", tmp_path / "b", alpha, tmp_path / f"m{alpha}") / "model.safetensors")
        assert all(torch.equal(got[k], want[k]) for k in a)
    half = blend_pix2pix(tmp_path / "a", tmp_path / "b", 0.5, tmp_path / "half", name="mix")
    got = load_file(half / "model.safetensors")
    for k in a:
        torch.testing.assert_close(got[k].float(), (a[k].float() + b[k].float()) / 2, atol=1e-3, rtol=1e-2)
    gen = load_pix2pix(half)
    assert gen.card.name == "mix" and gen.config.extra["blend"]["alpha"] == 0.5
    assert gen.config.extra["blend"]["texture"]["name"] == "texture"
    assert gen.config.extra["blend"]["structure"]["name"] == "structure"

    other = Pix2PixConfig(ngf=8, num_downs=6)
    save_pix2pix(init_weights(other.build(), seed=3), other, tmp_path / "c")
    with pytest.raises(InputError, match="different architectures"):
        blend_pix2pix(tmp_path / "a", tmp_path / "c", 0.5, tmp_path / "x")
    code, _, err = run_cli("train", "blend", str(tmp_path / "a"), str(tmp_path / "b"), "--alpha", "1.5",
                           "-o", str(tmp_path / "y"))
    assert code == 2 and "alpha must be between 0 and 1" in err
    assert not (tmp_path / "y").exists()


def test_train_cli_and_eval_cli(tmp_path):
    """`satgeo train pix2pix` then `satgeo eval` on the same two chips (one trains, one is held out)."""
    out = tmp_path / "run"
    code, _, err = run_cli(
        "train", "pix2pix", "--chips", str(CHIPS), "--footprints", str(FOOTPRINTS), "-o", str(out),
        "--holdout", "OAM-386695-.*", "--steps", "2", "--batch", "1", "--crop", "64", "--ngf", "4", "--ndf", "4",
        "--num-downs", "6",
    )
    assert code == 0, err
    assert json.loads((out / "split.json").read_text())["holdout"] == ["OAM-386695-220245-19.tif"]
    code, stdout, err = run_cli(
        "eval", "--chips", str(CHIPS), "--footprints", str(FOOTPRINTS), "--holdout", "OAM-386695-.*",
        "--model", str(out / "model"), "--model", "flat", "--json", "--seg-steps", "2", "--lattice-windows", "1",
        "--cache", str(tmp_path / "cache"),
    )
    assert code == 0, err
    res = json.loads(stdout)
    assert res["chips"]["held_out"] == ["OAM-386695-220245-19"]
    for k in ("run", "flat"):
        assert 0 < res["models"][k]["psnr"] < 60 and -1 <= res["models"][k]["ssim"] <= 1
