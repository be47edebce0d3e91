"""Seamless latent mosaics (MultiDiffusion-style) for regions larger than one model window.

A region is covered by overlapping windows of the model's native size. At every denoising
step each window's guided model output is computed (many windows per UNet call) and the
outputs are blended with feathered weights into one region-wide prediction; one scheduler
step then advances the whole region latent. Blending the *model output* rather than the
per-window updated latents is exactly MultiDiffusion for schedulers whose update is linear
in the prediction (DDIM, DPM-Solver++), and lets multistep schedulers keep one state.

Noise is a function of global latent lattice coordinates only: the lattice is cut into
fixed blocks, each drawn on the CPU from a generator seeded by a hash of (seed, block
row, block col). Any region, in any order, sees the same noise where it overlaps another.
Window outputs are accumulated in a fixed (row, col) order, so the result does not depend
on the order windows are batched in.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from satgeo.errors import Cancelled
from satgeo.models.ds_speed import make_scheduler

if TYPE_CHECKING:
    from satgeo.models.ds_pipeline import DiffusionSatPipeline

NOISE_BLOCK = 64  # latent pixels per side of one noise block
_U64 = (1 << 64) - 1


def block_seed(seed: int, row: int, col: int, salt: int = 0) -> int:
    digest = hashlib.blake2b(struct.pack("<QqqQ", seed & _U64, row, col, salt & _U64), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def hash_text(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "little")


def lattice_noise(
    seed: int, row0: int, col0: int, height: int, width: int, channels: int = 4, salt: int = 0
) -> torch.Tensor:
    """(channels, height, width) float32 noise for latent lattice cells [row0, row0+height) x [col0, ...).

    ``salt`` distinguishes lattices (CRS, GSD) that share coordinates.
    """
    out = torch.empty(channels, height, width)
    b = NOISE_BLOCK
    for br in range(row0 // b, (row0 + height - 1) // b + 1):
        for bc in range(col0 // b, (col0 + width - 1) // b + 1):
            g = torch.Generator("cpu").manual_seed(block_seed(seed, br, bc, salt))
            block = torch.randn(channels, b, b, generator=g)
            r0, r1 = max(row0, br * b), min(row0 + height, (br + 1) * b)
            c0, c1 = max(col0, bc * b), min(col0 + width, (bc + 1) * b)
            out[:, r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = block[:, r0 - br * b : r1 - br * b, c0 - bc * b : c1 - bc * b]
    return out


def window_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window offsets covering [0, length) with windows of ``tile`` and at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    n = -(-(length - tile) // stride) + 1
    # spread the windows evenly so every overlap is at least `overlap`
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def feather(size: int, device: torch.device | None = None) -> torch.Tensor:
    """1-D weights rising linearly from the edges (never zero)."""
    i = torch.arange(size, dtype=torch.float32, device=device)
    return torch.minimum(i + 1, size - i) / ((size + 1) / 2)


@dataclass(frozen=True)
class Window:
    row: int  # latent offsets inside the region
    col: int
    size: int


def plan_windows(h: int, w: int, tile: int, overlap: int) -> list[Window]:
    return [Window(r, c, tile) for r in window_starts(h, tile, overlap) for c in window_starts(w, tile, overlap)]


def denoise_region(
    pipe: DiffusionSatPipeline,
    noise: torch.Tensor,
    windows: Sequence[Window],
    embeds: Callable[[Sequence[int]], torch.Tensor],
    metadata: torch.Tensor | None,
    steps: int,
    guidance: float,
    scheduler: str | None = None,
    control: torch.Tensor | None = None,
    control_scale: float = 1.0,
    cond_metadata: torch.Tensor | None = None,
    order: Sequence[int] | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """MultiDiffusion over ``windows`` of the region latent ``noise`` (1,C,h,w) -> final latent.

    ``embeds(idx)`` gives text embeddings for window indices; ``metadata`` is (n_windows, 7)
    normalized or None; ``control`` is the region's conditioning image, (1,C,H,W) or (1,C,T,H,W) for a
    3D ControlNet, at any integer fraction of the image resolution (the fMoW super-resolution
    ControlNet takes it at half). ``cond_metadata`` (n_windows, 7[, T]) is the conditioning images'
    metadata per window (default: ``metadata``). ``order`` permutes the batching order (results are
    identical by construction).
    """
    device = pipe.plan.device
    sched = make_scheduler(pipe.scheduler_config, scheduler)
    sched.set_timesteps(steps, device=device)
    latents = noise.to(device, torch.float32) * sched.init_noise_sigma
    order = list(order) if order is not None else list(range(len(windows)))
    weights = []
    for win in windows:
        f = feather(win.size, device)
        weights.append(f[:, None] * f[None, :])
    total = torch.zeros(latents.shape[-2:], device=device)
    for win, wt in zip(windows, weights):
        total[win.row : win.row + win.size, win.col : win.col + win.size] += wt
    uncond = pipe.encode_prompts([""])
    if cond_metadata is None:
        cond_metadata = metadata
    # conditioning pixels per latent pixel (vae scale / conditioning scale)
    cps = control.shape[-1] // latents.shape[-1] if control is not None else 1
    if control is not None and control.shape[-1] != latents.shape[-1] * cps:
        raise ValueError(f"conditioning width {control.shape[-1]} is not a multiple of the latent width {latents.shape[-1]}")
    batch = max(1, pipe.plan.max_batch // (2 if guidance > 1 else 1))
    n_steps = len(sched.timesteps)
    with pipe.autocast():
        for step, t in enumerate(sched.timesteps):
            if cancel is not None and cancel.is_set():
                raise Cancelled("generation cancelled")
            x_all = sched.scale_model_input(latents, t)
            outs: dict[int, torch.Tensor] = {}
            for b0 in range(0, len(order), batch):
                idx = order[b0 : b0 + batch]
                x = torch.cat([x_all[:, :, w.row : w.row + w.size, w.col : w.col + w.size] for w in (windows[i] for i in idx)])
                md = metadata[idx] if metadata is not None else None
                ctl = None
                if control is not None:
                    ctl = torch.cat(
                        [
                            control[..., w.row * cps : (w.row + w.size) * cps, w.col * cps : (w.col + w.size) * cps]
                            for w in (windows[i] for i in idx)
                        ]
                    )
                eps = pipe.predict(
                    x, t, embeds(idx), md, guidance, uncond, control=ctl,
                    cond_metadata=cond_metadata[idx] if cond_metadata is not None else None, control_scale=control_scale,
                )
                for j, i in enumerate(idx):
                    outs[i] = eps[j]
            blended = torch.zeros_like(latents[0])
            for i, (win, wt) in enumerate(zip(windows, weights)):  # fixed order: order-independent sums
                blended[:, win.row : win.row + win.size, win.col : win.col + win.size] += outs[i] * wt
            blended = (blended / total)[None]
            latents = sched.step(blended, t, latents, return_dict=False)[0]
            if progress is not None:
                progress((step + 1) / n_steps)
    return latents


def decode_tiled(pipe: DiffusionSatPipeline, latents: torch.Tensor, tile: int = 96, overlap: int = 16) -> torch.Tensor:
    """Decode (1,4,h,w) latents to (3,H,W) in [0,1]; large latents in feathered overlapping tiles.

    Tiles share ``overlap`` latent pixels and are cross-faded with linear ramps. Tiles are
    large (default 96 latents = 768 px), so each tile's GroupNorm statistics (the usual source
    of colour casts between tiles) are close to the whole image's; the test suite checks
    per-tile mean colour against a full decode.
    """
    _, _, h, w = latents.shape
    if h <= tile and w <= tile:
        return pipe.decode(latents)[0]
    vs = pipe.vae_scale
    out = torch.zeros(3, h * vs, w * vs)
    total = torch.zeros(h * vs, w * vs)
    for r in window_starts(h, min(tile, h), overlap):
        for c in window_starts(w, min(tile, w), overlap):
            th, tw = min(tile, h), min(tile, w)
            img = pipe.decode(latents[:, :, r : r + th, c : c + tw])[0].cpu()
            wt = feather(th * vs)[:, None] * feather(tw * vs)[None, :]
            out[:, r * vs : (r + th) * vs, c * vs : (c + tw) * vs] += img * wt
            total[r * vs : (r + th) * vs, c * vs : (c + tw) * vs] += wt
    return out / total


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3,H,W) [0,1] -> (H,W,3) uint8."""
    return (img.permute(1, 2, 0).float().cpu().numpy() * 255 + 0.5).astype(np.uint8)
