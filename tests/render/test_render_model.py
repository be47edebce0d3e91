"""pix2pix networks and checkpoints: reference key layout, our safetensors, bad files, seeded noise."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from satgeo.errors import ModelError
from satgeo.models.pix2pix import Pix2PixConfig, Pix2PixGenerator, detect, infer_config, load_pix2pix
from satgeo.models.pix2pix_nets import PatchDiscriminator, UNetGenerator, init_weights


def _masks(n=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 5, (n, size, size), dtype=np.uint8)


def test_reference_key_layout():
    net = UNetGenerator(3, 3, num_downs=6, ngf=4, norm="batch", dropout=True)
    keys = set(net.state_dict())
    # outermost: down conv (no bias with batch norm), up conv at index 3 with bias
    assert "model.model.0.weight" in keys and "model.model.0.bias" not in keys
    assert {"model.model.3.weight", "model.model.3.bias"} <= keys
    # next level: [LeakyReLU, down conv, norm, submodule, ReLU, up conv, norm]
    assert {"model.model.1.model.1.weight", "model.model.1.model.2.running_mean", "model.model.1.model.5.weight"} <= keys
    # innermost of 6 halvings: 5 nested submodules, [LeakyReLU, down conv, ReLU, up conv, norm]
    inner = "model.model.1" + ".model.3" * 4 + ".model."
    assert {inner + "1.weight", inner + "3.weight", inner + "4.running_mean"} <= keys
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_patchgan_receptive_field_shape():
    d = PatchDiscriminator(8, ndf=8, n_layers=3, norm="instance")
    out, feats = d(torch.zeros(1, 8, 256, 256), features=True)
    assert out.shape == (1, 1, 30, 30) and len(feats) == 4


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_loads_reference_pth_and_infers_architecture(tmp_path, norm):
    net = init_weights(UNetGenerator(3, 3, num_downs=6, ngf=4, norm=norm), seed=3).eval()
    if norm == "batch":  # non-trivial running stats so a wrong mapping shows
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    assert detect(tmp_path)
    cfg = infer_config(torch.load(tmp_path / "latest_net_G.pth", weights_only=True))
    assert (cfg.ngf, cfg.num_downs, cfg.norm, cfg.input_nc, cfg.encoding) == (4, 6, norm, 3, "palette")
    gen = load_pix2pix(tmp_path, dtype=torch.float32)
    masks = _masks()
    x = gen.encode(masks)
    with torch.no_grad():
        want = ((net(x).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(gen.generate_batch(masks), want)


def test_safetensors_round_trip_and_hash(tmp_path):
    from tests_render_helpers import save_tiny_model

    folder = save_tiny_model(tmp_path / "m")
    gen = load_pix2pix(folder, dtype=torch.float32)
    assert gen.card.native_gsd == 0.5 and gen.card.tile_size == 64
    assert gen.model_hash == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    again = load_pix2pix(folder, dtype=torch.float32)
    np.testing.assert_array_equal(gen.generate_batch(_masks(), [1, 2]), again.generate_batch(_masks(), [1, 2]))


def test_corrupt_checkpoints_give_one_line_errors(tmp_path):
    bad = tmp_path / "latest_net_G.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="corrupt") as err:
        load_pix2pix(tmp_path)
    assert "\n" not in str(err.value)
    from tests_render_helpers import save_tiny_model

    folder = save_tiny_model(tmp_path / "trunc")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt"):
        load_pix2pix(folder)
    wrong = tmp_path / "wrong"
    folder2 = save_tiny_model(wrong)
    cfg = Pix2PixConfig.from_json(folder2 / "config.json")
    (folder2 / "config.json").write_text((folder2 / "config.json").read_text().replace('"ngf": 4', '"ngf": 8'))
    with pytest.raises(ModelError, match="does not match"):
        load_pix2pix(folder2)
    assert cfg.ngf == 4


@pytest.mark.determinism
def test_seeded_noise_is_deterministic_per_window(tiny_model):
    gen = load_pix2pix(tiny_model)
    m = _masks(3)
    a = gen.generate_batch(m, [11, 12, 13])
    b = gen.generate_batch(m, [11, 12, 13])
    np.testing.assert_array_equal(a, b)
    c = gen.generate_batch(m, [99, 12, 13])
    assert (a[0] != c[0]).mean() > 0.05  # another seed, other pixels
    np.testing.assert_array_equal(a[1:], c[1:])  # each window's noise is its own
    # a window's pixels do not depend on the batch it ran in
    np.testing.assert_array_equal(gen.generate_batch(m[1:2], [12])[0], a[1])


def test_onehot_encoding_maps_classes(tiny_model):
    gen = load_pix2pix(tiny_model)
    x = gen.encode(np.array([[[0, 1], [4, 9]]], np.uint8)).numpy()
    assert x.shape == (1, 5, 2, 2)
    assert x[0, :, 0, 1].tolist() == [-1, 1, -1, -1, -1]
    assert x[0, :, 1, 0].tolist() == [-1, -1, -1, -1, 1]
    assert x[0, :, 1, 1].tolist() == [1, -1, -1, -1, -1]  # unknown class -> background
    assert isinstance(gen, Pix2PixGenerator)
