"""Same bytes whatever shares a window's forward pass, and whatever the thread count.

CPU kernels choose blockings by batch size and thread count (oneDNN's AVX2 convolutions do,
for example), and another blocking rounds differently. CI runs these tests a second time
with the kernels limited to AVX2 (``.ci/run``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rasterio.crs import CRS
from render_support import DEMO

from satgeo.render import engine
from satgeo.render.engine import render_grid
from satgeo.render.plan import Lattice

pytestmark = pytest.mark.determinism


def _strip(demo_request, windows: int):
    """A lattice-aligned strip one window tall and ``windows`` windows wide near the demo block."""
    gen = engine.get_generator(demo_request.model)
    card = gen.card
    lat = Lattice(CRS.from_epsg(32645), card.native_gsd, card.tile_size, card.overlap)
    r0, c0 = lat.rect_for_bounds((354180.0, 3057150.0, 354181.0, 3057151.0))[:2]
    r0, c0 = (r0 // lat.stride) * lat.stride, (c0 // lat.stride) * lat.stride
    return lat, lat.grid(r0, c0, lat.tile, (windows - 1) * lat.stride + lat.tile)


def test_window_bytes_do_not_depend_on_the_batch_around_it(demo_request):
    lat, strip = _strip(demo_request, engine.BATCH + 3)
    whole = render_grid(demo_request, strip)  # passes of BATCH windows, then 3 (+ padding)
    s = lat.stride
    # crops whose rows hold 1, 2, ... BATCH - 1 windows, at several offsets
    for start, count in [(0, 1), (1, 2), (2, 3), (5, 5), (0, 7), (3, 6), (4, 4)]:
        crop = strip.window(start * s, 0, (count - 1) * s + lat.tile, lat.tile)
        np.testing.assert_array_equal(
            render_grid(demo_request, crop), whole[:, :, start * s:start * s + crop.width],
            err_msg=f"windows {start}..{start + count - 1} rendered in a pass of {count}",
        )


def test_thread_count_does_not_change_bytes(demo_request):
    _, strip = _strip(demo_request, engine.BATCH + 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = render_grid(demo_request, strip)
        torch.set_num_threads(2)
        two = render_grid(demo_request, strip)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_the_shipped_model_is_batch_and_thread_independent():
    """The default model's own kernels: a window alone or among others of its row, 1 or 2 threads."""
    from satgeo.geo.masks import cached_layers
    from satgeo.render.noise import field_seed, window_seed

    gen = engine.get_generator(None)
    card = gen.card
    size, c = engine.batch_size(card), card.context
    lat = Lattice(CRS.from_epsg(32645), card.native_gsd, card.tile_size, card.overlap)
    layers = cached_layers([str(DEMO / "footprints.geojson")], lat.crs)
    r0, c0 = lat.rect_for_bounds((354160.0, 3057100.0, 354161.0, 3057101.0))[:2]
    n = 3 * size
    origins = [(r0 - c, c0 + k * lat.stride - c) for k in range(n)]
    masks = np.stack([layers.rasterize(lat.grid(r, q, lat.tile + 2 * c, lat.tile + 2 * c)) for r, q in origins])
    assert masks.max() == 1, "the windows should cover buildings"
    seeds = [window_seed(0, lat, r0, c0 + k * lat.stride) for k in range(n)]
    kw = dict(field_seed=field_seed(0, lat), gsd=lat.gsd)

    def run(a: int, b: int) -> np.ndarray:
        return np.concatenate([engine._fixed_batch(gen, size, masks[k:min(k + size, b)], seeds[k:min(k + size, b)],
                                                   origins[k:min(k + size, b)], **kw) for k in range(a, b, size)])

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        full = run(0, n)
        alone = run(n - 1, n)
        torch.set_num_threads(1)
        single_thread = run(1, n)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(alone[0], full[n - 1])
    np.testing.assert_array_equal(single_thread, full[1:])

