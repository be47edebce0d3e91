"""Latent MultiDiffusion mosaics: lattice noise, seams, order independence, tiled decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from satgeo.eval.seams import seam_ratio
from satgeo.geo.grid import Grid
from satgeo.models.base import RegionRequest
from satgeo.models.mosaic import (
    decode_tiled,
    denoise_region,
    lattice_noise,
    plan_windows,
    to_uint8,
    window_starts,
)

CAPTION = "a fmow satellite image of a park in Nepal"


def test_lattice_noise_depends_only_on_global_coordinates():
    big = lattice_noise(7, -10, 50, 150, 140)
    part = lattice_noise(7, 40, 100, 70, 60)
    assert torch.equal(big[:, 50:120, 50:110], part)
    assert not torch.equal(lattice_noise(8, 40, 100, 70, 60), part)
    assert abs(float(big.std()) - 1) < 0.05


def test_windows_cover_with_at_least_the_overlap():
    starts = window_starts(56, 32, 8)
    assert starts[0] == 0 and starts[-1] == 24
    assert all(b - a <= 32 - 8 for a, b in zip(starts, starts[1:]))
    assert window_starts(20, 32, 8) == [0]


def _grid(h: int, w: int) -> Grid:
    return Grid.from_bounds("EPSG:32645", (330000.0, 3060000.0, 330000.0 + w * 0.5, 3060000.0 + h * 0.5), 0.5)


def _latents(pipe, windows, order=None):
    h = max(w.row + w.size for w in windows)
    wd = max(w.col + w.size for w in windows)
    noise = lattice_noise(3, 0, 0, h, wd)[None]
    emb = pipe.encode_prompts([CAPTION])
    md = pipe.metadata_tensor([[600.0, 650.0, 500.0, 0.0, 333.0, 416.0, 322.0]] * len(windows), len(windows))
    with torch.inference_mode():
        return denoise_region(pipe, noise, windows, lambda idx: emb.expand(len(idx), -1, -1), md, 4, 7.5, order=order)


def _mosaic(pipe, windows, order=None):
    with torch.inference_mode():
        return to_uint8(pipe.decode(_latents(pipe, windows, order))[0])


@pytest.mark.determinism
def test_two_by_two_window_mosaic_is_seamless_and_order_independent(tiny_pipe):
    # 2x2 windows of 32 latents (256 px) sharing 8 latents (64 px): a 56x56 latent, 448 px region
    windows = plan_windows(56, 56, 32, 8)
    assert len(windows) == 4
    img = _mosaic(tiny_pipe, windows)
    shuffled = _mosaic(tiny_pipe, windows, order=[3, 1, 0, 2])
    assert np.array_equal(img, shuffled)
    # window borders inside the region (pixels): starts of the second windows and ends of the first
    seams = sorted({w.row * 8 for w in windows if w.row} | {(w.row + w.size) * 8 for w in windows if w.row + w.size < 56})
    ratio = seam_ratio(img, seams, seams)
    assert ratio <= 1.10, ratio

    # the measure does see seams: 2x2 independent windows, each decoded alone and butted together
    lat = _latents(tiny_pipe, plan_windows(64, 64, 32, 0))
    with torch.inference_mode():
        rows = [[to_uint8(tiny_pipe.decode(lat[:, :, r : r + 32, c : c + 32])[0]) for c in (0, 32)] for r in (0, 32)]
    naive = np.concatenate([np.concatenate(row, 1) for row in rows], 0)
    assert seam_ratio(naive, [256], [256]) > 1.10 > ratio


@pytest.mark.determinism
def test_generator_region_is_deterministic_and_aligned(tiny_root):
    from satgeo.models.registry import load_generator

    gen = load_generator(str(tiny_root), device="cpu")
    masks = np.zeros((200, 300), np.uint8)
    req = RegionRequest(masks=masks, grid=_grid(200, 300), seed=5, origin=(16, 24), prompt=CAPTION,
                        metadata=[None, None, None, 0.1, 2020, 6, 15], steps=3)
    a = gen.generate_region(req)
    assert a.shape == (200, 300, 3) and a.dtype == np.uint8
    assert np.array_equal(a, gen.generate_region(req))
    req2 = RegionRequest(masks=masks, grid=_grid(200, 300), seed=6, origin=(16, 24), prompt=CAPTION, steps=3)
    assert not np.array_equal(a, gen.generate_region(req2))


def test_each_window_gets_metadata_from_its_own_extent(tiny_root):
    from satgeo.models.mosaic import plan_windows as pw
    from satgeo.models.registry import load_generator

    gen = load_generator(str(tiny_root), device="cpu")
    req = RegionRequest(masks=np.zeros((448, 448), np.uint8), grid=_grid(448, 448), seed=0, origin=(0, 0),
                        metadata=[None, None, None, 0.2, 2021, 3, 4])
    wins = pw(56, 56, 32, 8)
    md = np.array(gen.window_metadata(req, wins, 0, 0))
    assert md.shape == (4, 7)
    assert md[0, 1] > md[2, 1]  # the top windows lie further north
    assert md[1, 0] > md[0, 0]  # the right windows lie further east
    assert np.allclose(md[:, 2], 500.0) and np.allclose(md[:, 3], 200.0)


def test_tiled_decode_has_no_colour_shift(tiny_pipe):
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(1, 4, 80, 80, generator=g) * 0.8
    with torch.inference_mode():
        full = tiny_pipe.decode(lat)[0]
        tiled = decode_tiled(tiny_pipe, lat, tile=48, overlap=16)
    assert tiled.shape == full.shape
    # per-tile mean colour equals the full decode's (no visible cast between tiles)
    for r in (0, 320):
        for c in (0, 320):
            d = (tiled[:, r : r + 320, c : c + 320].mean((1, 2)) - full[:, r : r + 320, c : c + 320].mean((1, 2))).abs()
            assert float(d.max()) < 2 / 255, d
    ratio = seam_ratio(to_uint8(tiled), [384, 256], [384, 256])
    assert ratio <= 1.10
