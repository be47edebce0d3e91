"""Inference-side LoRA: load a satgeo LoRA fine-tune's adapter into a UNet and merge it.

A LoRA model folder holds ``lora/adapter.safetensors`` (peft names) and a ``satgeo.json``
with ``"base"`` (the pipeline it adapts) and ``"lora"`` (:class:`~satgeo.models.ds_config.LoraSpec`).
Training (:mod:`satgeo.train.lora`) writes such folders with the same ``lora_config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from satgeo.errors import ModelError
from satgeo.extras import require
from satgeo.models.ds_config import LORA_TARGETS, LoraSpec

ADAPTER_FILE = Path("lora") / "adapter.safetensors"


def lora_config(rank: int, alpha: float | None = None, targets: Sequence[str] = LORA_TARGETS) -> Any:
    """The peft ``LoraConfig`` of a satgeo adapter (Gaussian init, attention projections)."""
    LoraConfig = require("peft").LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=list(targets), init_lora_weights="gaussian")


def apply_lora(unet: Any, folder: Path, spec: LoraSpec) -> None:
    """Load ``folder/lora/adapter.safetensors`` into ``unet`` (strictly) and merge it into the weights."""
    set_peft_model_state_dict = require("peft").set_peft_model_state_dict
    from safetensors.torch import load_file

    f = folder / ADAPTER_FILE
    if not f.exists():
        raise ModelError(f"{folder} names a LoRA but has no {ADAPTER_FILE}")
    unet.add_adapter(lora_config(spec.rank, spec.alpha, spec.targets))
    result = set_peft_model_state_dict(unet, load_file(str(f)))
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ModelError(f"{f} does not fit this UNet: unexpected {unexpected[0]} (trained on another base?)")
    unet.fuse_lora()
    unet.unload_lora()
