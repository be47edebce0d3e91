"""Fixtures for tests/eval: eight 128 px Banepa chips (see make_fixtures.py) and a tiny random pix2pix model."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_support import *  # noqa: F401,F403


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small networks on a shared 2-core machine: one thread avoids the spin-wait of two (as the CLI defaults)."""
    from satgeo.eval.segmenter import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny_p2p(tmp_path_factory) -> Path:
    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix
    from satgeo.models.pix2pix_nets import init_weights

    cfg = Pix2PixConfig(name="tiny-p2p", ngf=4, num_downs=6, tile_size=64, overlap=16, native_gsd=0.26)
    return save_pix2pix(init_weights(cfg.build(), seed=0), cfg, tmp_path_factory.mktemp("models") / "tiny", half=False)
