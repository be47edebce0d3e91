"""Realism measures that need no downloaded weights: a classifier two-sample test and KID.

* ``c2st``: a small CNN, trained from scratch, tells real patches from generated ones. Patches
  are grouped by chip and scored with k-fold cross-validation *by chip*: a chip's real and
  generated patches are always on the same side of a split, so the classifier never sees the
  test area's layout. Every test patch is scored once; the accuracy gets a Wilson 95 % interval.
  0.5 means indistinguishable. Patches are area-averaged ``scale`` x first: the Banepa chips are
  JPEG, and at full resolution the 8 x 8 block artefacts alone would give real patches away.
* ``kid``: unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et
  al. 2018), averaged over random subsets; features come from the evaluation segmenter's encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satgeo.errors import InputError
from satgeo.eval.segmenter import to_input


@dataclass(frozen=True)
class C2STConfig:
    """The classifier two-sample test: how chips are cut into patches, and how the critic is fitted."""

    patch: int = 64  # patch side, px after downsampling
    scale: int = 2  # area-averaging factor applied to the chips first
    folds: int = 4  # chip-level cross-validation folds (at most one per chip)
    steps: int = 200  # Adam steps per fold
    batch: int = 32  # patches per step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # patch sampling and critic initialisation


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def _patches(img: np.ndarray, patch: int, scale: int) -> np.ndarray:
    """Non-overlapping ``patch`` px tiles of ``img`` after ``scale`` x area averaging: (K, p, p, 3) uint8."""
    h, w = (img.shape[0] // scale) * scale, (img.shape[1] // scale) * scale
    a = img[:h, :w].astype(np.float32).reshape(h // scale, scale, w // scale, scale, 3).mean((1, 3))
    a = np.rint(a).astype(np.uint8)
    ph, pw = a.shape[0] // patch, a.shape[1] // patch
    t = a[:ph * patch, :pw * patch].reshape(ph, patch, pw, patch, 3).transpose(0, 2, 1, 3, 4)
    return t.reshape(-1, patch, patch, 3)


class _Critic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers, cin = [], 3
        for cout in (16, 32, 64, 64):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3)))[:, 0]


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = int(rng.integers(4))
    x = np.rot90(x, k, axes=(1, 2))
    return x[:, :, ::-1] if rng.random() < 0.5 else x


def _fit_predict(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, cfg: C2STConfig, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = _Critic()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        idx = rng.integers(len(xtr), size=cfg.batch)
        x = to_input(np.ascontiguousarray(_augment(xtr[idx], rng)))
        loss = F.binary_cross_entropy_with_logits(net(x), torch.from_numpy(ytr[idx]).float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    with torch.inference_mode():
        return (net(to_input(xte)) > 0).numpy()


def c2st(real: Sequence[np.ndarray], fake: Sequence[np.ndarray], config: C2STConfig = C2STConfig()) -> dict:
    """Accuracy of a real-vs-generated classifier on held-out chips; ``real[i]`` and ``fake[i]`` are chip i."""
    if len(real) != len(fake) or not real:
        raise ValueError("c2st needs one generated image per real chip")
    if len(real) == 1:  # one chip: its top and bottom halves are the two areas
        h = real[0].shape[0] // 2
        real, fake = [real[0][:h], real[0][h:]], [fake[0][:h], fake[0][h:]]
    folds = min(config.folds, len(real))
    chips = [(_patches(r, config.patch, config.scale), _patches(f, config.patch, config.scale)) for r, f in zip(real, fake)]
    if any(len(r) == 0 for r, _ in chips):
        raise InputError(f"chips must be at least {config.patch * config.scale} px a side for c2st")
    order = np.random.default_rng(config.seed).permutation(len(chips))
    correct = total = 0
    for k in range(folds):
        test = set(order[k::folds].tolist())
        tr = [c for i, c in enumerate(chips) if i not in test]
        te = [c for i, c in enumerate(chips) if i in test]
        xtr = np.concatenate([a for r, f in tr for a in (r, f)])
        ytr = np.concatenate([np.full(len(a), lab, np.float32) for r, f in tr for a, lab in ((r, 1), (f, 0))])
        xte = np.concatenate([a for r, f in te for a in (r, f)])
        yte = np.concatenate([np.full(len(a), lab, bool) for r, f in te for a, lab in ((r, 1), (f, 0))])
        pred = _fit_predict(xtr, ytr, xte, config, config.seed * 1000 + k)
        correct += int((pred == yte).sum())
        total += len(yte)
    lo, hi = wilson_interval(correct, total)
    return {"accuracy": round(correct / total, 4), "ci95": [round(lo, 4), round(hi, 4)], "n_test": total,
            "folds": folds}


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between two feature sets under k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 50, subset_size: int = 100, seed: int = 0) -> dict:
    """KID (mean and std of unbiased MMD^2 over random subsets) between (N, D) feature arrays."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("kid needs at least two feature vectors per side")
    rng = np.random.default_rng(seed)
    vals = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)], fake[rng.choice(len(fake), size, replace=False)])
            for _ in range(subsets)]
    return {"mean": round(float(np.mean(vals)), 6), "std": round(float(np.std(vals)), 6), "subset_size": size,
            "subsets": subsets}
