"""Fixtures for tests/eval: eight 128 px Banepa chips (see make_fixtures.py) and a tiny random pix2pix model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHIPS = Path(__file__).resolve().parent / "data" / "chips"
FOOTPRINTS = REPO / "data" / "banepa" / "footprints.geojson"
SHARED = Path(os.environ.get("SATGEO_SHARED_DATA", REPO.parent / "shared" / "data"))
#: held-out / layer-pool / real-pool split of the fixture chips (columns 3 / 2 / 0-1)
HOLDOUT, LAYER_CHIPS = "Q-3-.*", "Q-2-.*"


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


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``satgeo ARGS`` in-process: (exit code, stdout, stderr)."""
    from satgeo.cli import main

    monkeypatch.setattr("sys.argv", ["satgeo", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
