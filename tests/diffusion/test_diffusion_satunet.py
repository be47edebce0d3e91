"""SatUNet: DiffusionSat-compatible parameters, config round-trip, strict loading, metadata wiring."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from satgeo.errors import ModelError
from satgeo.models.satunet import SatUNet, load_satunet
from satgeo.models.tiny import tiny_unet_config


@pytest.fixture(scope="module")
def unet() -> SatUNet:
    torch.manual_seed(0)
    return SatUNet(**tiny_unet_config()).eval()


def test_metadata_parameter_names_match_diffusionsat(unet):
    keys = [k for k in unet.state_dict() if k.startswith("metadata_embedding.")]
    expected = {f"metadata_embedding.{i}.linear_{j}.{p}" for i in range(7) for j in (1, 2) for p in ("weight", "bias")}
    assert set(keys) == expected
    c = unet.config.block_out_channels[0]
    assert unet.metadata_embedding[0].linear_1.weight.shape == (4 * c, c)
    assert unet.metadata_embedding[6].linear_2.weight.shape == (4 * c, 4 * c)


def test_config_round_trips(unet, tmp_path):
    unet.save_pretrained(tmp_path / "u")
    cfg = json.loads((tmp_path / "u" / "config.json").read_text())
    assert cfg["_class_name"] == "SatUNet" and cfg["use_metadata"] is True and cfg["num_metadata"] == 7
    again = SatUNet.from_pretrained(tmp_path / "u")
    assert again.config.num_metadata == 7 and again.metadata_embedding is not None
    strict = load_satunet(tmp_path / "u")
    x, e, md = torch.randn(1, 4, 16, 16), torch.randn(1, 8, 32), torch.rand(1, 7) * 1000
    with torch.no_grad():
        assert torch.equal(unet(x, 10, e, metadata=md).sample, strict(x, 10, e, metadata=md).sample)


def _sinusoid(v: torch.Tensor, dim: int) -> torch.Tensor:
    """Independent re-statement of SD's timestep projection (flip_sin_to_cos=True, shift 0)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    arg = v[:, None].float() * freqs[None]
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


def test_metadata_goes_through_the_timestep_projection_and_is_summed(unet):
    md = torch.tensor([[512.0, 300.0, 500.0, 0.0, 333.0, 416.0, 322.0]])
    c = unet.config.block_out_channels[0]
    expected = sum(unet.metadata_embedding[i](_sinusoid(md[:, i], c)) for i in range(7))
    seen = {}

    def grab(module, inputs):
        seen.setdefault("temb", inputs[0])

    # the first resnet receives silu(time_embedding(t) + sum of the metadata MLPs)
    h = unet.down_blocks[0].resnets[0].time_emb_proj.register_forward_pre_hook(grab)
    t = torch.tensor([7])
    with torch.no_grad():
        unet(torch.randn(1, 4, 16, 16), t, torch.randn(1, 8, 32), metadata=md)
        t_only = unet.time_embedding(_sinusoid(t, c))
    h.remove()
    act = torch.nn.functional.silu
    assert torch.allclose(seen["temb"], act(t_only + expected), atol=1e-4)


def test_changing_one_metadata_value_changes_output(unet):
    x, e = torch.randn(1, 4, 16, 16), torch.randn(1, 8, 32)
    md = torch.tensor([[500.0, 500.0, 300.0, 100.0, 300.0, 500.0, 500.0]])
    base = unet(x, 500, e, metadata=md).sample
    for i in range(7):
        other = md.clone()
        other[0, i] += 100
        assert not torch.allclose(unet(x, 500, e, metadata=other).sample, base), f"metadata {i} has no effect"


def test_missing_metadata_keys_is_an_error(unet, tmp_path):
    unet.save_pretrained(tmp_path / "u")
    f = tmp_path / "u" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(f))
    save_file({k: v for k, v in state.items() if not k.startswith("metadata_embedding.3")}, str(f))
    with pytest.raises(ModelError, match="missing.*metadata"):
        load_satunet(tmp_path / "u")


def test_unexpected_metadata_keys_is_an_error(unet, tmp_path):
    unet.save_pretrained(tmp_path / "u")
    cfg = json.loads((tmp_path / "u" / "config.json").read_text())
    cfg["use_metadata"] = False  # weights still carry metadata MLPs
    (tmp_path / "u" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="unexpected.*metadata"):
        load_satunet(tmp_path / "u")


def test_wrong_architecture_is_refused(tiny_root, tmp_path):
    shutil.copytree(tiny_root / "vae", tmp_path / "vae")
    with pytest.raises(ModelError, match="AutoencoderKL"):
        load_satunet(tmp_path / "vae")
    # right class name, wrong shapes
    unet_dir = next(tiny_root.glob("checkpoint-*/unet"))
    shutil.copytree(unet_dir, tmp_path / "u")
    cfg = json.loads((tmp_path / "u" / "config.json").read_text())
    cfg["cross_attention_dim"] = 48
    (tmp_path / "u" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="shape"):
        load_satunet(tmp_path / "u")
