"""Fine-tuning on image + footprint pairs: a ControlNet over a frozen DiffusionSat/SD base.

The loop is the standard latent-diffusion objective: encode the image with the frozen VAE,
add noise at a random timestep (the base's noise schedule), predict it (epsilon or v, from
the scheduler config) with the frozen UNet steered by the ControlNet, MSE. Captions and
metadata are dropped (to "" and zeros) with probability ``drop`` so classifier-free
guidance keeps working. The result is a model folder the registry loads:

    OUT/model/controlnet/        the trained ControlNet (diffusers layout)
    OUT/model/satgeo.json        {"base": <base path>, "conditioning": <style>, ...}
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from satgeo.atomic import write_text
from satgeo.errors import InputError
from satgeo.models.ds_config import CONFIG_FILE, read_satgeo_config

if TYPE_CHECKING:
    from satgeo.models.ds_pipeline import DiffusionSatPipeline
    from satgeo.train.shards import Sample


@dataclass
class DiffusionTrainOptions:
    steps: int = 1000
    batch: int = 2
    lr: float = 1e-5
    size: int | None = None  # training crop (px); default the model window
    drop: float = 0.1
    seed: int = 0
    conditioning: str = "satgeo-mask"
    variant: str = "diffusionsat"
    device: str | None = None
    lora_rank: int = 8


#: one training batch: image crops, their mask crops (None without masks), raw metadata, captions
Batch = tuple[list[np.ndarray], list["np.ndarray | None"], list[list[float | None]], list[str]]


def _batches(samples: Sequence[Sample], opts: DiffusionTrainOptions, size: int,
             rng: random.Random) -> Iterator[Batch]:
    while True:
        picks = [rng.randrange(len(samples)) for _ in range(opts.batch)]
        imgs: list[np.ndarray] = []
        masks: list[np.ndarray | None] = []
        metas: list[list[float | None]] = []
        caps: list[str] = []
        for i in picks:
            s = samples[i]
            h, w = s.image.shape[:2]
            if h < size or w < size:
                raise InputError(f"sample {s.key} is {w}x{h} px, smaller than the training size {size}")
            r, c = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
            imgs.append(s.image[r : r + size, c : c + size])
            masks.append(s.mask[r : r + size, c : c + size] if s.mask is not None else None)
            metas.append(s.raw_metadata())
            caps.append(s.metadata.get("caption") or "a fmow satellite image")
        yield imgs, masks, metas, caps


def _needs(mask: np.ndarray | None) -> np.ndarray:
    """A sample's mask; ``load_samples(need_mask=True)`` has refused samples without one."""
    if mask is None:
        raise InputError("a ControlNet needs a mask with every sample")
    return mask


class _Objective:
    """Shared pieces of the ControlNet and LoRA loops."""

    def __init__(self, pipe: DiffusionSatPipeline, opts: DiffusionTrainOptions) -> None:
        from diffusers import DDPMScheduler

        self.pipe, self.opts = pipe, opts
        self.noise_sched = DDPMScheduler.from_config({k: v for k, v in pipe.scheduler_config.items() if k != "_class_name"})
        self.gen = torch.Generator("cpu").manual_seed(opts.seed)

    def encode(self, imgs, metas, caps, rng: random.Random):
        from satgeo.models.ds_metadata import normalize_metadata

        p = self.pipe
        dev = p.plan.device
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(dev)
        with torch.no_grad():
            lat = p.vae.encode(x).latent_dist.sample(self.gen.manual_seed(rng.randrange(2**31)) if dev.type == "cpu" else None)
            lat = lat * p.vae.config.scaling_factor
            caps = ["" if rng.random() < self.opts.drop else c for c in caps]
            ctx = p.encode_prompts(caps).float().clone()  # a normal tensor, usable in autograd
        md = None
        if p.num_metadata:
            rows = [[0.0] * 7 if rng.random() < self.opts.drop else normalize_metadata(m) for m in metas]
            md = torch.tensor(rows, dtype=torch.float32, device=dev)
        noise = torch.randn(lat.shape, generator=self.gen).to(dev)
        t = torch.randint(0, self.noise_sched.config.num_train_timesteps, (lat.shape[0],), generator=self.gen).to(dev)
        noisy = self.noise_sched.add_noise(lat, noise, t)
        if self.noise_sched.config.prediction_type == "v_prediction":
            target = self.noise_sched.get_velocity(lat, noise, t)
        else:
            target = noise
        return noisy, t, ctx, md, target


