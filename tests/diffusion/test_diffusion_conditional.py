"""DiffusionSat's conditional ControlNets: the official 3D layout, the fMoW Sentinel->RGB one, real rasters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from satgeo.errors import InputError, ModelError

ROOT = Path(__file__).resolve().parents[2]
LON0, LAT0, DEG = 8.539, 47.371, 0.0001  # the RGB rasters: 40 x 40 px of ~7.5 x 11 m, EPSG:4326
AREA = ["8.5395", "47.3690", "8.5403", "47.3696"]
S2_AREA = ["8.5380", "47.3730", "8.5390", "47.3737"]  # inside the Sentinel-2 raster (EPSG:32632)


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SATGEO_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "satgeo.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _write(path: Path, data: np.ndarray, crs: str, transform, **tags) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A tiny DiffusionSat base whose UNet config says sample_size 96 (as the releases do), a Texas-like
    3D ControlNet folder and an fMoW-SR-like ControlNet folder, plus low-resolution rasters."""
    from satgeo.models.tiny import build_tiny_controlnet3d, build_tiny_diffusionsat, build_tiny_fmow_sr_controlnet

    out = tmp_path_factory.mktemp("conditional")
    base = build_tiny_diffusionsat(out / "base96", sample_size=96)
    tex = shutil.copytree(base, out / "texas")
    build_tiny_controlnet3d(tex / "controlnet", base)
    (tex / "satgeo.json").write_text(json.dumps({"window": 128, "native_gsd": 1.0, "condition": "texas"}))
    fm = shutil.copytree(base, out / "fmowsr")
    build_tiny_fmow_sr_controlnet(fm / "controlnet", base)
    (fm / "satgeo.json").write_text(json.dumps({"window": 128, "native_gsd": 1.0}))
    rng = np.random.default_rng(0)
    for i, date in enumerate(["2016-09-11", "2018-11-20", "2018-11-20"]):
        _write(out / f"rgb{i}.tif", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8), "EPSG:4326",
               from_origin(LON0, LAT0, DEG, DEG), ACQUISITION_DATE=date)
    s2 = from_origin(465000, 5247000, 10, 10)
    _write(out / "s2.tif", rng.integers(500, 3000, (13, 40, 40)).astype(np.uint16), "EPSG:32632", s2,
           SENSING_TIME="2017-06-01T10:20:00Z")
    _write(out / "mask.tif", np.zeros((1, 40, 40), np.uint8), "EPSG:32632", s2)
    return out


