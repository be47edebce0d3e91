"""LoRA fine-tuning of a DiffusionSat/SD UNet's attention on image (+ metadata) shards.

Trains rank-r adapters on the UNet's attention projections (to_q, to_k, to_v, to_out.0)
with the frozen base otherwise; same objective as :mod:`satgeo.train.controlnet`. Output:

    OUT/model/lora/adapter.safetensors   the adapter tensors (peft names)
    OUT/model/satgeo.json                {"base": <base path>, "lora": {"rank", "alpha", "targets"}}

``apply_lora`` loads such a folder's adapter into a pipeline's UNet and merges it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from satgeo.errors import InputError, ModelError
from satgeo.train.controlnet import DiffusionTrainOptions, _batches, _loop, _Objective

TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def lora_config(rank: int, alpha: float | None = None, targets=TARGETS):
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=list(targets), init_lora_weights="gaussian")


def train_lora(base: str | Path, shards, out_dir: str | Path, opts: DiffusionTrainOptions,
               progress: Callable[[int, float], None] | None = None) -> Path:
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    from satgeo.models.diffusionsat import DiffusionSatPipeline, model_window, pipeline_root, read_card_overrides
    from satgeo.train.shards import load_samples

    base_root = pipeline_root(Path(base))
    if base_root is None:
        raise InputError(f"{base} is not a DiffusionSat/SD pipeline folder")
    samples = load_samples(shards)
    torch.manual_seed(opts.seed)
    pipe = DiffusionSatPipeline.from_folder(base_root, device=opts.device, dtype=torch.float32)
    pipe.plan.channels_last = False
    size = opts.size or model_window(pipe, read_card_overrides(base_root))[0]
    unet = pipe.unet
    unet.add_adapter(lora_config(opts.lora_rank))
    params = [p for n, p in unet.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    unet.train()
    optim = torch.optim.AdamW(params, lr=opts.lr)
    obj = _Objective(pipe, opts)
    rng = random.Random(opts.seed)
    batches = _batches(samples, opts, size, rng)

    def step(i: int) -> float:
        imgs, _, metas, caps = next(batches)
        noisy, t, ctx, md, target = obj.encode(imgs, metas, caps, rng)
        kw = {"metadata": md} if md is not None else {}
        pred = unet(noisy, t, ctx, return_dict=False, **kw)[0]
        loss = F.mse_loss(pred.float(), target.float())
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return float(loss.detach())

    t0 = time.time()
    losses = _loop(step, opts.steps, progress)
    model = Path(out_dir) / "model"
    (model / "lora").mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(unet).items()}
    save_file(state, str(model / "lora" / "adapter.safetensors"))
    manifest = {"base": str(base_root.resolve()), "family": "diffusionsat",
                "lora": {"rank": opts.lora_rank, "alpha": opts.lora_rank, "targets": TARGETS},
                "training": {"steps": opts.steps, "batch": opts.batch, "lr": opts.lr, "size": size,
                             "seconds": round(time.time() - t0, 1), "final_loss": losses[-1] if losses else None}}
    (model / "satgeo.json").write_text(json.dumps(manifest, indent=1))
    (Path(out_dir) / "losses.json").write_text(json.dumps(losses))
    return model


def apply_lora(unet, folder: Path, spec: dict) -> None:
    """Load ``folder/lora/adapter.safetensors`` into ``unet`` (strictly) and merge it into the weights."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    f = folder / "lora" / "adapter.safetensors"
    if not f.exists():
        raise ModelError(f"{folder} names a LoRA but has no lora/adapter.safetensors")
    unet.add_adapter(lora_config(int(spec["rank"]), float(spec.get("alpha", spec["rank"])), spec.get("targets", TARGETS)))
    result = set_peft_model_state_dict(unet, load_file(str(f)))
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ModelError(f"{f} does not fit this UNet: unexpected {unexpected[0]} (trained on another base?)")
    unet.fuse_lora()
    unet.unload_lora()
