"""PSNR and SSIM on uint8 (or float) images, numpy only; the one implementation (training validates
with it, evaluation re-exports it).

SSIM follows Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
K2 = 0.03, population (not sample) statistics, the mean over pixels whose window lies
wholly inside the image ("valid" filtering), then the mean over channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _as_hwc(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {np.shape(img)}")
    return a


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def gaussian_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def _filter_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (H, W, C) by the 1-D kernel ``k`` along H and W."""
    n = len(k)
    h, w = x.shape[:2]
    rows = sum(k[i] * x[i:h - n + 1 + i] for i in range(n))
    return sum(k[i] * rows[:, i:w - n + 1 + i] for i in range(n))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, win: int = 11, sigma: float = 1.5) -> float:
    """Mean structural similarity of two images ((H, W) or (H, W, C))."""
    x, y = _as_hwc(a), _as_hwc(b)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if min(x.shape[:2]) < win:
        raise ValueError(f"images must be at least {win} px a side for SSIM")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    k = gaussian_kernel(win, sigma)
    mx, my = _filter_valid(x, k), _filter_valid(y, k)
    vx = _filter_valid(x * x, k) - mx * mx
    vy = _filter_valid(y * y, k) - my * my
    cov = _filter_valid(x * y, k) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def score(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> dict[str, Any]:
    """Mean PSNR and SSIM of ``preds`` against ``truths`` (training-time validation and evaluation)."""
    p = [psnr(a, b) for a, b in zip(preds, truths)]
    s = [ssim(a, b) for a, b in zip(preds, truths)]
    return {"psnr": round(float(np.mean(p)), 3), "ssim": round(float(np.mean(s)), 4),
            "ssim_per_chip": [round(v, 4) for v in s]}
