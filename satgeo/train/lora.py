"""LoRA fine-tuning of a DiffusionSat/SD UNet's attention on image (+ metadata) shards.

Trains rank-r adapters on the UNet's attention projections (to_q, to_k, to_v, to_out.0)
with the frozen base otherwise; same objective as :mod:`satgeo.train.controlnet`. Output:

    OUT/model/lora/adapter.safetensors   the adapter tensors (peft names)
    OUT/model/satgeo.json                {"base": <base path>, "lora": {"rank", "alpha", "targets"}}

Loading such a folder for inference is :mod:`satgeo.models.lora` (``apply_lora``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from satgeo.extras import require
from satgeo.models.ds_config import LORA_TARGETS, LoraSpec
from satgeo.models.lora import ADAPTER_FILE, lora_config
from satgeo.train.controlnet import DiffusionTrainOptions, _fit, _start, _write_manifest


def train_lora(base: str | Path, shards, out_dir: str | Path, opts: DiffusionTrainOptions,
               progress: Callable[[int, float], None] | None = None) -> Path:
    get_peft_model_state_dict = require("peft").get_peft_model_state_dict
    from safetensors.torch import save_file

    run = _start(base, shards, opts)
    unet = run.pipe.unet
    unet.add_adapter(lora_config(opts.lora_rank))
    params = [p for n, p in unet.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    unet.train()

    def step() -> torch.Tensor:
        imgs, _, metas, caps = next(run.batches)
        noisy, t, ctx, md, target = run.obj.encode(imgs, metas, caps, run.rng)
        kw = {"metadata": md} if md is not None else {}
        pred = unet(noisy, t, ctx, return_dict=False, **kw)[0]
        return F.mse_loss(pred.float(), target.float())

    training = _fit(run, step, params, opts, progress)
    model = Path(out_dir) / "model"
    (model / ADAPTER_FILE).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(unet).items()}
    save_file(state, str(model / ADAPTER_FILE))
    _write_manifest(out_dir, {"base": str(run.base_root.resolve()), "family": "diffusionsat",
                              "lora": LoraSpec(opts.lora_rank, opts.lora_rank, LORA_TARGETS).to_json()}, training)
    return model
