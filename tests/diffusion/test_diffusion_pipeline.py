"""DiffusionSat pipeline: CFG with zero metadata as unconditional, schedulers, captions, batching."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from satgeo.errors import InputError
from satgeo.models.diffusionsat import check_metadata_range, normalize_metadata

CAPTION = "a fmow satellite image of a park in Nepal"
MD = [600.0, 650.0, 500.0, 100.0, 333.0, 416.0, 322.0]


@pytest.mark.determinism
def test_same_request_same_pixels_and_metadata_matters(tiny_pipe):
    a = tiny_pipe(CAPTION, MD, steps=3, seed=1)
    b = tiny_pipe(CAPTION, MD, steps=3, seed=1)
    assert a.shape == (1, 256, 256, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    other = list(MD)
    other[4] += 50  # another year
    c = tiny_pipe(CAPTION, other, steps=3, seed=1)
    assert np.abs(a.astype(int) - c).mean() > 0.5


def test_unconditional_branch_is_empty_caption_and_zero_metadata(tiny_pipe):
    pipe = tiny_pipe
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 32, 32, generator=g)
    t = torch.tensor(500)
    emb = pipe.encode_prompts([CAPTION, CAPTION])
    md = pipe.metadata_tensor([MD, MD], 2)
    uncond = pipe.encode_prompts([""])
    with torch.inference_mode():
        guided = pipe.predict(x, t, emb, md, 5.0, uncond)
        u = pipe.unet(x, t, uncond.expand(2, -1, -1), metadata=torch.zeros(2, 7)).sample
        c = pipe.unet(x, t, emb, metadata=md).sample
    assert torch.allclose(guided, u + 5.0 * (c - u), atol=1e-4)


def test_dpm_solver_is_a_fast_option(tiny_pipe):
    img = tiny_pipe(CAPTION, MD, steps=4, scheduler="dpm++")
    assert img.shape == (1, 256, 256, 3) and img.std() > 1
    with pytest.raises(InputError, match="unknown scheduler"):
        tiny_pipe(CAPTION, MD, steps=2, scheduler="euler-wild")


def test_batched_windows_match_single_calls(tiny_pipe):
    prompts = [CAPTION, "a fmow satellite image of a port in Chile"]
    mds = [MD, [100.0, 200.0, 300.0, 0.0, 300.0, 100.0, 50.0]]
    both = tiny_pipe(prompts, mds, steps=2, latents=torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(5)))
    lat = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(5))
    one = tiny_pipe(prompts[1], mds[1], steps=2, latents=lat[1:])
    assert np.abs(both[1].astype(int) - one[0]).max() <= 1


def test_caption_over_the_token_limit_is_an_input_error(tiny_pipe):
    limit = tiny_pipe.token_limit()
    with pytest.raises(InputError, match=f"over this model's limit of {limit}"):
        tiny_pipe("a fmow satellite image of a " + "very " * 60 + "big port", MD, steps=1)


def test_metadata_out_of_training_range_warns():
    with pytest.warns(UserWarning, match="gsd=30"):
        check_metadata_range([10.0, 10.0, 30.0, None, 2020, 1, 1])
    with pytest.warns(UserWarning, match="year=1950"):
        check_metadata_range([10.0, 10.0, 0.5, None, 1950, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_metadata_range([85.3, 27.7, 0.5, 0.1, 2020, 6, 15])


def test_normalization_uses_design_formulas_and_zero_for_unknown():
    v = normalize_metadata([0.0, 0.0, 0.3, None, 2040, 6, None])
    assert v == pytest.approx([500.0, 500.0, 300.0, 0.0, 500.0, 500.0, 0.0])
