"""How a diffusion pipeline runs on this machine (dtype, memory format, compile, batch) and its schedulers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from satgeo.errors import InputError, ModelError
from satgeo.models.ds_config import SCHEDULERS


@dataclass
class SpeedPlan:
    """How the pipeline runs: dtype of the heavy modules, memory format, compile, batch."""

    device: torch.device
    dtype: torch.dtype
    channels_last: bool = True
    compile: bool = False
    max_batch: int = 8
    notes: list[str] = field(default_factory=list)


def cpu_has_amx() -> bool:
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - older torch
        return False
    return "AMX" in cap.upper() or _cpuinfo_has("amx_bf16")


def _cpuinfo_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def plan_speed(device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> SpeedPlan:
    """bf16 on AMX CPUs, fp16 on CUDA (bf16 where supported), fp32 elsewhere; channels_last everywhere."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if dtype is None:
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif device.type == "cpu" and (cpu_has_amx() or _cpuinfo_has("avx512_bf16")):
            dtype = torch.bfloat16
        else:
            dtype = torch.float32
    return SpeedPlan(device=device, dtype=dtype, compile=device.type == "cuda", max_batch=16 if device.type == "cuda" else 8)


def make_scheduler(config: dict[str, Any], kind: str | None = None) -> Any:
    """The checkpoint's scheduler, or DPM-Solver++ (2M) built from the same noise schedule."""
    import diffusers

    config = {k: v for k, v in config.items() if not k.startswith("_") or k == "_class_name"}
    if kind in (None, "", "default"):
        name = config.get("_class_name", "DDIMScheduler")
        cls = getattr(diffusers, name, None)
        if cls is None:
            raise ModelError(f"scheduler {name!r} is not known to diffusers {diffusers.__version__}")
        return cls.from_config(config)
    if kind in ("dpm++", "dpmsolver++", "dpm"):
        return diffusers.DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2
        )
    if kind == "ddim":
        return diffusers.DDIMScheduler.from_config(config)
    raise InputError(f"unknown scheduler {kind!r}; use {', '.join(SCHEDULERS)}")
