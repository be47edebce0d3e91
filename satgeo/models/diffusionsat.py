"""The DiffusionSat family: caption + 7 metadata numbers -> satellite image, on current diffusers.

Checkpoint layouts understood (see docs/diffusion.md):

* DiffusionSat's release: a diffusers pipeline folder (``model_index.json``, ``vae/``,
  ``text_encoder/``, ``tokenizer/``, ``scheduler/``) with the trained SatUNet in
  ``checkpoint-<N>/unet`` (the highest N wins) or in ``unet/``;
* the same folder packed in a zip (Zenodo records 13751498 / 13756199), unpacked once
  into the cache by :mod:`satgeo.models.hub`;
* a satgeo LoRA fine-tune (``lora/`` + a ``satgeo.json`` naming its base);
* hub ids and cached names resolve to such folders through the registry.

The pieces live in their own modules (pipeline, generator, metadata, layout, satgeo.json);
this module loads a folder into a generator and registers the family.
"""

from __future__ import annotations

from pathlib import Path

import torch

from satgeo.errors import ModelError
from satgeo.models.ds_config import read_satgeo_config
from satgeo.models.ds_generator import DiffusionSatGenerator, make_card
from satgeo.models.ds_layout import (  # noqa: F401 - find_unet_dir re-exported: the family's public names
    find_unet_dir,
    is_diffusionsat_folder,
    pipeline_root,
    training_window,
)
from satgeo.models.ds_metadata import check_metadata_range, normalize_metadata  # noqa: F401 - re-exported
from satgeo.models.ds_pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, DiffusionSatPipeline
from satgeo.models.ds_speed import plan_speed  # noqa: F401 - re-exported


def _lora_folder(path: Path) -> bool:
    return path.is_dir() and (path / "lora").is_dir() and read_satgeo_config(path).lora is not None


def load(path: str | Path, device: str | None = None, dtype: torch.dtype | None = None) -> DiffusionSatGenerator:
    from satgeo.models.hub import materialize

    folder = materialize(Path(path))
    if _lora_folder(folder):  # a LoRA fine-tune: satgeo.json names the base pipeline
        from satgeo.models.registry import resolve

        base_name = read_satgeo_config(folder).base
        if base_name is None:
            raise ModelError(f"{folder / 'satgeo.json'} names a LoRA but no \"base\" pipeline")
        base = pipeline_root(resolve(base_name)[0])
        if base is None:
            raise ModelError(f"base {base_name!r} of {folder} is not a pipeline folder")
        pipe = DiffusionSatPipeline.from_folder(base, device=device, dtype=dtype, lora_from=folder)
        window = training_window([folder, base], dict(pipe.unet.config), pipe.vae_scale)[0]
        base_cfg = read_satgeo_config(base)
        return DiffusionSatGenerator(pipe, make_card(base, pipe, "diffusionsat", base_cfg, name=folder.name,
                                                     window=window), window=window, config=base_cfg)
    root = pipeline_root(folder)
    if root is None:
        raise ModelError(f"{path} is not a DiffusionSat pipeline folder")
    pipe = DiffusionSatPipeline.from_folder(root, device=device, dtype=dtype)
    window = training_window(_ancestry(Path(path), root), dict(pipe.unet.config), pipe.vae_scale)[0]
    cfg = read_satgeo_config(root)
    return DiffusionSatGenerator(pipe, make_card(root, pipe, "diffusionsat", cfg, window=window), window=window,
                                 scheduler=cfg.scheduler, steps=cfg.steps or DEFAULT_STEPS,
                                 guidance=cfg.guidance if cfg.guidance is not None else DEFAULT_GUIDANCE, config=cfg)


def _ancestry(given: Path, root: Path) -> list[Path]:
    """``root`` and the folders between it and the path the user gave (where satgeo.json may sit)."""
    out = [root]
    p = root
    given = given.resolve() if given.exists() else given
    while p != given and given in p.parents:
        p = p.parent
        out.append(p)
    return out


def detect(path: Path) -> bool:
    from satgeo.models.hub import zip_holds_pipeline

    if path.is_file() and path.suffix == ".zip":
        return zip_holds_pipeline(path, controlnet=False)
    return is_diffusionsat_folder(path) or _lora_folder(path)


def _register() -> None:
    from satgeo.models.registry import Family, ModelEntry, register_entry, register_family

    register_family(Family("diffusionsat", detect, load))
    for name, record, px in (("diffusionsat-512", "13751498", 512), ("diffusionsat-256", "13756199", 256)):
        register_entry(
            ModelEntry(
                name=name,
                family="diffusionsat",
                description=f"DiffusionSat {px} px (SD 2.1 + metadata), Khanna et al. ICLR 2024",
                zenodo_record=record,
                window=px,
                license="see https://zenodo.org/records/" + record,
                get_it=f"`satgeo models pull {name}`, or download the zip from https://zenodo.org/records/{record} "
                "and pass it (or its unpacked folder) to --model",
            )
        )


_register()
