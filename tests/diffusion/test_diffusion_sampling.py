"""`satgeo render --guidance/--scheduler`: they reach the diffusion model, and bad values are refused early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

AREA = ["8.5395", "47.3690", "8.5403", "47.3696"]


def _render(root: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SATGEO_HOME=str(out.parent / "home"), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "satgeo.cli", "render", "--model", str(root), "--bbox", *AREA,
                           "--prompt", "a fmow satellite image of a park in Switzerland", "--steps", "2",
                           "--quiet", "-o", str(out), *flags], capture_output=True, text=True, env=env, timeout=600)


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.mark.slow
def test_guidance_and_scheduler_change_the_image(tiny_root, tmp_path):
    runs = {"base": ("--guidance", "1", "--scheduler", "ddim"), "guided": ("--guidance", "9", "--scheduler", "ddim"),
            "dpm": ("--guidance", "1", "--scheduler", "dpm++")}
    images = {}
    for name, flags in runs.items():
        r = _render(tiny_root, tmp_path / f"{name}.tif", *flags)
        assert r.returncode == 0, r.stderr
        images[name] = _pixels(tmp_path / f"{name}.tif")
    assert not np.array_equal(images["base"], images["guided"])
    assert not np.array_equal(images["base"], images["dpm"])
    again = _render(tiny_root, tmp_path / "again.tif", *runs["base"])
    assert again.returncode == 0 and np.array_equal(images["base"], _pixels(tmp_path / "again.tif"))


def test_bad_sampling_options_are_refused_before_any_work(tiny_root, tmp_path):
    r = _render(tiny_root, tmp_path / "neg.tif", "--guidance", "-1")
    assert r.returncode == 2 and r.stderr.strip() == "error: --guidance must be a number >= 0, got -1.0"
    r = _render(tiny_root, tmp_path / "euler.tif", "--scheduler", "euler")
    assert r.returncode == 2 and "'euler' is not one of 'default', 'ddim', 'dpm++'" in r.stderr
    assert not list(tmp_path.glob("*.tif"))
