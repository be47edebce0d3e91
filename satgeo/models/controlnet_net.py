"""The ControlNet network over DiffusionSat / SD 2.x: DiffusionSat's metadata variant and the stock layout.

* DiffusionSat's ControlNet = diffusers' ``ControlNetModel`` plus the same per-value metadata
  MLPs as SatUNet (``metadata_embedding.{i}``); the target metadata *and* the conditioning
  image's metadata (``cond_metadata``, optionally one per conditioning frame) are embedded
  and summed into the timestep embedding. Its config may carry ``conditioning_in_channels``
  and ``conditioning_scale`` (conditioning given at 1/scale of the output resolution).
* A plain ``ControlNetModel`` folder (e.g. GeoSynth-OSM, SD 2.1-base) loads as the same class
  with ``use_metadata=False``; parameter names are unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from satgeo.errors import ModelError
from satgeo.models.hf_types import ControlNetModel
from satgeo.models.satunet import (
    NUM_METADATA,
    SatUNet,
    _signature_with,
    build_strict,
    embed_metadata,
    metadata_embedding,
    read_config,
)

if TYPE_CHECKING:
    from satgeo.models.controlnet3d import SatControlNet3D

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
    ) -> None:
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

    def _add_extra_emb(self, module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        return output if self._extra_emb is None else output + self._extra_emb.to(output.dtype)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | float | int, encoder_hidden_states: torch.Tensor,
        controlnet_cond: torch.Tensor, conditioning_scale: float = 1.0, metadata: torch.Tensor | None = None,
        cond_metadata: torch.Tensor | None = None, **kwargs: Any,
    ) -> Any:
        """The stock forward (down and mid residuals) with the metadata summed into the time embedding."""
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


def controlnet_from_unet(unet: SatUNet, variant: str = "diffusionsat", **kwargs: Any) -> SatControlNet:
    """A ControlNet initialised from ``unet`` (DiffusionSat variant keeps the metadata MLPs)."""
    if variant not in ("diffusionsat", "diffusers"):
        raise ModelError(f"unknown ControlNet variant {variant!r}; use diffusionsat or diffusers")
    md_emb: nn.ModuleList | None = getattr(unet, "metadata_embedding", None) if variant == "diffusionsat" else None
    use_md = md_emb is not None
    base = ControlNetModel.from_unet(unet, **kwargs)
    cfg = dict(base.config)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cn = SatControlNet(**cfg, use_metadata=use_md, num_metadata=unet.num_metadata if use_md else NUM_METADATA)
    state = base.state_dict()
    if md_emb is not None:
        state.update({f"metadata_embedding.{k}": v for k, v in md_emb.state_dict().items()})
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


def check_base(cn: SatControlNet | SatControlNet3D, unet: SatUNet) -> None:
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


def controlnet_residuals(
    cn: SatControlNet | SatControlNet3D, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor, cond: torch.Tensor,
    md: torch.Tensor | None, cond_md: torch.Tensor | None, scale: float,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Down/mid residuals for the UNet (metadata only passed to metadata ControlNets)."""
    kwargs: dict[str, torch.Tensor | None] = {}
    if getattr(cn, "metadata_embedding", None) is not None:
        kwargs = {"metadata": md, "cond_metadata": cond_md}
    if cond.dtype != x.dtype:
        cond = cond.to(x.dtype)
    if cond.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
        cond = cond.contiguous(memory_format=torch.channels_last)
    down, mid = cn(x, t, ctx, cond, conditioning_scale=scale, return_dict=False, **kwargs)
    return down, mid
