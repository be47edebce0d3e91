"""FID, LPIPS and CLIP score: computed only when the user points at the standard weight files.

satgeo downloads nothing. Accepted files:

* ``--fid-weights``: a TorchScript Inception feature extractor called as ``net(uint8 NCHW,
  return_features=True)`` -> (N, 2048), the interface of NVIDIA's ``inception-2015-12-05.pt``
  (StyleGAN2-ADA metrics; the TF-Inception port FID is defined with). A module taking only
  the image is accepted too.
* ``--lpips-weights``: a TorchScript VGG16 called as ``net(uint8 NCHW, resize_images=False,
  return_lpips=True)`` -> normalised features whose squared distance is LPIPS (NVIDIA's ``vgg16.pt``).
* ``--clip-model``: a Hugging Face CLIP folder (``CLIPModel`` + its tokenizer); CLIP score =
  100 x max(cos(image, prompt), 0), averaged (Hessel et al. 2021).

Images go in as 256 px tiles of the chips. FID from a few dozen tiles is biased upwards and
noisy; it is only comparable between models scored in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from satgeo.errors import ModelError

TILE = 256
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _tiles(images: Sequence[np.ndarray], tile: int = TILE) -> torch.Tensor:
    out = []
    for img in images:
        for r in range(0, img.shape[0] - tile + 1, tile):
            for c in range(0, img.shape[1] - tile + 1, tile):
                out.append(img[r:r + tile, c:c + tile])
    if not out:
        out = [np.asarray(img) for img in images]  # small images: whole
    return torch.from_numpy(np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2)))


def _load_script(path: str | Path, what: str) -> torch.jit.ScriptModule:
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001 - any failure means the file is not what the option needs
        raise ModelError(f"{what} {path} does not load as a TorchScript module ({type(exc).__name__}); "
                         f"give the standard file (see docs/eval.md)") from None


_T = TypeVar("_T")


def _given(value: _T | None, option: str) -> _T:
    """``value``, which its option loaded; calling a metric whose option was not given is a programming error."""
    if value is None:
        raise ModelError(f"this metric needs {option}")
    return value


def _projected(out: Any) -> torch.Tensor:
    """transformers < 5 returns the projected embeddings; 5.x returns an output whose pooler_output holds them."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), the trace term via symmetric eigenproblems."""
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(half @ sb @ half), 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * cross)


@dataclass
class ExtraMetrics:
    fid_net: torch.jit.ScriptModule | None = None
    lpips_net: torch.jit.ScriptModule | None = None
    clip: tuple[Any, Any] | None = None  # (transformers CLIPModel, tokenizer)
    prompt: str = ""

    @classmethod
    def load(cls, fid: str | None, lpips: str | None, clip: str | None, prompt: str) -> ExtraMetrics:
        out = cls(prompt=prompt)
        if fid:
            out.fid_net = _load_script(fid, "--fid-weights")
        if lpips:
            out.lpips_net = _load_script(lpips, "--lpips-weights")
        if clip:
            from transformers import AutoTokenizer, CLIPModel

            try:
                out.clip = (CLIPModel.from_pretrained(clip).eval(), AutoTokenizer.from_pretrained(clip))
            except Exception as exc:  # noqa: BLE001
                raise ModelError(f"--clip-model {clip} is not a Hugging Face CLIP folder ({type(exc).__name__})") from None
        return out

    def _fid_features(self, x: torch.Tensor) -> np.ndarray:
        net = _given(self.fid_net, "--fid-weights")
        with torch.inference_mode():
            try:
                f = net(x, return_features=True)
            except (RuntimeError, TypeError):
                f = net(x)
        return f.float().reshape(len(x), -1).numpy().astype(np.float64)

    def _lpips(self, a: torch.Tensor, b: torch.Tensor) -> float:
        net = _given(self.lpips_net, "--lpips-weights")
        with torch.inference_mode():
            fa = net(a, resize_images=False, return_lpips=True)
            fb = net(b, resize_images=False, return_lpips=True)
        return float(((fa - fb) ** 2).sum(1).mean())

    def clip_score(self, images: Sequence[np.ndarray]) -> float:
        model, tok = _given(self.clip, "--clip-model")
        size = model.config.vision_config.image_size
        x = _tiles(images).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
        x = (x - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
        text = tok([self.prompt], padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            im = _projected(model.get_image_features(pixel_values=x))
            tx = _projected(model.get_text_features(**text))
        cos = torch.nn.functional.cosine_similarity(im, tx.expand_as(im), dim=1)
        return float(100 * cos.clamp(min=0).mean())

    def score(self, real: Sequence[np.ndarray], generated: Sequence[np.ndarray]) -> dict:
        out: dict = {}
        if self.fid_net is not None:
            out["fid"] = round(frechet_distance(self._fid_features(_tiles(real)), self._fid_features(_tiles(generated))), 4)
        if self.lpips_net is not None:
            out["lpips"] = round(self._lpips(_tiles(real), _tiles(generated)), 4)
        if self.clip is not None:
            out["clip_score"] = round(self.clip_score(generated), 3)
            out["clip_score_real"] = round(self.clip_score(real), 3)
        return out
