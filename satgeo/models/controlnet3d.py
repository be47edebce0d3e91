"""DiffusionSat's 3D ControlNet (``ControlNetModel3D``) on current diffusers.

A temporal stack of conditioning images (N, C, T, H, W) steers a frozen SatUNet:

* the conditioning embedding is 3-D (``Conv3d``; the spatial convs downsample by 2 three
  times, time is only mixed by the 3x3x3 kernels);
* the UNet-copy encoder runs once per frame, with the target metadata plus *that frame's*
  conditioning metadata summed into the timestep embedding;
* every residual goes through a 1x1x1 ``Conv3d``, optionally mixed with a
  ``TransformerTemporalModel`` over the frames (``use_temporal_transformer``: weight
  ``clamp(mixing_attns[i], 0, 1)``), and is summed over the frames.

Module and config names follow the official release (``controlnet_cond_embedding.{conv_in,
blocks.*,conv_out}``, ``controlnet_down_blocks``, ``controlnet_mid_block``, ``temporal_blocks``,
``mixing_attns``, ``metadata_embedding``) so its ``controlnet/`` folder loads strictly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.models import TransformerTemporalModel
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2DCrossAttn, get_down_block
from torch import nn

from satgeo.errors import ModelError
from satgeo.models.hf_types import ConfigMixin, ModelMixin
from satgeo.models.satunet import SatUNet, build_strict, metadata_embedding, read_config

CLASS_NAME = "ControlNetModel3D"


class _CondEmbedding3D(nn.Module):
    def __init__(self, out_channels: int, in_channels: int, widths: Sequence[int]):
        super().__init__()
        self.conv_in = nn.Conv3d(in_channels, widths[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        for a, b in zip(widths[:-1], widths[1:]):
            self.blocks.append(nn.Conv3d(a, a, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv3d(a, b, kernel_size=(1, 3, 3), padding=(0, 1, 1), stride=(1, 2, 2)))
        self.conv_out = nn.Conv3d(widths[-1], out_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(x)


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class SatControlNet3D(ModelMixin, ConfigMixin):
    """The official ``ControlNetModel3D`` layout; ``forward`` returns (down residuals, mid residual)."""

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        down_block_types: Sequence[str] = ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        only_cross_attention: bool | Sequence[bool] = False,
        block_out_channels: Sequence[int] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1,
        act_fn: str = "silu",
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1280,
        attention_head_dim: int | Sequence[int] = 8,
        use_linear_projection: bool = False,
        class_embed_type: str | None = None,
        num_class_embeds: int | None = None,
        upcast_attention: bool = False,
        resnet_time_scale_shift: str = "default",
        projection_class_embeddings_input_dim: int | None = None,
        controlnet_conditioning_channel_order: str = "rgb",
        conditioning_embedding_out_channels: Sequence[int] = (16, 32, 96, 256),
        global_pool_conditions: bool = False,
        conditioning_in_channels: int = 3,
        use_temporal_transformer: bool = False,
        use_metadata: bool = True,
        num_metadata: int = 7,
    ):
        super().__init__()
        if class_embed_type is not None or num_class_embeds is not None:
            raise ModelError("3D ControlNets with class embeddings are not supported")
        n = len(down_block_types)
        heads = (attention_head_dim,) * n if isinstance(attention_head_dim, int) else tuple(attention_head_dim)
        only_cross = (only_cross_attention,) * n if isinstance(only_cross_attention, bool) else tuple(only_cross_attention)
        c0 = block_out_channels[0]
        temb = 4 * c0
        self.conv_in = nn.Conv2d(in_channels, c0, kernel_size=3, padding=1)
        self.time_proj = Timesteps(c0, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(c0, temb, act_fn=act_fn)
        self.metadata_embedding = metadata_embedding(block_out_channels, use_metadata, num_metadata)
        self.num_metadata = num_metadata if use_metadata else 0
        self.controlnet_cond_embedding = _CondEmbedding3D(c0, conditioning_in_channels, conditioning_embedding_out_channels)
        self.down_blocks = nn.ModuleList()
        self.controlnet_down_blocks = nn.ModuleList()
        temporal: list[nn.Module] = []
        mixing: list[nn.Parameter] = []

        def residual_conv(ch: int) -> None:
            self.controlnet_down_blocks.append(_zero(nn.Conv3d(ch, ch, kernel_size=1)))

        residual_conv(c0)
        temporal.append(TransformerTemporalModel(num_attention_heads=8, attention_head_dim=64, in_channels=c0, num_layers=1))
        mixing.append(nn.Parameter(torch.tensor(0.0)))
        out_ch = c0
        for i, kind in enumerate(down_block_types):
            in_ch, out_ch = out_ch, block_out_channels[i]
            last = i == n - 1
            self.down_blocks.append(get_down_block(
                kind, num_layers=layers_per_block, in_channels=in_ch, out_channels=out_ch, temb_channels=temb,
                add_downsample=not last, resnet_eps=norm_eps, resnet_act_fn=act_fn, resnet_groups=norm_num_groups,
                cross_attention_dim=cross_attention_dim, num_attention_heads=heads[i], attention_head_dim=heads[i],
                downsample_padding=downsample_padding, use_linear_projection=use_linear_projection,
                only_cross_attention=only_cross[i], upcast_attention=upcast_attention,
                resnet_time_scale_shift=resnet_time_scale_shift,
            ))
            for _ in range(layers_per_block):
                residual_conv(out_ch)
                temporal.append(nn.Identity())
                mixing.append(nn.Parameter(torch.tensor(0.0), requires_grad=False))
            if not last:
                residual_conv(out_ch)
                temporal.append(TransformerTemporalModel(
                    out_ch // heads[i], heads[i], in_channels=out_ch, num_layers=1,
                    cross_attention_dim=cross_attention_dim, norm_num_groups=norm_num_groups,
                ))
                mixing.append(nn.Parameter(torch.tensor(0.0)))
        self.temporal_blocks = nn.ModuleList(temporal) if use_temporal_transformer else None
        self.mixing_attns = nn.ParameterList(mixing) if use_temporal_transformer else None
        mid = block_out_channels[-1]
        self.controlnet_mid_block = _zero(nn.Conv3d(mid, mid, kernel_size=1))
        self.mid_block = UNetMidBlock2DCrossAttn(
            in_channels=mid, temb_channels=temb, resnet_eps=norm_eps, resnet_act_fn=act_fn,
            output_scale_factor=mid_block_scale_factor, resnet_time_scale_shift=resnet_time_scale_shift,
            cross_attention_dim=cross_attention_dim, num_attention_heads=heads[-1], resnet_groups=norm_num_groups,
            use_linear_projection=use_linear_projection, upcast_attention=upcast_attention,
        )

    @classmethod
    def from_unet(cls, unet: SatUNet, conditioning_in_channels: int = 3, use_temporal_transformer: bool = True,
                  conditioning_embedding_out_channels: Sequence[int] = (16, 32, 96, 256)) -> SatControlNet3D:
        """A 3D ControlNet initialised from ``unet`` as the official ``from_unet`` does (encoder copied)."""
        c = unet.config
        net = cls(
            in_channels=c.in_channels, flip_sin_to_cos=c.flip_sin_to_cos, freq_shift=c.freq_shift,
            down_block_types=c.down_block_types, only_cross_attention=c.only_cross_attention,
            block_out_channels=c.block_out_channels, layers_per_block=c.layers_per_block,
            downsample_padding=c.downsample_padding, mid_block_scale_factor=c.mid_block_scale_factor, act_fn=c.act_fn,
            norm_num_groups=c.norm_num_groups, norm_eps=c.norm_eps, cross_attention_dim=c.cross_attention_dim,
            attention_head_dim=c.attention_head_dim, use_linear_projection=c.use_linear_projection,
            upcast_attention=c.upcast_attention, resnet_time_scale_shift=c.resnet_time_scale_shift,
            conditioning_embedding_out_channels=conditioning_embedding_out_channels,
            conditioning_in_channels=conditioning_in_channels, use_temporal_transformer=use_temporal_transformer,
            use_metadata=getattr(unet, "metadata_embedding", None) is not None, num_metadata=unet.num_metadata or 7,
        )
        for name in ("conv_in", "time_proj", "time_embedding", "down_blocks", "mid_block", "metadata_embedding"):
            src = getattr(unet, name, None)
            if src is not None and getattr(net, name, None) is not None:
                getattr(net, name).load_state_dict(src.state_dict())
        return net

    def _embed_metadata(self, vec: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(N, M) -> (N, D) or (N, M, T) -> (N, T, D): the sum over the per-value MLPs."""
        shape = vec.shape
        proj = self.time_proj(vec.reshape(-1)).reshape(*shape, -1).to(dtype)
        if self.metadata_embedding is None:
            raise ModelError("this 3D ControlNet has no metadata embedding")
        out: torch.Tensor | None = None
        for i, mlp in enumerate(self.metadata_embedding):  # summed in order, as sum() did
            e = mlp(proj[:, i])
            out = e if out is None else out + e
        if out is None:
            raise ModelError("metadata embedding with no per-value MLPs")
        return out

    def forward(  # noqa: C901 - one pass mirroring the official forward
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_scale: float = 1.0,
        metadata: torch.Tensor | None = None,
        cond_metadata: torch.Tensor | None = None,
        return_dict: bool = False,
        **_: Any,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        if controlnet_cond.ndim != 5:
            raise ModelError(f"a 3D ControlNet needs conditioning of shape (N, C, T, H, W), got {tuple(controlnet_cond.shape)}")
        if self.config.controlnet_conditioning_channel_order == "bgr":
            controlnet_cond = torch.flip(controlnet_cond, dims=[1])
        n, frames = sample.shape[0], controlnet_cond.shape[2]
        t = torch.as_tensor(timestep, device=sample.device)
        t = t.reshape(-1).expand(n) if t.numel() == 1 else t
        emb = self.time_embedding(self.time_proj(t.repeat_interleave(frames)).to(sample.dtype))
        if self.metadata_embedding is not None:
            if metadata is None:
                raise ModelError("this 3D ControlNet needs metadata (use zeros for 'unknown')")
            emb = emb + self._embed_metadata(metadata, sample.dtype).repeat_interleave(frames, dim=0)
            if cond_metadata is not None:
                if cond_metadata.ndim == 3:  # one metadata vector per frame
                    emb = emb + self._embed_metadata(cond_metadata, sample.dtype).reshape(n * frames, -1)
                else:
                    emb = emb + self._embed_metadata(cond_metadata, sample.dtype).repeat_interleave(frames, dim=0)
        ctx = encoder_hidden_states.repeat_interleave(frames, dim=0)
        cond = self.controlnet_cond_embedding(controlnet_cond.to(sample.dtype))
        cond = cond.permute(0, 2, 1, 3, 4).reshape(n * frames, *cond.shape[1:2], *cond.shape[3:])
        h = self.conv_in(sample).repeat_interleave(frames, dim=0) + cond
        skips = [h]
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                h, res = block(hidden_states=h, temb=emb, encoder_hidden_states=ctx)
            else:
                h, res = block(hidden_states=h, temb=emb)
            skips.extend(res)
        h = self.mid_block(h, emb, encoder_hidden_states=ctx)

        def per_frame(x: torch.Tensor) -> torch.Tensor:  # (N*T, C, H, W) -> (N, C, T, H, W)
            return x.reshape(n, frames, *x.shape[1:]).permute(0, 2, 1, 3, 4)

        down = []
        for i, (skip, conv) in enumerate(zip(skips, self.controlnet_down_blocks)):
            r = conv(per_frame(skip))
            if (self.temporal_blocks is not None and self.mixing_attns is not None
                    and not isinstance(self.temporal_blocks[i], nn.Identity)):
                alpha = self.mixing_attns[i].clamp(0.0, 1.0).to(r.dtype)
                flat = r.permute(0, 2, 1, 3, 4).reshape(n * frames, *r.shape[1:2], *r.shape[3:])
                mixed = per_frame(self.temporal_blocks[i](flat, num_frames=frames).sample)
                r = alpha * mixed + (1 - alpha) * r
            down.append(r.sum(dim=2) * conditioning_scale)
        mid = self.controlnet_mid_block(per_frame(h)).sum(dim=2) * conditioning_scale
        if self.config.global_pool_conditions:
            down = [d.mean(dim=(2, 3), keepdim=True) for d in down]
            mid = mid.mean(dim=(2, 3), keepdim=True)
        return down, mid


def is_3d_config(config: dict) -> bool:
    return config.get("_class_name") in (CLASS_NAME, "SatControlNet3D")


def load_controlnet3d(folder: str | Path, dtype: torch.dtype | None = None) -> SatControlNet3D:
    """The official 3D ControlNet folder (config.json + weights), loaded strictly."""
    folder = Path(folder)
    config = read_config(folder)
    if not is_3d_config(config):
        raise ModelError(f"{folder} holds a {config.get('_class_name')}, not a {CLASS_NAME}")
    return build_strict(SatControlNet3D, config, folder, CLASS_NAME, "3D ControlNet", dtype)
