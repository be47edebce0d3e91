"""The translation-consistent ``local`` pix2pix architecture: the same ground gives the same pixels.

Covers the global noise field, exact agreement of overlapping windows, the absence of a
window lattice on uniform areas, GSD-conditioned lattices and the config checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from satgeo.errors import InputError, ModelError
from satgeo.eval.lattice import lattice_share
from satgeo.eval.seams import lattice_borders, seam_ratio
from satgeo.models.noise_field import field_noise
from satgeo.render.engine import check_gsd, lattice_gsd, render_mask, render_to_cog

#: 3 levels (windows and origins on multiples of 8), 64 px windows, GSD-conditioned between 0.5 and 2 m
TINY_LOCAL = dict(name="tiny-local", arch="local", chans=(4, 8, 16, 16), input_nc=5 + 1 + 4, gsd_input=True,
                  noise_white=2, noise_smooth=2, noise_cell=16, tile_size=64, overlap=16, native_gsd=0.5,
                  gsd_range=(0.5, 2.0), norm="none", dropout=False)


def tiny_local(seed: int = 0):
    import torch

    from satgeo.models.pix2pix import Pix2PixConfig, Pix2PixGenerator
    from satgeo.models.pix2pix_nets import receptive_radius

    torch.manual_seed(seed)
    probe = Pix2PixConfig(**TINY_LOCAL)
    radius = receptive_radius(probe.build(), probe.input_nc)
    cfg = Pix2PixConfig(**{**TINY_LOCAL, "context": -(-radius // probe.multiple) * probe.multiple})
    torch.manual_seed(seed)
    return Pix2PixGenerator(cfg.build(), cfg, device="cpu")


@pytest.fixture(scope="module")
def gen():
    return tiny_local()


@pytest.fixture(scope="module")
def local_model(tmp_path_factory, gen):
    return gen.save(tmp_path_factory.mktemp("models") / "tiny-local", half=False)


def test_noise_field_is_a_function_of_ground_position():
    a = field_noise(11, [(0, 0)], 96, 96)[0]
    b = field_noise(11, [(40, -24)], 96, 96)[0]
    # lattice pixel (r, c) is a[r, c] and b[r - 40, c + 24]
    assert np.array_equal(a[:, 40:96, 0:72], b[:, 0:56, 24:96])
    assert not np.array_equal(a, field_noise(12, [(0, 0)], 96, 96)[0])
    assert -1.0 <= a[:2].min() and a[:2].max() < 1.0 and 0.5 < a[:2].std() < 0.65
    # smooth channels vary slowly: neighbours differ far less than white noise neighbours
    assert np.abs(np.diff(a[2:], axis=2)).mean() < 0.2 * np.abs(np.diff(a[:2], axis=2)).mean()


def test_overlapping_windows_agree_exactly(gen):
    c, t = gen.config.context, gen.config.tile_size
    rng = np.random.default_rng(3)
    ground = rng.integers(0, 5, (200, 200)).astype(np.uint8)
    a = gen.generate_batch(ground[None, 0:t + 2 * c, 0:t + 2 * c], origins=[(0, 0)], field_seed=9)[0]
    d = 24  # a multiple of 2**levels
    b = gen.generate_batch(ground[None, d:d + t + 2 * c, d:d + t + 2 * c], origins=[(d, d)], field_seed=9)[0]
    diff = np.abs(a[d:, d:].astype(int) - b[:t - d, :t - d].astype(int))
    assert diff.mean() == 0.0
    # another field seed gives other pixels for the same ground
    other = gen.generate_batch(ground[None, 0:t + 2 * c, 0:t + 2 * c], origins=[(0, 0)], field_seed=10)[0]
    assert np.abs(other.astype(int) - a.astype(int)).mean() > 0.5


def test_context_must_leave_pixels(gen):
    c = gen.config.context
    with pytest.raises(ValueError, match="context"):
        gen.generate_batch(np.zeros((1, 2 * c, 2 * c), np.uint8))


@pytest.mark.parametrize("cls", [0, 1, 3, 4])
def test_uniform_areas_show_no_window_lattice(gen, cls):
    s = gen.config.tile_size - gen.config.overlap
    img = render_mask(gen, np.full((8 * s, 8 * s), cls, np.uint8), seed=1)
    fold = lattice_share([img], s)
    # independent cells give about 1/sqrt(64) = 0.125; a window pattern approaches 1
    assert fold["cells"] == 64 and fold["share"] <= 0.2 and fold["share_x_sqrt_cells"] <= 3
    assert fold["grey_std"] >= 1.0


def test_render_mask_borders_are_seamless(gen):
    s, t = gen.config.tile_size - gen.config.overlap, gen.config.tile_size
    rng = np.random.default_rng(5)
    # class patches of 11 px, so their edges do not line up with the window borders
    mask = np.kron(rng.integers(0, 5, (18, 18)), np.ones((11, 11), np.int64)).astype(np.uint8)[:192, :192]
    img = render_mask(gen, mask, seed=2)
    assert seam_ratio(img, lattice_borders(0, mask.shape[0], s, extra=t), lattice_borders(0, mask.shape[1], s, extra=t)) <= 1.10


def test_gsd_range_picks_the_lattice_and_bounds_the_request(gen):
    card = gen.card
    assert lattice_gsd(card, None) == 0.5 and lattice_gsd(card, 1.3) == 1.3 and lattice_gsd(card, 3.0) == 2.0
    assert lattice_gsd(card, 0.3) == 0.5
    check_gsd(7.9, card)  # within 4x of the top of the range
    with pytest.raises(InputError, match="native GSD of model tiny-local"):
        check_gsd(9.0, card)


def test_render_inside_the_gsd_range_needs_no_resampling(local_model, tmp_path):
    from render_support import DEMO, SMALL_BBOX

    from satgeo.geo.area import Area
    from satgeo.render.request import RenderRequest

    req = RenderRequest(area=Area.from_bbox(SMALL_BBOX), layers=[str(DEMO / "footprints.geojson")],
                        model=str(local_model), seed=3, gsd=1.25)
    r = render_to_cog(req, tmp_path / "a.tif")
    with rasterio.open(r.path) as src:
        tags = src.tags()
        px = src.read()
    assert "|1.25|64|16" in tags["LATTICE"] and src.transform.a == pytest.approx(1.25)
    assert px.std() > 1
    # the same request again: the same bytes
    r2 = render_to_cog(req, tmp_path / "b.tif")
    with rasterio.open(r2.path) as src:
        assert np.array_equal(src.read(), px)


def test_config_checks():
    from satgeo.models.pix2pix import Pix2PixConfig

    with pytest.raises(ModelError, match="arch"):
        Pix2PixConfig(**{**TINY_LOCAL, "arch": "transformer"})
    with pytest.raises(ModelError, match="input channels"):
        Pix2PixConfig(**{**TINY_LOCAL, "input_nc": 5})
    with pytest.raises(ModelError, match="gsd_range"):
        Pix2PixConfig(**{**TINY_LOCAL, "gsd_range": (1.0, 2.0)})


def test_load_round_trip(local_model, gen):
    from satgeo.models.pix2pix import load_pix2pix

    back = load_pix2pix(local_model, device="cpu")
    assert back.config.arch == "local" and back.card.context == gen.config.context
    m = np.zeros((1, 64 + 2 * gen.config.context, 64 + 2 * gen.config.context), np.uint8)
    assert np.array_equal(back.generate_batch(m, field_seed=1), gen.generate_batch(m, field_seed=1))


@pytest.mark.parametrize("cls", [0, 1, 3, 4])
def test_the_shipped_model_shows_no_window_lattice(cls):
    """docs/architecture.md's lattice measure on the default model, uniform areas at its native GSD (4 x 4 windows here;
    docs/render.md has the 8 x 8 numbers)."""
    from satgeo.render.engine import get_generator

    gen = get_generator(None)
    s = gen.card.tile_size - gen.card.overlap
    img = render_mask(gen, np.full((4 * s, 4 * s), cls, np.uint8), seed=0)
    fold = lattice_share([img], s)
    assert fold["cells"] == 16 and fold["share_x_sqrt_cells"] <= 3
    assert fold["grey_std"] >= 4  # textured, not a flat fill


def _landcover_folder(root, colours):
    """A two-tile folder in the Dubai layout: tile_N/images/*.jpg with colour-coded tile_N/masks/*.png."""
    from PIL import Image

    rng = np.random.default_rng(0)
    codes = list(colours)
    for t in (1, 2):
        (root / f"tile_{t}" / "images").mkdir(parents=True)
        (root / f"tile_{t}" / "masks").mkdir(parents=True)
        cls = rng.integers(0, len(codes), (6, 6)).repeat(16, 0).repeat(16, 1)
        Image.fromarray(np.array(codes, np.uint8)[cls]).save(root / f"tile_{t}" / "masks" / "image_part_001.png")
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(
            root / f"tile_{t}" / "images" / "image_part_001.jpg")
    return root


def test_landcover_pairs_decode_and_train_a_local_model(tmp_path):
    from render_support import CHIPS

    from satgeo.models.pix2pix import load_pix2pix
    from satgeo.train.landcover import DUBAI_COLOURS, IGNORE, load_dubai
    from satgeo.train.pairs import build_pairs, list_chips
    from satgeo.train.pix2pix_loop import TrainOptions, train_pix2pix

    root = _landcover_folder(tmp_path / "dubai", DUBAI_COLOURS)
    pairs = load_dubai(root, exclude=("tile_2",))
    assert [p.name for p in pairs] == ["tile_1/image_part_001"]
    assert set(np.unique(pairs[0].mask)) <= {0, 1, 2, 3, 4, IGNORE} and pairs[0].gsd == pytest.approx(1.1 * 1000 / 96, rel=1e-3)
    with pytest.raises(InputError, match="no Dubai pair"):
        load_dubai(root, tiles=("tile_9",))
    chips = build_pairs(list_chips(CHIPS), [str(CHIPS.parent.parent.parent / "data" / "banepa" / "footprints.geojson")])
    opts = TrainOptions(steps=2, batch=2, crop=32, ndf=4, arch="local", chans=(4, 8, 8), tile_size=64, overlap=16,
                        scales=(1, 2), checkpoint_every=1e9, card={"name": "lc"})
    model = load_pix2pix(train_pix2pix(chips, tmp_path / "run", opts, landcover=pairs))
    cfg = model.config
    assert cfg.arch == "local" and cfg.gsd_input and cfg.context >= 8 and cfg.context % 4 == 0
    assert cfg.gsd_range == (pytest.approx(0.1318, abs=2e-3), pytest.approx(11.458, rel=1e-3))
    with pytest.raises(InputError, match="--arch local"):
        train_pix2pix(chips, tmp_path / "bad", TrainOptions(steps=1, crop=64, ngf=4, num_downs=6), landcover=pairs)
