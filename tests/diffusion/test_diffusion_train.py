"""Tiny CPU runs of `satgeo train controlnet` / `satgeo train lora` on webdataset shards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from satgeo.errors import InputError
from satgeo.train.shards import Sample, load_samples, write_shards

pytest.importorskip("webdataset", reason="reading shards needs the satgeo[train] extra (webdataset)")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(3):
        mask = np.zeros((80, 80), np.uint8)
        mask[10 + i * 5 : 40 + i * 5, 20:60] = 1
        mask[60:66, :] = 2
        img = np.where(mask[..., None] == 1, [200, 90, 70], [90, 130, 80]).astype(np.uint8)
        img = np.clip(img + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
        samples.append(Sample(f"s{i}", img, mask, {"lon": 85.3, "lat": 27.7, "gsd": 0.5,
                                                   "timestamp": "2021-03-04T10:00:00Z", "caption": "a fmow satellite image of a house"}))
    out = tmp_path_factory.mktemp("shards")
    paths = write_shards(samples, out, per_shard=2)
    assert len(paths) == 2
    return [str(p) for p in paths]


def test_shards_round_trip_like_diffusionsat(shards):
    got = load_samples(shards, need_mask=True)
    assert [s.key for s in got] == ["s0", "s1", "s2"]
    assert got[0].image.shape == (80, 80, 3) and got[0].mask.max() == 2
    assert got[1].raw_metadata() == [85.3, 27.7, 0.5, None, 2021, 3, 4]


def test_train_controlnet_cli_then_render_with_it(shards, tiny_root, tmp_path):
    from click.testing import CliRunner

    from satgeo.cli import app
    from satgeo.geo.grid import Grid
    from satgeo.models.base import RegionRequest
    from satgeo.models.registry import load_generator

    args = ["train", "controlnet", "--base", str(tiny_root), "-o", str(tmp_path / "run"), "--steps", "2",
            "--batch", "1", "--size", "64", "--device", "cpu"]
    for s in shards:
        args += ["--shards", s]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    model = tmp_path / "run" / "model"
    assert (model / "controlnet" / "config.json").exists()
    losses = json.loads((tmp_path / "run" / "losses.json").read_text())
    assert len(losses) == 2 and all(np.isfinite(losses))
    gen = load_generator(str(model), device="cpu")
    assert gen.card.family == "controlnet"
    grid = Grid.from_bounds("EPSG:32645", (330000.0, 3060000.0, 330064.0, 3060032.0), 0.5)
    req = RegionRequest(masks=np.ones((64, 128), np.uint8), grid=grid, seed=0, origin=(0, 0), steps=1)
    assert gen.generate_region(req).shape == (64, 128, 3)


def test_train_lora_merges_into_the_base(shards, tiny_root, tmp_path):
    pytest.importorskip("peft", reason="LoRA needs the satgeo[train] extra (peft)")
    from satgeo.models.diffusionsat import DiffusionSatPipeline
    from satgeo.models.registry import load_generator
    from satgeo.train.controlnet import DiffusionTrainOptions
    from satgeo.train.lora import train_lora

    opts = DiffusionTrainOptions(steps=2, batch=1, lr=1e-2, size=64, device="cpu", lora_rank=4)
    model = train_lora(tiny_root, shards, tmp_path / "run", opts)
    assert (model / "lora" / "adapter.safetensors").exists()
    gen = load_generator(str(model), device="cpu", dtype=torch.float32)
    base = DiffusionSatPipeline.from_folder(tiny_root, device="cpu", dtype=torch.float32)
    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    tuned = dict(gen.pipe.unet.named_parameters())[name]
    assert not torch.allclose(tuned, dict(base.unet.named_parameters())[name])
    assert not any("lora" in n for n, _ in gen.pipe.unet.named_parameters())


def test_controlnet_training_needs_masks(tiny_root, tmp_path):
    from satgeo.train.controlnet import DiffusionTrainOptions, train_controlnet

    p = write_shards([Sample("a", np.zeros((64, 64, 3), np.uint8), None, {})], tmp_path / "s")
    with pytest.raises(InputError, match="mask.png"):
        train_controlnet(tiny_root, [str(x) for x in p], tmp_path / "run", DiffusionTrainOptions(steps=1))
