"""Image similarity metrics (PSNR, SSIM): the one implementation lives in :mod:`satgeo.train.metrics`,
below evaluation, because training validates with the same numbers; re-exported here for evaluation."""

from __future__ import annotations

from satgeo.train.metrics import gaussian_kernel, psnr, score, ssim

__all__ = ["gaussian_kernel", "psnr", "score", "ssim"]
