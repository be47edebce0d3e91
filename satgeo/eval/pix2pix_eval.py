"""Evaluate a pix2pix model on held-out chips against two baselines.

* ``model``: the model, feathered over the chip like a render (seed 0);
* ``flat_colour``: each mask class painted with its mean colour on the training chips;
* ``untrained``: the same architecture, randomly initialised (the reference N(0, 0.02) init).

Scores are PSNR and SSIM against the real chip, averaged over chips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from satgeo.models.base import Generator
from satgeo.train.metrics import score
from satgeo.train.pairs import Pairs


def fit_flat_colours(pairs: Pairs, n_classes: int = 5) -> np.ndarray:
    """(n_classes, 3) mean RGB per mask class (classes never seen get the overall mean)."""
    imgs = pairs.images.reshape(-1, 3).astype(np.float64)
    masks = pairs.masks.reshape(-1)
    overall = imgs.mean(axis=0)
    out = np.tile(overall, (n_classes, 1))
    for c in range(n_classes):
        sel = masks == c
        if sel.any():
            out[c] = imgs[sel].mean(axis=0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def flat_colour_image(mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    return colours[np.minimum(mask, len(colours) - 1)]


def evaluate(gen: Generator, held: Pairs, train: Pairs | None, baselines: bool = True,
             seed: int = 0) -> dict[str, Any]:
    """Scores of ``gen`` (and the baselines) on ``held``; ``train`` fits the flat colours."""
    from satgeo.models.pix2pix import Pix2PixGenerator
    from satgeo.models.pix2pix_nets import init_weights
    from satgeo.render.engine import render_mask

    truths = list(held.images)
    out: dict[str, Any] = {"chips": list(held.names), "model": {"name": gen.card.name, "native_gsd": gen.card.native_gsd,
                                                      **score([render_mask(gen, m, seed) for m in held.masks], truths)}}
    if baselines:
        if train is not None:
            colours = fit_flat_colours(train)
            out["flat_colour"] = {"colours": colours.tolist(),
                                  **score([flat_colour_image(m, colours) for m in held.masks], truths)}
        if isinstance(gen, Pix2PixGenerator):
            raw = Pix2PixGenerator(init_weights(gen.config.build(), seed=seed), gen.config, dtype=gen.dtype)
            out["untrained"] = score([render_mask(raw, m, seed) for m in held.masks], truths)
    return out
