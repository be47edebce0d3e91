"""Differentiable image losses for training (torch), matching :mod:`satgeo.train.metrics`."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from satgeo.train.metrics import gaussian_kernel


def ssim_torch(x: torch.Tensor, y: torch.Tensor, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two (N, C, H, W) batches in [-1, 1], differentiable: the same number as
    ``satgeo.train.metrics.ssim`` gives for the uint8 images (Gaussian window, valid filtering,
    population statistics). SSIM's luminance term is not shift-invariant, so the images are
    first mapped to [0, 1] like their uint8 versions. Always computed in fp32, also under autocast:
    the variances are differences of close numbers."""
    with torch.autocast(x.device.type, enabled=False):
        return _ssim(x.float(), y.float(), win, sigma)


def _ssim(x: torch.Tensor, y: torch.Tensor, win: int, sigma: float) -> torch.Tensor:
    x, y = (x + 1) / 2, (y + 1) / 2
    c = x.shape[1]
    k1 = torch.as_tensor(gaussian_kernel(win, sigma), dtype=x.dtype, device=x.device)
    kh = k1.view(1, 1, win, 1).repeat(c, 1, 1, 1)
    kw = k1.view(1, 1, 1, win).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()
