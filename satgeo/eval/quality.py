"""`satgeo eval`'s measures of several generators on held-out chips, in one run.

Per model: ``layout_iou`` (the evaluation segmenter, trained on the real training chips, run on
the generated images and scored against the masks they came from), ``c2st`` (a classifier
two-sample test on the held-out chips), ``kid`` (on the segmenter's encoder features),
``lattice`` (uniform-class renders folded at the window stride), PSNR/SSIM (information only)
and, when weight files are given, FID / LPIPS / CLIP score. Under ``real``: the same segmenter on
the real held-out chips, the real chips' own lattice share, and KID between two halves of the
real chips (the noise floor of this KID).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satgeo.errors import InputError
from satgeo.eval.lattice import lattice_share, uniform_lattice
from satgeo.eval.realism import C2STConfig, c2st, kid
from satgeo.eval.segmenter import (
    Sample,
    Segmenter,
    SegmenterConfig,
    cached_segmenter,
    evaluate_segmenter,
    scale_for,
    torch_threads,
)
from satgeo.train.pairs import Pairs

if TYPE_CHECKING:
    from satgeo.eval.extras import ExtraMetrics


@dataclass
class QualityOptions:
    seed: int = 0
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    c2st: C2STConfig = field(default_factory=C2STConfig)
    lattice_windows: int = 8
    kid_patch: int = 32  # px at the segmenter's work scale
    threads: int | None = 1
    cache_dir: str | Path | None = None
    sheet: str | Path | None = None
    extras: ExtraMetrics | None = None  # when weight files were given


def as_samples(pairs: Pairs) -> list[Sample]:
    return [Sample(n, i, m, pairs.gsd) for n, i, m in zip(pairs.names, pairs.images, pairs.masks)]


def check_masks(pairs: Pairs, what: str) -> None:
    """Chips whose masks hold no class but background cannot score layout: almost always the wrong layer."""
    if len(pairs) == 0 or not (pairs.masks[(pairs.masks > 0) & (pairs.masks < 255)]).size:
        raise InputError(f"the {what} chips have no mask: no feature of --footprints falls on them "
                         f"(check the layer and its CRS)")


def _layout(seg: Segmenter, masks: Sequence[np.ndarray] | np.ndarray, images: Sequence[np.ndarray] | np.ndarray,
            names: Sequence[str]) -> dict[str, Any]:
    res = evaluate_segmenter(seg, [Sample(n, i, m, 1.0) for n, i, m in zip(names, images, masks)])
    return {"layout_iou": res["iou"], "layout_f1": res["f1"], "layout_miou": res["miou"]}


def _real_section(seg, held: Pairs, real_feats: np.ndarray, opts: QualityOptions, stride: int) -> dict:
    half = len(real_feats) // 2
    rng = np.random.default_rng(opts.seed)
    perm = rng.permutation(len(real_feats))
    return {
        **_layout(seg, held.masks, held.images, held.names),
        "lattice": {"stride": stride, **lattice_share(list(held.images), stride)},
        # subsets of half a half, so the subsets differ and the std means something
        "kid_split_half": kid(real_feats[perm[:half]], real_feats[perm[half:]], subset_size=max(2, half // 2),
                              seed=opts.seed),
    }


def score_model(gen, seg, held: Pairs, generated: list[np.ndarray], real_feats: np.ndarray, opts: QualityOptions) -> dict:
    from satgeo.train.metrics import score

    t0 = time.time()
    out: dict = {"family": gen.card.family, "native_gsd": gen.card.native_gsd}
    out.update(_layout(seg, held.masks, generated, held.names))
    out["kid"] = kid(real_feats, seg.features(generated, opts.kid_patch), seed=opts.seed)
    c = c2st(list(held.images), generated, replace(opts.c2st, seed=opts.seed))
    out["c2st_accuracy"], out["c2st_ci95"], out["c2st_n_test"] = c["accuracy"], c["ci95"], c["n_test"]
    out["lattice"] = uniform_lattice(gen, opts.lattice_windows, opts.seed)
    ps = score(generated, list(held.images))
    out["psnr"], out["ssim"] = ps["psnr"], ps["ssim"]
    if opts.extras is not None:
        out.update(opts.extras.score(list(held.images), generated))
    out["seconds"] = round(time.time() - t0, 1)
    return out


def evaluate_quality(models: dict, train: Pairs, held: Pairs, opts: QualityOptions) -> dict:
    """``{"models": {label: {...}}, "real": {...}, ...}`` for generators ``models`` (label -> generator)."""
    from satgeo.render.engine import render_mask

    check_masks(train, "training")
    check_masks(held, "held-out")
    t0 = time.time()
    seg_cfg = replace(opts.segmenter, scale=scale_for(train.gsd), seed=opts.seed)
    with torch_threads(opts.threads):
        seg, cached = cached_segmenter(as_samples(train), seg_cfg, opts.cache_dir)
        t_seg = time.time() - t0
        strides = [g.card.tile_size - g.card.overlap for g in models.values()]
        real_feats = seg.features(list(held.images), opts.kid_patch)
        real = _real_section(seg, held, real_feats, opts, strides[0] if strides else 192)
        scored: dict[str, dict[str, Any]] = {}
        generated: dict[str, Sequence[np.ndarray]] = {}
        for label, gen in models.items():
            images = [render_mask(gen, m, opts.seed) for m in held.masks]
            generated[label] = images
            scored[label] = score_model(gen, seg, held, images, real_feats, opts)
    if opts.sheet:
        from satgeo.eval.contact_sheet import contact_sheet

        contact_sheet(opts.sheet, held.names, list(held.masks), generated, list(held.images))
    return {
        "models": scored,
        "real": real,
        "chips": {"held_out": list(held.names), "train": len(train), "gsd": round(held.gsd, 4)},
        "segmenter": {"config": seg_cfg.__dict__, "cached": cached, "train_seconds": round(t_seg, 1)},
        "seconds": round(time.time() - t0, 1),
    }
