"""The one small segmenter of satgeo's evaluation: trained from scratch on the CPU, seeded.

Used three ways (one implementation):

* ``layout_iou`` (SPADE/OASIS protocol): trained on the real training chips, run on generated
  images, scored against the masks they were generated from;
* ``kid``: its encoder's pooled features stand in for Inception features (no downloaded weights);
* ``satgeo eval downstream``: trained on real, real + synthetic, or synthetic chips and scored on
  held-out real chips.

Architecture (fixed, so numbers compare across runs): a 4-level U-Net, ``width`` channels at
full work resolution doubling per level (16-32-64-128 by default, ~0.47 M parameters),
two 3x3 conv + BatchNorm + ReLU per level, bilinear upsampling, a 1x1 head. Inputs are
area-averaged by ``scale`` first (2: the Banepa chips' 0.13 m -> 0.26 m), masks centre-sampled.
Training: ``steps`` Adam steps (lr ``lr``, cosine decay to 0) on random ``crop`` px crops with flips
and 90-degree rotations, batch ``batch``, cross-entropy ignoring ``IGNORE``. Everything is drawn from
``seed``; one thread count and CPU kernels make it repeatable on one machine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from satgeo.atomic import atomic_path
from satgeo.errors import InputError
from satgeo.geo.classes import CLASS_NAMES
from satgeo.train.landcover import IGNORE, LandcoverPair, downsample_pair
from satgeo.train.pairs import random_crop

#: one image with its class mask (``IGNORE`` where unknown) and GSD; shared with the land-cover loader
Sample = LandcoverPair
#: ground metres per pixel the segmenter works at (Banepa's 0.13 m chips are averaged 4x4)
WORK_GSD = 0.5


@dataclass(frozen=True)
class SegmenterConfig:
    """The reference segmenter's size and training (also its cache key: every field counts)."""

    n_classes: int = 5  # mask classes it predicts
    width: int = 8  # channels of its first level
    scale: int = 4  # area-averaging factor to WORK_GSD (see ``scale_for``)
    crop: int = 96  # training crop side, px after downsampling
    batch: int = 8  # crops per Adam step
    steps: int = 400  # Adam steps
    lr: float = 2e-3  # Adam learning rate
    seed: int = 0  # crop sampling and initialisation


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class SegNet(nn.Module):
    """A 4-level U-Net; ``features`` gives the pooled encoder features used for KID."""

    LEVELS = 4

    def __init__(self, n_classes: int = 5, width: int = 16) -> None:
        super().__init__()
        chans = [width * 2**i for i in range(self.LEVELS)]
        self.down = nn.ModuleList([_block(3, chans[0])] + [_block(chans[i - 1], chans[i]) for i in range(1, self.LEVELS)])
        self.up = nn.ModuleList([_block(chans[i] + chans[i - 1], chans[i - 1]) for i in range(self.LEVELS - 1, 0, -1)])
        self.head = nn.Conv2d(chans[0], n_classes, 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encode(x)
        y = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], 1))
        return self.head(y)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) mean- and std-pooled features of the two deepest encoder levels."""
        feats = self.encode(x)[-2:]
        return torch.cat([t for f in feats for t in (f.mean((2, 3)), f.std((2, 3)))], 1)


def to_input(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() / 127.5 - 1.0


def at_scale(samples: Sequence[Sample], scale: int) -> list[Sample]:
    return list(samples) if scale == 1 else [downsample_pair(s, scale) for s in samples]


class CropSampler:
    """Seeded random crops (flips, 90-degree rotations) from images of any size; small ones are padded."""

    def __init__(self, samples: Sequence[Sample], crop: int, seed: int, weights: Sequence[float] | None = None) -> None:
        if not samples:
            raise InputError("no training images for the segmenter")
        self.samples = [self._pad(s, crop) for s in samples]
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.p = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)

    @staticmethod
    def _pad(s: Sample, crop: int) -> Sample:
        h, w = s.mask.shape
        ph, pw = max(0, crop - h), max(0, crop - w)
        if not (ph or pw):
            return s
        return Sample(s.name, np.pad(s.image, ((0, ph), (0, pw), (0, 0))),
                      np.pad(s.mask, ((0, ph), (0, pw)), constant_values=IGNORE), s.gsd)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        c, ims, ms = self.crop, [], []
        for _ in range(n):
            i = self.rng.integers(len(self.samples)) if self.p is None else self.rng.choice(len(self.samples), p=self.p)
            s = self.samples[int(i)]
            m, im = random_crop(self.rng, s.mask, s.image, c)
            ims.append(im)
            ms.append(m)
        return np.ascontiguousarray(np.stack(ims)), np.ascontiguousarray(np.stack(ms))


class Segmenter:
    """A trained ``SegNet`` with its config; predicts and embeds full images at their own size."""

    def __init__(self, net: SegNet, config: SegmenterConfig) -> None:
        self.net, self.config = net.eval(), config

    def _padded(self, image: np.ndarray) -> tuple[torch.Tensor, int, int]:
        m = 2 ** (SegNet.LEVELS - 1)
        h, w = image.shape[:2]
        ph, pw = (-h) % m, (-w) % m
        img = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else image
        return to_input(img[None]), h, w

    def predict(self, samples: Sequence[Sample]) -> list[np.ndarray]:
        """Class maps at the work scale, one per sample (compare with ``at_scale(samples)`` masks)."""
        out = []
        with torch.inference_mode():
            for s in at_scale(samples, self.config.scale):
                x, h, w = self._padded(s.image)
                out.append(self.net(x)[0, :, :h, :w].argmax(0).numpy().astype(np.uint8))
        return out

    def features(self, images: Sequence[np.ndarray], patch: int = 64) -> np.ndarray:
        """(N, D) features of every non-overlapping ``patch`` px tile (work scale) of the images."""
        rows = []
        with torch.inference_mode():
            for img in images:
                s = at_scale([Sample("", img, np.zeros(img.shape[:2], np.uint8), 1.0)], self.config.scale)[0].image
                h, w = (s.shape[0] // patch) * patch, (s.shape[1] // patch) * patch
                if not (h and w):
                    continue
                tiles = s[:h, :w].reshape(h // patch, patch, w // patch, patch, 3).transpose(0, 2, 1, 3, 4)
                rows.append(self.net.features(to_input(tiles.reshape(-1, patch, patch, 3))).numpy())
        if not rows:
            raise InputError(f"images are smaller than one {patch * self.config.scale} px feature patch")
        return np.concatenate(rows).astype(np.float64)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch threads (small nets on a busy CPU run fastest on one)."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def scale_for(gsd: float, work_gsd: float = WORK_GSD) -> int:
    """The integer downsampling that brings ``gsd`` closest to ``work_gsd`` (at least 1)."""
    return max(1, round(work_gsd / gsd)) if gsd > 0 else 1


def train_segmenter(samples: Sequence[Sample], config: SegmenterConfig = SegmenterConfig(),
                    weights: Sequence[float] | None = None) -> Segmenter:
    """Train a ``SegNet`` from scratch on ``samples`` (seeded, CPU); ``weights``: how often each sample is drawn."""
    torch.manual_seed(config.seed)
    net = SegNet(config.n_classes, config.width)
    sampler = CropSampler(at_scale(samples, config.scale), config.crop, config.seed, weights)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / config.steps)))
    net.train()
    for _ in range(config.steps):
        ims, ms = sampler.batch(config.batch)
        target = torch.from_numpy(ms.astype(np.int64))
        target[target >= config.n_classes] = -100  # IGNORE and unknown codes
        if bool((target == -100).all()):
            continue
        loss = F.cross_entropy(net(to_input(ims)), target, ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return Segmenter(net, config)


def samples_key(samples: Sequence[Sample], config: SegmenterConfig) -> str:
    """A hash of the training inputs (pixels, masks, config): the segmenter cache key."""
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for s in samples:
        h.update(s.name.encode())
        h.update(np.ascontiguousarray(s.image).tobytes())
        h.update(np.ascontiguousarray(s.mask).tobytes())
    return h.hexdigest()[:20]


def cached_segmenter(samples: Sequence[Sample], config: SegmenterConfig, cache_dir: str | Path | None) -> tuple[Segmenter, bool]:
    """(segmenter, loaded from cache?): trains once per distinct input and keeps the weights in ``cache_dir``."""
    from safetensors.torch import load_file, save_file

    path = Path(cache_dir) / f"segmenter-{samples_key(samples, config)}.safetensors" if cache_dir else None
    if path is not None and path.is_file():
        net = SegNet(config.n_classes, config.width)
        net.load_state_dict(load_file(str(path)))
        return Segmenter(net, config), True
    seg = train_segmenter(samples, config)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in seg.net.state_dict().items()}, str(tmp))
    return seg, False


def confusion(preds: Sequence[np.ndarray], masks: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """(n, n) counts [truth, prediction] over all pixels whose truth is a class < n (IGNORE skipped)."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    for p, m in zip(preds, masks):
        if p.shape != m.shape:
            raise ValueError(f"prediction {p.shape} and mask {m.shape} differ")
        keep = m < n_classes
        cm += np.bincount(m[keep].astype(np.int64) * n_classes + np.minimum(p[keep], n_classes - 1),
                          minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    return cm


def class_scores(cm: np.ndarray, names: Sequence[str] = CLASS_NAMES) -> dict:
    """Per-class IoU and F1 (``None`` for a class neither in the truth nor predicted), and their mean."""
    tp = np.diag(cm).astype(np.float64)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    iou, f1 = {}, {}
    for c in range(len(cm)):
        present = cm[c].sum() > 0
        denom = tp[c] + fp[c] + fn[c]
        iou[names[c]] = round(float(tp[c] / denom), 4) if present and denom else None
        f1[names[c]] = round(float(2 * tp[c] / (2 * tp[c] + fp[c] + fn[c])), 4) if present and denom else None
    vals = [v for v in iou.values() if v is not None]
    return {"iou": iou, "f1": f1, "miou": round(float(np.mean(vals)), 4) if vals else None}


def evaluate_segmenter(seg: Segmenter, samples: Sequence[Sample]) -> dict:
    """Per-class IoU/F1 of ``seg`` on ``samples`` (at the segmenter's work scale)."""
    truth = [s.mask for s in at_scale(samples, seg.config.scale)]
    return class_scores(confusion(seg.predict(samples), truth, seg.config.n_classes))
