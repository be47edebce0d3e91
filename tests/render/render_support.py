"""Fixtures for the pix2pix / render-engine tests: a tiny random generator saved to disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "banepa"
CHIPS = Path(__file__).resolve().parent / "data"
SHARED = Path(os.environ.get("SATGEO_SHARED_DATA", REPO.parent / "shared" / "data"))

# ngf 4, 6 halvings (one dropout level), 64 px windows: a forward pass of a few ms; 0.5 m native GSD keeps renders small
TINY = dict(name="tiny-p2p", ngf=4, num_downs=6, tile_size=64, overlap=16, native_gsd=0.5, norm="instance")


def save_tiny(folder: Path, seed: int = 0, **over) -> Path:
    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix
    from satgeo.models.pix2pix_nets import init_weights

    cfg = Pix2PixConfig(**{**TINY, **over})
    return save_pix2pix(init_weights(cfg.build(), seed=seed), cfg, folder, half=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def demo_area():
    from satgeo.geo.area import Area

    return Area.from_file(DEMO / "aoi.geojson")


#: ~60 m x 66 m inside the demo block (120 x 135 px at the tiny model's 0.5 m)
SMALL_BBOX = (85.5220, 27.6300, 85.5226, 27.6306)


@pytest.fixture
def demo_request(tiny_model):
    from satgeo.geo.area import Area
    from satgeo.render.request import RenderRequest

    return RenderRequest(
        area=Area.from_bbox(SMALL_BBOX), layers=[str(DEMO / "footprints.geojson")], model=str(tiny_model), seed=7
    )
