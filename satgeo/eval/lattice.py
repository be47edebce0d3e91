"""The window-lattice measure of docs/architecture.md, on images and on uniform-class renders.

lattice share = std of the mean stride x stride cell / std of the image (grey values).
Without a lattice it falls like 1 / sqrt(cells) (noise averaging), so ``share * sqrt(cells)``
is reported too: about 1 for real imagery, sqrt(cells) for a pure window pattern.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from satgeo.models.base import Generator

#: classes rendered as uniform areas (satgeo mask codes), as in issue #11's check
UNIFORM_CLASSES = {"background": 0, "building": 1, "water": 3, "vegetation": 4}


def grey(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, np.float64)
    return a.mean(axis=2) if a.ndim == 3 else a


def lattice_share(images: Sequence[np.ndarray], stride: int, origin: tuple[int, int] = (0, 0)) -> dict:
    """Fold images (cells aligned so that ``origin`` is a window start) at ``stride``; share, cells, grey std."""
    cells, pix = [], []
    for img in images:
        g = grey(img)[origin[0]:, origin[1]:]
        nh, nw = g.shape[0] // stride, g.shape[1] // stride
        if not (nh and nw):
            continue
        g = g[:nh * stride, :nw * stride]
        cells.append(g.reshape(nh, stride, nw, stride).transpose(0, 2, 1, 3).reshape(-1, stride, stride))
        pix.append(g.ravel())
    if not cells:  # smaller than one cell: nothing to fold
        return {"share": None, "share_x_sqrt_cells": None, "cells": 0, "grey_std": None}
    stack = np.concatenate(cells)
    sd = float(np.concatenate(pix).std())
    n = len(stack)
    share = float(stack.mean(0).std() / sd) if sd > 1e-6 else None  # a flat fill has no lattice to measure
    return {"share": None if share is None else round(share, 4),
            "share_x_sqrt_cells": None if share is None else round(share * math.sqrt(n), 3),
            "cells": n, "grey_std": round(sd, 3)}


def uniform_lattice(gen: Generator, windows: int = 8, seed: int = 0) -> dict[str, Any]:
    """``lattice_share`` of uniform renders of each ``UNIFORM_CLASSES`` class over windows x windows windows.

    Rendered through the engine (``render_mask``) at the model's native GSD; the fold is at the
    model's window stride, aligned with the window lattice.
    """
    from satgeo.render.engine import render_mask

    card = gen.card
    stride = int(card.tile_size) - int(card.overlap)
    side = windows * stride + int(card.overlap)
    out: dict[str, Any] = {"stride": stride, "windows": windows, "size_px": side}
    for name, code in UNIFORM_CLASSES.items():
        img = render_mask(gen, np.full((side, side), code, np.uint8), seed)
        out[name] = lattice_share([img], stride)
    return out
