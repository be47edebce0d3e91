"""The seam measure of docs/architecture.md.

seam ratio = mean |difference| of adjacent pixels across tile borders
           / mean |difference| over all adjacent pixel pairs.
1.0 means borders are as smooth as the image itself; naive tiling gives clearly more.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def seam_ratio(img: np.ndarray, row_borders: Iterable[int], col_borders: Iterable[int]) -> float:
    """``img`` (H, W[, C]); a border at index k lies between pixels k-1 and k."""
    a = np.asarray(img, np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w = a.shape[:2]
    dv = np.abs(np.diff(a, axis=0))  # (H-1, W, C): pair (k-1, k) at index k-1
    dh = np.abs(np.diff(a, axis=1))
    rows = [k for k in row_borders if 0 < k < h]
    cols = [k for k in col_borders if 0 < k < w]
    if not rows and not cols:
        raise ValueError("no tile border inside the image")
    border = np.concatenate([dv[[k - 1 for k in rows]].ravel(), dh[:, [k - 1 for k in cols]].ravel()])
    overall = np.concatenate([dv.ravel(), dh.ravel()]).mean()
    return float(border.mean() / overall) if overall > 0 else 1.0


def lattice_borders(origin: int, size: int, step: int, extra: int = 0) -> list[int]:
    """Border indices in an image whose first pixel is lattice index ``origin``: every k with
    (origin + k) % step in {0, extra % step} (window starts, and window ends when extra = tile)."""
    offs = {0, extra % step} if extra else {0}
    return [k for k in range(1, size) if (origin + k) % step in offs]
