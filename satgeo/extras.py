"""Optional dependencies, each installed by an extra of the package.

``require("peft")`` imports an optional module or raises a one-line ``MissingExtra`` that
names the extra to install; the CLI prints it as ``error: ...`` and exits 2.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from satgeo.errors import SatgeoError

#: module -> (extra, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "peft": ("train", "LoRA training and LoRA models"),
    "webdataset": ("train", "reading webdataset shards (satgeo train controlnet|lora)"),
    "ray": ("ray", "--engine ray"),
}


class MissingExtra(SatgeoError):
    """An optional dependency is not installed."""


def install_hint(extra: str) -> str:
    return f"pip install -c constraints.txt -e '.[{extra}]' (or pip install 'satgeo[{extra}]')"


def require(module: str) -> ModuleType:
    """Import ``module`` (a key of EXTRAS, or a submodule of one) or raise MissingExtra."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra, what = EXTRAS[top]
        missing = exc.name or top
        raise MissingExtra(f"{what} needs {missing}, which is not installed: {install_hint(extra)}") from None