@dataclass
class _Run:
    """What both fine-tuning loops set up the same way: the frozen base, the data, the objective."""

    base_root: Path
    pipe: DiffusionSatPipeline
    size: int
    obj: _Objective
    rng: random.Random
    batches: Iterator[Batch]


def _start(base: str | Path, shards, opts: DiffusionTrainOptions, need_mask: bool = False) -> _Run:
    from satgeo.models.ds_generator import model_window
    from satgeo.models.ds_layout import pipeline_root
    from satgeo.models.ds_pipeline import DiffusionSatPipeline
    from satgeo.train.shards import load_samples

    base_root = pipeline_root(Path(base))
    if base_root is None:
        raise InputError(f"{base} is not a DiffusionSat/SD pipeline folder")
    samples = load_samples(shards, need_mask=need_mask)
    torch.manual_seed(opts.seed)
    pipe = DiffusionSatPipeline.from_folder(base_root, device=opts.device, dtype=torch.float32)
    pipe.plan.channels_last = False
    size = opts.size or model_window(pipe, read_satgeo_config(base_root))[0]
    rng = random.Random(opts.seed)
    return _Run(base_root, pipe, size, _Objective(pipe, opts), rng, _batches(samples, opts, size, rng))


def _fit(run: _Run, step_fn: Callable[[], torch.Tensor], params, opts: DiffusionTrainOptions,
         progress: Callable[[int, float], None] | None) -> dict:
    """AdamW over ``params`` for ``opts.steps`` steps of ``step_fn`` (which returns the loss);
    returns the manifest's "training" record."""
    optim = torch.optim.AdamW(params, lr=opts.lr)
    t0 = time.time()
    losses = []
    for i in range(opts.steps):
        loss = step_fn()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
        if progress:
            progress(i + 1, losses[-1])
    return {"steps": opts.steps, "batch": opts.batch, "lr": opts.lr, "size": run.size,
            "seconds": round(time.time() - t0, 1), "final_loss": losses[-1] if losses else None, "losses": losses}


def _write_manifest(out_dir: str | Path, manifest: dict, training: dict) -> None:
    losses = training.pop("losses")
    write_text(Path(out_dir) / "model" / CONFIG_FILE, json.dumps({**manifest, "training": training}, indent=1))
    write_text(Path(out_dir) / "losses.json", json.dumps(losses))


def train_controlnet(base: str | Path, shards, out_dir: str | Path, opts: DiffusionTrainOptions,
                     progress: Callable[[int, float], None] | None = None) -> Path:
    """Train a ControlNet on ``shards`` over the frozen ``base`` pipeline; returns OUT/model."""
    from satgeo.models.conditioning import render_conditioning
    from satgeo.models.controlnet_net import controlnet_from_unet

    run = _start(base, shards, opts, need_mask=True)
    pipe = run.pipe
    cn = controlnet_from_unet(pipe.unet, variant=opts.variant).to(pipe.plan.device).train().requires_grad_(True)

    def step() -> torch.Tensor:
        imgs, masks, metas, caps = next(run.batches)
        noisy, t, ctx, md, target = run.obj.encode(imgs, metas, caps, run.rng)
        images = np.stack([render_conditioning(_needs(m), opts.conditioning) for m in masks])
        cond = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).to(noisy.device)
        kw = {"metadata": md, "cond_metadata": md} if cn.metadata_embedding is not None else {}
        down, mid = cn(noisy, t, ctx, cond, return_dict=False, **kw)
        ukw = {"metadata": md} if md is not None else {}
        pred = pipe.unet(noisy, t, ctx, down_block_additional_residuals=down, mid_block_additional_residual=mid,
                         return_dict=False, **ukw)[0]
        return F.mse_loss(pred.float(), target.float())

    training = _fit(run, step, cn.parameters(), opts, progress)
    model = Path(out_dir) / "model"
    cn.eval().save_pretrained(model / "controlnet", safe_serialization=True)
    _write_manifest(out_dir, {"base": str(run.base_root.resolve()), "conditioning": opts.conditioning,
                              "family": "controlnet"}, training)
    return model
