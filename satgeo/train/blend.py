"""Network interpolation of two pix2pix generators (Wang et al. 2018, ESRGAN, section 3.4).

Per-pixel losses (L1, SSIM) pull a generator toward the average photo: sharp footprints
and shadows, but grey. The GAN pulls it toward plausible colour and texture that need not
sit where the real photo has it, which costs SSIM. Two generators fine-tuned from one
parent, one on each side, stay in one basin, so blending their weights,
``(1 - alpha) * structure + alpha * texture``, walks that trade-off smoothly, without the
artefacts a single loss mix between the two tends to grow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from satgeo.errors import InputError
from satgeo.hashing import file_sha256

if TYPE_CHECKING:
    from satgeo.models.pix2pix import Pix2PixGenerator


def blend_pix2pix(structure: str | Path, texture: str | Path, alpha: float, out: str | Path,
                  name: str | None = None) -> Path:
    """Write ``(1 - alpha) * structure + alpha * texture`` as a pix2pix model folder; returns it.

    The card (and architecture) is the structure model's; ``extra.blend`` records both
    parents' weight hashes and ``alpha``."""
    from satgeo.models.pix2pix import load_pix2pix, save_pix2pix

    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha must be between 0 and 1, got {alpha}")
    a = load_pix2pix(structure, device="cpu", dtype=torch.float32)
    b = load_pix2pix(texture, device="cpu", dtype=torch.float32)
    arch = lambda c: (c.ngf, c.num_downs, c.norm, c.input_nc, c.output_nc, c.encoding, c.classes)  # noqa: E731
    if arch(a.config) != arch(b.config):
        raise InputError(f"{structure} and {texture} have different architectures; only models fine-tuned "
                         "from one parent can be blended")
    sb = b.net.state_dict()
    mixed = {k: torch.lerp(v, sb[k], alpha) if v.is_floating_point() else v for k, v in a.net.state_dict().items()}
    parents = {"structure": _describe(a), "texture": _describe(b), "alpha": alpha}
    a.net.load_state_dict(mixed)
    config = a.config
    if name:
        config.name = name
    config.extra = {**config.extra, "blend": parents}
    return save_pix2pix(a.net, config, out)


def _describe(gen: Pix2PixGenerator) -> dict:
    path = gen.weights_path
    return {"name": gen.config.name, "sha256": file_sha256(path) if path is not None else gen.model_hash}
