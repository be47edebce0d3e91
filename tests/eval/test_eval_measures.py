"""The measures themselves, on inputs with known answers: lattice share, KID, C2ST, Wilson interval, IoU."""

from __future__ import annotations

import math

import numpy as np
import pytest

from satgeo.eval.lattice import lattice_share
from satgeo.eval.realism import C2STConfig, c2st, kid, mmd2_unbiased, wilson_interval
from satgeo.eval.segmenter import class_scores, confusion


def test_lattice_share_separates_a_window_pattern_from_noise():
    rng = np.random.default_rng(0)
    noise = rng.normal(100, 20, (8 * 32, 8 * 32))
    free = lattice_share([noise], 32)
    assert free["cells"] == 64 and free["share_x_sqrt_cells"] == pytest.approx(1.0, abs=0.25)
    cell = rng.normal(0, 20, (32, 32))
    pattern = np.tile(cell, (8, 8)) + 100 + rng.normal(0, 2, noise.shape)
    tiled = lattice_share([pattern], 32)
    assert tiled["share"] > 0.95 and tiled["share_x_sqrt_cells"] > 7
    flat = lattice_share([np.full((64, 64, 3), 90, np.uint8)], 32)
    assert flat["share"] is None and flat["grey_std"] == 0


def test_kid_is_zero_in_expectation_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    same = kid(a, b, subsets=20, subset_size=100)
    shifted = kid(a, b + 0.5, subsets=20, subset_size=100)
    assert abs(same["mean"]) < 3 * same["std"] + 1e-3
    assert shifted["mean"] > 10 * max(abs(same["mean"]), same["std"])
    # against the textbook double sums
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(5, 3)) + 0.3
    k = lambda p, q: (p @ q / 3 + 1) ** 3  # noqa: E731
    want = (sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
            + sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
            - 2 * sum(k(p, q) for p in x for q in y) / 30)
    assert mmd2_unbiased(x, y) == pytest.approx(want, rel=1e-9)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0) and wilson_interval(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)


def test_c2st_is_chance_on_identical_images_and_high_on_obvious_fakes():
    rng = np.random.default_rng(2)
    real = [rng.integers(0, 256, (128, 128, 3)).astype(np.uint8) for _ in range(4)]
    cfg = C2STConfig(patch=32, scale=2, folds=2, steps=30, batch=16)
    same = c2st(real, [r.copy() for r in real], cfg)
    assert same["accuracy"] == 0.5 and same["n_test"] == 32  # identical inputs get identical predictions
    assert same["ci95"][0] < 0.5 < same["ci95"][1]
    flat = c2st(real, [np.full_like(r, 128) for r in real], cfg)
    assert flat["accuracy"] > 0.9 and flat["ci95"][0] > 0.5


def test_class_scores_from_a_known_confusion():
    truth = np.array([[0, 0, 1, 1], [1, 1, 255, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [1, 0, 0, 0]], np.uint8)
    cm = confusion([pred], [truth], 5)
    assert cm.sum() == 6  # the ignore value is skipped
    res = class_scores(cm)
    # building: tp 3, fp 1, fn 1 -> IoU 3/5, F1 6/8; background: tp 1, fp 1, fn 1 -> 1/3
    assert res["iou"]["building"] == 0.6 and res["f1"]["building"] == 0.75
    assert res["iou"]["background"] == pytest.approx(1 / 3, abs=1e-4)
    assert res["iou"]["road"] is None and res["miou"] == pytest.approx((0.6 + 1 / 3) / 2, abs=1e-4)
    assert math.isclose(sum(cm.ravel()), 6)
