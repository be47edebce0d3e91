"""Every loader path: pipeline folder + checkpoint-N/unet, unet/, zips, names, hub ids, ControlNets."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from satgeo.errors import ModelError
from satgeo.geo.grid import Grid
from satgeo.models.base import RegionRequest
from satgeo.models.registry import load_generator, resolve


def _zip_dir(src: Path, dest: Path, top: str | None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                rel = f.relative_to(src)
                zf.write(f, str(Path(top) / rel) if top else str(rel))
    return dest


def _region(h: int = 96, w: int = 128, masks: np.ndarray | None = None) -> RegionRequest:
    grid = Grid.from_bounds("EPSG:32645", (330000.0, 3060000.0, 330000.0 + w * 0.5, 3060000.0 + h * 0.5), 0.5)
    m = masks if masks is not None else np.zeros((h, w), np.uint8)
    return RegionRequest(masks=m, grid=grid, seed=1, origin=(0, 0), prompt="a fmow satellite image", steps=1)


def test_pipeline_folder_uses_the_highest_checkpoint(tiny_root, tmp_path):
    from satgeo.models.diffusionsat import find_unet_dir

    root = tmp_path / "ds"
    shutil.copytree(tiny_root, root)
    shutil.copytree(root / "checkpoint-100", root / "checkpoint-2000")
    shutil.copytree(root / "checkpoint-100", root / "checkpoint-300")
    assert find_unet_dir(root) == root / "checkpoint-2000" / "unet"
    path, family = resolve(str(root))
    assert family.name == "diffusionsat"


def test_unet_folder_layout_loads(tiny_root, tmp_path):
    root = tmp_path / "flat"
    shutil.copytree(tiny_root, root)
    (root / "checkpoint-100").rename(root / "ckpt")
    shutil.move(str(root / "ckpt" / "unet"), str(root / "unet"))
    shutil.rmtree(root / "ckpt")
    gen = load_generator(str(root), device="cpu")
    assert gen.card.family == "diffusionsat" and gen.card.tile_size == 448
    assert gen.generate_region(_region()).shape == (96, 128, 3)


@pytest.mark.parametrize("top", [None, "finetune_sd21_sn-satlas-fmow_snr5_md7norm_bs64"])
def test_zip_layouts_unpack_once_into_the_cache(tiny_root, tmp_path, satgeo_home, top):
    z = _zip_dir(tiny_root, tmp_path / "diffusionsat_256.zip", top)
    path, family = resolve(str(z))
    assert family.name == "diffusionsat"
    gen = load_generator(str(z), device="cpu")
    unpacked = list((satgeo_home / "unpacked").iterdir())
    assert len(unpacked) == 1
    load_generator(str(z), device="cpu")
    assert list((satgeo_home / "unpacked").iterdir()) == unpacked
    assert gen.generate_region(_region()).dtype == np.uint8


def test_a_registered_name_needs_pull_and_says_how(satgeo_home):
    with pytest.raises(ModelError, match="satgeo models pull diffusionsat-512"):
        resolve("diffusionsat-512")


def test_registered_name_resolves_to_the_cache(tiny_root, satgeo_home):
    shutil.copytree(tiny_root, satgeo_home / "models" / "diffusionsat-256" / "diffusionsat_256")
    path, family = resolve("diffusionsat-256")
    assert family.name == "diffusionsat" and path == satgeo_home / "models" / "diffusionsat-256"
    assert load_generator("diffusionsat-256", device="cpu").card.family == "diffusionsat"


def test_hub_ids_respect_offline_mode(satgeo_home):
    from satgeo.models.hub import pull

    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        pull("geosynth-osm")


def test_missing_component_is_a_clear_error(tiny_root, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(tiny_root, root)
    shutil.rmtree(root / "text_encoder")
    from satgeo.models.diffusionsat import load

    with pytest.raises(ModelError, match="text_encoder"):
        load(root)


def test_diffusionsat_controlnet_follows_the_map(tiny_cn_root):
    import torch

    # fp32 whatever the CPU: in bf16 any change of input flips roundings all over the image, which
    # would pass for an effect of the map. Two steps: with SD 2.x's DDIM ("leading" spacing) one
    # step is t=1, where the denoiser's prediction barely moves the image.
    gen = load_generator(str(tiny_cn_root), device="cpu", dtype=torch.float32)
    assert gen.card.family == "controlnet" and gen.conditioning == "satgeo-mask"

    def run(masks: np.ndarray | None = None) -> np.ndarray:
        req = _region(masks=masks)
        req.steps = 2
        return gen.generate_region(req).astype(int)

    empty = run()
    assert np.array_equal(run(), empty)
    m = np.zeros((96, 128), np.uint8)
    m[20:70, 30:90] = 1
    change = np.abs(run(m) - empty).mean(axis=2)
    far = np.ones_like(change, bool)
    far[:86, :106] = False  # at least 16 px from the building
    assert change.mean() > 0.3, f"the map changed the image by {change.mean():.4f} grey levels"
    assert change[20:70, 30:90].mean() > change[far].mean()
    assert len(gen.model_hash) == 64


def test_plain_diffusers_controlnet_layout(tiny_root, tmp_path):
    # an SD-style base (UNet without metadata) + a stock ControlNetModel, e.g. GeoSynth-OSM on SD 2.1-base
    from satgeo.models.tiny import build_tiny_controlnet, build_tiny_diffusionsat

    base = build_tiny_diffusionsat(tmp_path / "sdbase", checkpoint_step=None, use_metadata=False)
    root = tmp_path / "geosynth"
    shutil.copytree(base, root)
    build_tiny_controlnet(root / "controlnet", base, variant="diffusers")
    cfg = json.loads((root / "controlnet" / "config.json").read_text())
    assert cfg["use_metadata"] is False
    gen = load_generator(str(root), device="cpu")
    assert gen.conditioning == "geosynth-osm" and gen.pipe.num_metadata == 0
    assert gen.generate_region(_region()).shape == (96, 128, 3)


def test_controlnet_for_another_base_is_refused(tiny_root, tmp_path):
    from satgeo.models.tiny import build_tiny_controlnet

    root = tmp_path / "mismatch"
    shutil.copytree(tiny_root, root)
    build_tiny_controlnet(root / "controlnet", tiny_root)
    cfg_f = root / "checkpoint-100" / "unet" / "config.json"
    # swap in a base UNet with a different width (and matching weights)
    from satgeo.models.satunet import SatUNet
    from satgeo.models.tiny import tiny_unet_config

    other = SatUNet(**{**tiny_unet_config(), "block_out_channels": (16, 32), "norm_num_groups": 8})
    shutil.rmtree(cfg_f.parent)
    other.save_pretrained(cfg_f.parent)
    with pytest.raises(ModelError, match="does not match the base UNet"):
        load_generator(str(root), device="cpu")


def test_metadata_controlnet_needs_a_metadata_base(tiny_root, tmp_path):
    from satgeo.models.controlnet import check_base, load_controlnet
    from satgeo.models.satunet import SatUNet
    from satgeo.models.tiny import build_tiny_controlnet, tiny_unet_config

    cn = load_controlnet(build_tiny_controlnet(tmp_path / "cn", tiny_root))
    with pytest.raises(ModelError, match="no metadata embedding"):
        check_base(cn, SatUNet(**tiny_unet_config(use_metadata=False)))