def test_official_3d_layout_loads_strictly(models):
    from satgeo.models.controlnet3d import SatControlNet3D, load_controlnet3d
    from satgeo.models.satunet import read_state_dict

    folder = models / "texas" / "controlnet"
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["_class_name"] == "ControlNetModel3D"
    assert cfg["use_temporal_transformer"] is True and cfg["conditioning_in_channels"] == 3
    state = read_state_dict(folder)
    assert state["controlnet_cond_embedding.conv_in.weight"].ndim == 5  # Conv3d conditioning embedding
    assert state["controlnet_cond_embedding.blocks.1.weight"].shape[2:] == (1, 3, 3)  # spatial-only downsample
    assert state["controlnet_down_blocks.0.weight"].shape[2:] == (1, 1, 1)
    assert "temporal_blocks.0.transformer_blocks.0.attn1.to_q.weight" in state and "mixing_attns.3" in state
    assert "metadata_embedding.6.linear_2.weight" in state
    cn = load_controlnet3d(folder)
    assert isinstance(cn, SatControlNet3D) and cn.temporal_blocks is not None

    broken = models / "broken3d"
    shutil.copytree(folder, broken)
    from safetensors.torch import save_file

    del state["mixing_attns.0"]
    save_file(state, str(broken / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ModelError, match="1 missing, e.g. mixing_attns.0"):
        load_controlnet3d(broken)


def test_3d_controlnet_uses_each_frame_and_its_own_metadata(models):
    from satgeo.models.controlnet3d import load_controlnet3d

    cn = load_controlnet3d(models / "texas" / "controlnet")
    torch.manual_seed(0)
    x, ctx = torch.randn(1, 4, 8, 8), torch.randn(1, 5, 32)
    cond = torch.rand(1, 3, 3, 64, 64)
    md = torch.full((1, 7), 500.0)
    cmd = torch.full((1, 7, 3), 500.0)
    with torch.inference_mode():
        down, mid = cn(x, 10, ctx, cond, metadata=md, cond_metadata=cmd)
        assert [d.shape[0] for d in down] == [1] * len(down) and mid.shape[0] == 1  # summed over the frames
        cmd2 = cmd.clone()
        cmd2[0, 2, 1] = 10000.0  # frame 1's GSD only
        _, mid2 = cn(x, 10, ctx, cond, metadata=md, cond_metadata=cmd2)
        cond2 = cond.clone()
        cond2[:, :, 2] = 0.0  # frame 2's pixels only
        _, mid3 = cn(x, 10, ctx, cond2, metadata=md, cond_metadata=cmd)
    assert not torch.allclose(mid, mid2) and not torch.allclose(mid, mid3)


def test_3d_controlnet_renders_low_res_geotiffs_into_a_valid_cog(models, tmp_path):
    from rio_cogeo.cogeo import cog_validate

    out = tmp_path / "texas.tif"
    r = _cli("render", "--model", str(models / "texas"), "--bbox", *AREA, "--steps", "2", "--quiet", "-o", str(out),
             *sum((["--condition-raster", str(models / f"rgb{i}.tif")] for i in range(3)), []), home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    with rasterio.open(out) as src:
        tags = src.tags()
        img = src.read()
    assert tags["LATTICE"].endswith("|224|32")  # window 128 (satgeo.json), not the UNet's 96 x 8 = 768
    assert img.std() > 1 and tags["SYNTHETIC"] == "TRUE"


def test_conditioning_frames_follow_the_raster_grid_and_metadata(models):
    """The generator reads each raster onto the region's grid and gives each frame its own date and GSD."""
    from satgeo.geo.grid import Grid
    from satgeo.models.base import RegionRequest
    from satgeo.models.mosaic import plan_windows
    from satgeo.models.registry import load_generator

    gen = load_generator(str(models / "texas"), device="cpu")
    assert gen.window == 128 and gen.spec.temporal and gen.guidance == 1.0
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 32632, always_xy=True).transform(8.5396, 47.3695)
    grid = Grid(rasterio.crs.CRS.from_epsg(32632), from_origin(round(x), round(y), 1.0, 1.0), 128, 128)
    req = RegionRequest(masks=np.zeros((128, 128), np.uint8), grid=grid, seed=0, origin=(0, 0),
                        metadata=[None, None, None, None, 2019, 5, 1],
                        condition_rasters=tuple(str(models / f"rgb{i}.tif") for i in range(3)))
    wins = plan_windows(16, 16, 16, 4)
    raws = gen.window_metadata_raw(req, wins, 0, 0)
    control, cmd = gen._raster_control(req, 128, 128, 0, 0, raws)
    assert control.shape == (1, 3, 3, 128, 128) and 0 <= float(control.min()) and float(control.max()) <= 1
    assert cmd.shape == (1, 7, 3)
    years = (cmd[0, 4] / 1000 * 120 + 1980).round().tolist()
    assert years == [2016, 2018, 2018]  # each frame's own ACQUISITION_DATE, not the request's 2019
    assert float(cmd[0, 2, 0]) == pytest.approx(1000.0)  # "fed" GSD: the 1 m grid the frame was resampled to


def test_fmow_sentinel_controlnet_takes_ten_bands_at_half_resolution(models, tmp_path):
    from rio_cogeo.cogeo import cog_validate

    from satgeo.models.condition import FMOW_S2_STATS, FMOW_SR, open_condition, read_onto
    from satgeo.models.registry import load_generator

    gen = load_generator(str(models / "fmowsr"), device="cpu")
    assert gen.spec.bands == ("B4", "B3", "B2", "B5", "B6", "B7", "B8", "B8A", "B11", "B12") and gen.spec.scale == 2
    # normalisation: fMoW-Sentinel's (x - (mean - 2 std)) / 4 std, 8-bit quantised; band order from the 13-band stack
    r = open_condition(str(models / "s2.tif"))
    from satgeo.geo.grid import Grid

    g = Grid(r.crs, r.transform, 40, 40)
    got = read_onto(r, FMOW_SR, g)
    with rasterio.open(models / "s2.tif") as src:
        b4 = src.read(4).astype(np.float64)
    m, s = FMOW_S2_STATS["B4"]
    want = np.clip((b4 - (m - 2 * s)) / (4 * s) * 255, 0, 255).astype(np.uint8) / 255.0
    assert np.allclose(got[0], want, atol=1e-6)
    assert r.date.isoformat() == "2017-06-01"

    out = tmp_path / "fmow.tif"
    res = _cli("render", "--model", str(models / "fmowsr"), "--bbox", *S2_AREA, "--steps", "2", "--quiet",
               "--condition-raster", str(models / "s2.tif"), "-o", str(out), home=tmp_path / "h")
    assert res.returncode == 0, res.stderr
    assert cog_validate(str(out))[0]


@pytest.mark.parametrize("raster", ["rgb0.tif", "mask.tif"])
def test_rgb_or_mask_for_a_ten_band_controlnet_is_one_error_line(models, tmp_path, raster):
    out = tmp_path / "x.tif"
    r = _cli("render", "--model", str(models / "fmowsr"), "--bbox", *S2_AREA, "--steps", "2", "--quiet",
             "--condition-raster", str(models / raster), "-o", str(out), home=tmp_path / "h")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "expects 1 --condition-raster image of 10 Sentinel-2 bands (B4, B3, B2" in lines[0]
    assert not out.exists() and not list(tmp_path.glob("*.tif*"))


def test_rasters_are_refused_before_any_compute(models, monkeypatch):
    """check_conditions runs before denoising: the refusal comes without a single model call."""
    from satgeo.models import mosaic
    from satgeo.models.condition import validate_request
    from satgeo.models.registry import load_generator

    gen = load_generator(str(models / "fmowsr"), device="cpu")
    monkeypatch.setattr(mosaic, "denoise_region", lambda *a, **k: pytest.fail("computed before refusing"))
    with pytest.raises(InputError, match="10 Sentinel-2 bands"):
        validate_request(gen, [str(models / "rgb0.tif")], None)
    with pytest.raises(InputError, match="needs 1 --condition-raster"):
        validate_request(gen, [], None)
    tex = load_generator(str(models / "texas"), device="cpu")
    with pytest.raises(InputError, match="needs 3 --condition-raster images.*got 1"):
        validate_request(tex, [str(models / "rgb0.tif")], None)


def test_a_declared_spec_that_does_not_match_the_checkpoint_is_refused_at_load(models, tmp_path):
    from satgeo.models.registry import load_generator

    folder = shutil.copytree(models / "fmowsr", tmp_path / "wrong")
    (folder / "satgeo.json").write_text(json.dumps({"window": 128, "condition": {"like": "fmow-sentinel", "scale": 4}}))
    with pytest.raises(ModelError, match="takes 10 conditioning channels at scale 2, but it is declared to expect"):
        load_generator(str(folder), device="cpu")


def test_geosynth_snapshot_runs_on_the_pulled_base_with_a_geosynth_caption(tmp_path, satgeo_home, monkeypatch):
    """A bare GeoSynth-OSM hub snapshot (config.json + weights) runs over $SATGEO_HOME/models/sd21-base,
    draws the map in the geosynth-osm palette and captions it as GeoSynth was prompted; --prompt wins."""
    from satgeo.geo.grid import Grid
    from satgeo.models.base import RegionRequest
    from satgeo.models.registry import load_generator
    from satgeo.models.tiny import build_tiny_controlnet, build_tiny_diffusionsat

    base = build_tiny_diffusionsat(satgeo_home / "models" / "sd21-base", checkpoint_step=None, use_metadata=False)
    snap = build_tiny_controlnet(tmp_path / "GeoSynth-OSM", base, variant="diffusers")
    gen = load_generator(str(snap), device="cpu")
    assert gen.conditioning == "geosynth-osm" and gen.caption_style == "geosynth" and gen.spec.kind == "map"
    assert gen.window == 512  # the sd21-base registry entry: SD 2.1-base's 512 px
    seen = []
    monkeypatch.setattr(gen.pipe, "encode_prompts", lambda ps, _f=gen.pipe.encode_prompts: seen.extend(ps) or _f(ps))
    mask = np.zeros((64, 64), np.uint8)
    for r in range(4, 60, 16):
        for c in range(4, 60, 16):
            mask[r:r + 10, c:c + 10] = 1  # 25 m^2 houses at 0.5 m
    grid = Grid(rasterio.crs.CRS.from_epsg(32632), from_origin(465000, 5247000, 0.5, 0.5), 64, 64)
    gen.window, gen.window_overlap = 64, 16  # a small window keeps the tiny render quick
    gen.generate_region(RegionRequest(masks=mask, grid=grid, seed=0, origin=(0, 0), steps=1))
    assert "Satellite image features a residential neighborhood with houses, trees" in seen
    seen.clear()
    gen.generate_region(RegionRequest(masks=mask, grid=grid, seed=0, origin=(0, 0), steps=1, prompt="my words"))
    assert "my words" in seen and not any(p.startswith("Satellite image features") for p in seen)


def test_released_texas_layout_resolves_by_name_onto_its_base(models, satgeo_home):
    """A Zenodo-style unpack (release folder holding only the ControlNet) named diffusionsat-texas-sr runs
    over diffusionsat-512 with the entry's 256 px window and the Texas inputs (3 RGB frames, guidance 1)."""
    from satgeo.models.registry import load_generator

    base = satgeo_home / "models" / "diffusionsat-512"
    shutil.copytree(models / "base96", base)  # its UNet says 96 latents; the entry says 512
    release = satgeo_home / "models" / "diffusionsat-texas-sr" / "controlnet3d-mixattn_sd21_md7norm_texas"
    shutil.copytree(models / "texas" / "controlnet", release / "controlnet")
    gen = load_generator("diffusionsat-texas-sr", device="cpu")
    assert gen.window == 256 and gen.card.tile_size == 448
    assert gen.spec.frames == 3 and gen.spec.temporal and gen.guidance == 1.0
    assert gen.pipe.root == base and gen.caption_style == "texas"
    assert load_generator("diffusionsat-512", device="cpu").window == 512
