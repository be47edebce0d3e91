"""DiffusionSat's SatUNet on current diffusers.

SatUNet is Stable Diffusion 2.1's ``UNet2DConditionModel`` plus ``num_metadata`` (7)
``TimestepEmbedding(block_out_channels[0] -> 4 * block_out_channels[0])`` MLPs. Each
metadata number goes through the UNet's own sinusoidal ``time_proj`` (exactly like a
timestep), its MLP, and the results are summed into the timestep embedding. Parameter
names match DiffusionSat's release: ``metadata_embedding.{i}.linear_{1,2}.{weight,bias}``.

Loading is strict (:func:`load_satunet`): a checkpoint whose tensors do not match the
config one-to-one, metadata MLPs included, is refused instead of half-initialised.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding
from torch import nn

from satgeo.errors import ModelError
from satgeo.models.hf_types import UNet2DConditionModel

NUM_METADATA = 7
_M = TypeVar("_M", bound=nn.Module)
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def embed_metadata(
    time_proj: nn.Module, embeddings: nn.ModuleList, metadata: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Sum of the per-value MLPs over the sinusoidal projection of each metadata number.

    ``metadata`` is (N, num_metadata) or (N, num_metadata, K) (K conditioning frames, summed).
    """
    n = len(embeddings)
    if metadata.ndim not in (2, 3) or metadata.shape[1] != n:
        raise ModelError(f"metadata must have shape (batch, {n}) but has {tuple(metadata.shape)}")
    shape = metadata.shape
    proj = time_proj(metadata.reshape(-1)).reshape(*shape, -1).to(dtype)
    out: torch.Tensor | None = None
    for i, mlp in enumerate(embeddings):
        e = mlp(proj[:, i])
        if e.ndim == 3:
            e = e.sum(dim=1)
        out = e if out is None else out + e
    if out is None:
        raise ModelError("metadata embedding with no per-value MLPs")
    return out


def _signature_with(base_init: Callable[..., Any], **extra: Any) -> inspect.Signature:
    sig = inspect.signature(base_init)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in extra.items()]
    return sig.replace(parameters=params)


def metadata_embedding(block_out_channels: Sequence[int], use_metadata: bool, num_metadata: int) -> nn.ModuleList | None:
    """DiffusionSat's per-value ``TimestepEmbedding(c -> 4c)`` list (None without metadata)."""
    if not use_metadata:
        return None
    c = block_out_channels[0]
    return nn.ModuleList(TimestepEmbedding(c, 4 * c) for _ in range(num_metadata))


class SatUNet(UNet2DConditionModel):
    """``UNet2DConditionModel`` with DiffusionSat's metadata embedding (config round-trips)."""

    def __init__(self, *args: Any, use_metadata: bool = True, num_metadata: int = NUM_METADATA, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.metadata_embedding = metadata_embedding(self.config.block_out_channels, use_metadata, num_metadata)
        self.num_metadata = num_metadata if use_metadata else 0

    # register_to_config reads the signature: expose the parent's parameters plus ours so that
    # save_pretrained/from_config round-trip every field.
    __init__.__signature__ = _signature_with(  # type: ignore[attr-defined]
        UNet2DConditionModel.__init__, use_metadata=True, num_metadata=NUM_METADATA
    )
    __init__ = register_to_config(__init__)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        metadata: torch.Tensor | None = None,
        added_cond_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The stock forward (its output object, or a tuple with ``return_dict=False``) plus the metadata."""
        if self.metadata_embedding is not None:
            if metadata is None:
                raise ModelError("this SatUNet needs a metadata tensor (use zeros for 'unknown')")
            added_cond_kwargs = dict(added_cond_kwargs or {}, satgeo_metadata=metadata)
        return super().forward(sample, timestep, encoder_hidden_states, added_cond_kwargs=added_cond_kwargs, **kwargs)

    def get_aug_embed(self, emb: torch.Tensor, encoder_hidden_states: torch.Tensor,
                      added_cond_kwargs: dict[str, Any]) -> torch.Tensor | None:
        aug = super().get_aug_embed(emb, encoder_hidden_states, added_cond_kwargs)
        md = (added_cond_kwargs or {}).get("satgeo_metadata")
        if md is None or self.metadata_embedding is None:
            return aug
        md_emb = embed_metadata(self.time_proj, self.metadata_embedding, md.to(emb.device), emb.dtype)
        return md_emb if aug is None else aug + md_emb


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of a diffusers model folder (safetensors preferred, else a pickled .bin)."""
    for name in WEIGHT_NAMES:
        f = folder / name
        if f.exists():
            if f.suffix == ".safetensors":
                from safetensors.torch import load_file

                return load_file(str(f))
            return torch.load(str(f), map_location="cpu", weights_only=True)
    raise ModelError(f"{folder} has no weights ({' or '.join(WEIGHT_NAMES)})")


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], where: Path, what: str) -> None:
    """Load ``state`` into ``model``; any missing/unexpected/mis-shaped tensor is a ModelError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        md_hint = ""
        if any("metadata_embedding" in k for k in missing + unexpected):
            md_hint = " (metadata embedding mismatch: check use_metadata/num_metadata in config.json)"
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
        raise ModelError(f"{where} is not a {what} checkpoint matching its config: {'; '.join(parts)}{md_hint}")
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise ModelError(
                f"{where}: tensor {k} has shape {tuple(v.shape)}, the config expects {tuple(own[k].shape)}"
            )
    model.load_state_dict(state, strict=True)


def read_config(folder: Path) -> dict[str, Any]:
    f = folder / "config.json"
    if not f.exists():
        raise ModelError(f"{folder} has no config.json; expected a diffusers model folder")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{f} is not valid JSON: {exc}") from None


def load_satunet(folder: str | Path, dtype: torch.dtype | None = None) -> SatUNet:
    """A SatUNet (or plain SD UNet, ``use_metadata=False``) from a diffusers ``unet`` folder, strictly."""
    folder = Path(folder)
    config = read_config(folder)
    cls_name = config.get("_class_name", "UNet2DConditionModel")
    if cls_name not in ("SatUNet", "UNet2DConditionModel"):
        raise ModelError(f"{folder} holds a {cls_name}, not a (Sat)UNet2DConditionModel")
    if cls_name == "UNet2DConditionModel" and "use_metadata" not in config:
        config = dict(config, use_metadata=False)
    return build_strict(SatUNet, config, folder, "SatUNet", "UNet", dtype)


def build_strict(
    cls: type[_M], config: dict[str, Any], folder: Path, what: str, kind: str, dtype: torch.dtype | None = None
) -> _M:
    """``cls`` (a diffusers model class) from ``config``, its weights from ``folder`` loaded strictly, frozen,
    in eval mode."""
    try:
        model: _M = cls.from_config(config)  # type: ignore[attr-defined]  # diffusers' ConfigMixin classmethod
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{folder}/config.json is not a {kind} config satgeo can build: {exc}") from None
    load_strict(model, read_state_dict(folder), folder, what)
    model.eval().requires_grad_(False)
    return model.to(dtype) if dtype is not None else model
