"""The torch device the server generates on: checked once, at startup, so a bad ``--device`` never reaches a job.

torch is imported only when a device is named; without one each model family picks its own (CUDA when available).
"""

from __future__ import annotations

from satgeo.errors import InputError

KINDS = ("cpu", "cuda", "mps")


def check_device(name: str) -> str:
    """``name`` as torch spells it (``cuda:1``, ``cpu``) when this machine can generate on it, else a one-line InputError."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {name!r} is not a torch device; use cpu, cuda, cuda:N or mps") from None
    if device.type not in KINDS:
        raise InputError(f"--device {name!r}: satgeo generates on cpu, cuda[:N] or mps")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device {name!r}: this machine has no usable CUDA device; use --device cpu")
        if device.index is not None and device.index >= count:
            raise InputError(f"--device {name!r}: this machine has {count} CUDA device(s), numbered 0..{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {name!r}: MPS is not available on this machine; use --device cpu")
    return str(device)
