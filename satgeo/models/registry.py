"""Finding and loading models by name or path.

A *family* (pix2pix, diffusionsat, controlnet) registers how to recognise a checkpoint
folder/file and how to load it into a ``Generator``. ``load_generator`` resolves a name
(a built-in entry such as the default pix2pix model, or a cached download under
``$SATGEO_HOME``) or a local path, then asks each family in turn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from satgeo.errors import ModelError
from satgeo.models.base import Generator

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Family:
    name: str
    detect: Callable[[Path], bool]  # does this path hold a checkpoint of this family?
    load: Callable[..., Generator]  # load(path, device=None, dtype=None) -> Generator


@dataclass(frozen=True)
class ModelEntry:
    """A model satgeo knows by name."""

    name: str
    family: str
    description: str
    path: Path | None = None  # shipped with satgeo (e.g. the default pix2pix model)
    url: str | None = None  # where `satgeo models pull` downloads it from
    sha256: str | None = None
    hub_id: str | None = None
    zenodo_record: str | None = None  # `pull` lists the record's files via Zenodo's API (md5 checked)
    license: str = ""
    get_it: str = ""  # one line telling users how to obtain the weights by hand
    window: int | None = None  # image size (px) the model was trained at; see models/ds_layout.py
    base: str | None = None  # base pipeline (name or path) a bare ControlNet runs over
    hub_files: tuple[str, ...] = ()  # `pull` fetches only these hub paths/patterns (diffusers folders)
    checksums: tuple[tuple[str, str], ...] = ()  # (path in the download, "sha256:<hex>") checked after `pull`
    condition: str | None = None  # conditioning the ControlNet expects (models/condition.py KNOWN_SPECS)


_FAMILIES: dict[str, Family] = {}
_ENTRIES: dict[str, ModelEntry] = {}
DEFAULT_MODEL = "pix2pix-banepa"
# Modules that register families/entries on import; imported lazily so `satgeo.geo` users never pay for torch.
FAMILY_MODULES = ("satgeo.models.pix2pix", "satgeo.models.diffusionsat", "satgeo.models.controlnet")


def register_family(family: Family) -> None:
    _FAMILIES[family.name] = family


def register_entry(entry: ModelEntry) -> None:
    _ENTRIES[entry.name] = entry


def _import_families() -> Iterator[None]:
    """Import the family modules one at a time (cheapest first), yielding after each.

    Callers stop as soon as what they look for is registered, so a pix2pix model never
    pays for importing diffusers.
    """
    import importlib

    for mod in FAMILY_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
        yield


def _load_family_modules() -> None:
    for _ in _import_families():
        pass


def satgeo_home() -> Path:
    return Path(os.environ.get("SATGEO_HOME", Path.home() / ".cache" / "satgeo"))


def entries() -> dict[str, ModelEntry]:
    _load_family_modules()
    return dict(_ENTRIES)


def families() -> dict[str, Family]:
    _load_family_modules()
    return dict(_FAMILIES)


def _match(name_or_path: str) -> tuple[Path, Family] | None:
    """The checkpoint for a name or path among the families registered so far, if any."""
    entry = _ENTRIES.get(name_or_path)
    if entry is not None and entry.family in _FAMILIES:
        path = entry.path or satgeo_home() / "models" / entry.name
        if not path.exists():
            how = entry.get_it or f"run `satgeo models pull {entry.name}` or pass --model with a local checkpoint folder"
            raise ModelError(f"model {entry.name!r} is not downloaded; {how}")
        return path, _FAMILIES[entry.family]
    path = Path(name_or_path).expanduser()
    if entry is None and path.exists():
        for family in _FAMILIES.values():
            if family.detect(path):
                return path, family
    return None


def resolve(name_or_path: str | None) -> tuple[Path, Family]:
    """The checkpoint path and family for a model name or a local path."""
    name_or_path = name_or_path or DEFAULT_MODEL
    for _ in _import_families():
        found = _match(name_or_path)
        if found is not None:
            return found
    if not Path(name_or_path).expanduser().exists():
        known = ", ".join(sorted(_ENTRIES)) or "none"
        raise ModelError(f"unknown model {name_or_path!r}: not a known name ({known}) nor an existing path")
    raise ModelError(
        f"{name_or_path} holds no checkpoint satgeo recognises (pix2pix, DiffusionSat or ControlNet layouts)"
    )


def load_generator(name_or_path: str | None = None, device: str | None = None,
                   dtype: torch.dtype | None = None) -> Generator:
    """Load a model into a ``Generator`` ready for the render engine."""
    path, family = resolve(name_or_path)
    return family.load(path, device=device, dtype=dtype)
