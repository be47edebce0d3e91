"""The DiffusionSat / SD pipeline on current diffusers: caption + 7 metadata numbers -> image.

Loads a diffusers pipeline folder (VAE, CLIP text encoder, tokenizer, scheduler config) with
the trained SatUNet (see :mod:`satgeo.models.ds_layout` for where things live), optionally a
ControlNet and a merged LoRA, and runs the guided denoiser on batches of windows.

Classifier-free guidance uses the empty caption *and* the all-zero metadata vector as the
unconditional branch, as DiffusionSat was trained (metadata dropped = zeros).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from satgeo.errors import InputError, ModelError
from satgeo.models.ds_config import read_satgeo_config
from satgeo.models.ds_layout import find_unet_dir, pipeline_root, quiet_hf
from satgeo.models.ds_speed import SpeedPlan, make_scheduler, plan_speed
from satgeo.models.lora import apply_lora
from satgeo.models.satunet import SatUNet, load_satunet

if TYPE_CHECKING:
    from satgeo.models.controlnet3d import SatControlNet3D
    from satgeo.models.controlnet_net import SatControlNet
    from satgeo.models.hf_types import AutoencoderKL, CLIPTextModel, CLIPTokenizer

DEFAULT_GUIDANCE = 7.5
DEFAULT_STEPS = 20


def _has_conv3d(module: torch.nn.Module) -> bool:
    """3D ControlNets keep the default memory format (channels_last is for 4-D tensors)."""
    return any(isinstance(m, torch.nn.Conv3d) for m in module.modules())


class DiffusionSatPipeline:
    """Caption + metadata (+ optional ControlNet conditioning) -> RGB, batched over windows."""

    def __init__(
        self,
        unet: SatUNet,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        scheduler_config: dict[str, Any],
        plan: SpeedPlan | None = None,
        controlnet: SatControlNet | SatControlNet3D | None = None,
        root: Path | None = None,
    ) -> None:
        self.unet, self.vae, self.text_encoder, self.tokenizer = unet, vae, text_encoder, tokenizer
        self.scheduler_config = scheduler_config
        self.controlnet = controlnet
        self.root = root
        self.plan = plan or plan_speed()
        self.window: int | None = None  # the training image size, set by the loader (ds_layout.training_window)
        self._prompt_cache: dict[str, torch.Tensor] = {}
        self._apply_plan()

    # -- construction

    @classmethod
    def from_folder(
        cls, path: str | Path, device: str | None = None, dtype: torch.dtype | None = None,
        controlnet: SatControlNet | SatControlNet3D | None = None, lora_from: Path | None = None,
    ) -> DiffusionSatPipeline:
        from diffusers import AutoencoderKL
        from transformers import CLIPTextModel, CLIPTokenizer

        root = pipeline_root(Path(path))
        if root is None:
            raise ModelError(f"{path} is not a DiffusionSat pipeline folder (no model_index.json or vae/)")
        for part in ("vae", "text_encoder", "tokenizer", "scheduler"):
            if not (root / part).is_dir():
                raise ModelError(f"{root} lacks {part}/; it is not a complete diffusers pipeline folder")
        unet = load_satunet(find_unet_dir(root))
        if lora_from is not None:
            spec = read_satgeo_config(lora_from).lora
            if spec is None:
                raise ModelError(f"{lora_from} has no \"lora\" in its satgeo.json")
            apply_lora(unet, lora_from, spec)
        try:
            with quiet_hf():
                vae = AutoencoderKL.from_pretrained(root / "vae")
                text_encoder = CLIPTextModel.from_pretrained(root / "text_encoder")
                tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer")
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{root}: cannot load a pipeline component: {str(exc).splitlines()[0]}") from None
        sched_file = root / "scheduler" / "scheduler_config.json"
        if not sched_file.exists():
            raise ModelError(f"{root}/scheduler has no scheduler_config.json")
        scheduler_config = json.loads(sched_file.read_text())
        if text_encoder.config.hidden_size != unet.config.cross_attention_dim:
            raise ModelError(
                f"{root}: text encoder width {text_encoder.config.hidden_size} does not match the UNet's "
                f"cross_attention_dim {unet.config.cross_attention_dim}; the folders come from different models"
            )
        return cls(unet, vae, text_encoder, tokenizer, scheduler_config, plan_speed(device, dtype), controlnet, root)

    def _apply_plan(self) -> None:
        p = self.plan
        modules = [self.unet, self.vae, self.text_encoder] + ([self.controlnet] if self.controlnet is not None else [])
        with quiet_hf():
            for m in modules:
                m.eval().requires_grad_(False)
                m.to(device=p.device, dtype=p.dtype)
        if p.channels_last:
            self.unet.to(memory_format=torch.channels_last)
            self.vae.to(memory_format=torch.channels_last)
            if self.controlnet is not None and not _has_conv3d(self.controlnet):
                self.controlnet.to(memory_format=torch.channels_last)
        self._unet_call: Callable[..., Any] = self.unet
        if p.compile and p.device.type == "cuda":
            self._unet_call = torch.compile(self.unet, mode="max-autotune-no-cudagraphs", dynamic=False)

    def set_controlnet(self, controlnet: SatControlNet | SatControlNet3D) -> None:
        self.controlnet = controlnet
        self._apply_plan()

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_multiple(self) -> int:
        """Latent sizes must be multiples of this for the UNet's down/up sampling."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def num_metadata(self) -> int:
        return self.unet.num_metadata

    # -- conditioning

    def token_limit(self) -> int:
        return int(min(self.tokenizer.model_max_length, self.text_encoder.config.max_position_embeddings))

    def encode_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        """(N, L, D) text embeddings; a caption over the tokenizer's limit is an InputError."""
        limit = self.token_limit()
        out = []
        for prompt in prompts:
            if prompt not in self._prompt_cache:
                n = len(self.tokenizer(prompt, truncation=False).input_ids)
                if n > limit:
                    raise InputError(
                        f"caption is {n} tokens, over this model's limit of {limit}; shorten --prompt"
                    )
                ids = self.tokenizer(
                    prompt, padding="max_length", max_length=limit, truncation=True, return_tensors="pt"
                ).input_ids.to(self.plan.device)
                with torch.inference_mode():
                    self._prompt_cache[prompt] = self.text_encoder(ids)[0].to(self.plan.dtype)
            out.append(self._prompt_cache[prompt])
        return torch.cat(out)

    def metadata_tensor(self, normalized: Sequence[Sequence[float]] | Sequence[float] | None,
                        n: int) -> torch.Tensor | None:
        """(n, num_metadata) normalized metadata on the device (one row for all windows, or one per window);
        zeros when ``normalized`` is None, None for a UNet without metadata."""
        if self.num_metadata == 0:
            return None
        if normalized is None:
            return torch.zeros(n, self.num_metadata, device=self.plan.device)
        md = torch.as_tensor(np.asarray(normalized, dtype=np.float64), dtype=torch.float32)
        if md.ndim == 1:
            md = md[None].expand(n, -1)
        if md.shape != (n, self.num_metadata):
            raise InputError(f"metadata must be {self.num_metadata} numbers per window, got shape {tuple(md.shape)}")
        return md.to(self.plan.device)

    # -- denoiser

    def predict(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        embeds: torch.Tensor,
        metadata: torch.Tensor | None,
        guidance: float,
        uncond: torch.Tensor,
        control: torch.Tensor | None = None,
        cond_metadata: torch.Tensor | None = None,
        control_scale: float = 1.0,
    ) -> torch.Tensor:
        """The guided model output for a batch of windows (uncond = empty caption + zero metadata)."""
        p = self.plan
        n = latents.shape[0]
        cfg = guidance > 1.0
        x = torch.cat([latents, latents]) if cfg else latents
        x = x.to(p.dtype)
        if p.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.cat([uncond.expand(n, -1, -1), embeds]) if cfg else embeds
        md = None
        if metadata is not None:
            md = torch.cat([torch.zeros_like(metadata), metadata]) if cfg else metadata
        kwargs = {}
        if control is not None and self.controlnet is not None:
            from satgeo.models.controlnet_net import controlnet_residuals

            c = torch.cat([control, control]) if cfg else control
            cm = None
            if cond_metadata is not None:
                cm = torch.cat([torch.zeros_like(cond_metadata), cond_metadata]) if cfg else cond_metadata
            down, mid = controlnet_residuals(self.controlnet, x, t, ctx, c.to(p.dtype), md, cm, control_scale)
            kwargs = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        if md is not None:
            kwargs["metadata"] = md
        out = self._unet_call(x, t, encoder_hidden_states=ctx, return_dict=False, **kwargs)[0].float()
        if cfg:
            u, c = out.chunk(2)
            out = u + guidance * (c - u)
        return out

    def autocast(self) -> AbstractContextManager[Any]:
        p = self.plan
        if p.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(p.device.type, dtype=p.dtype)

    # -- decode

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (N,4,h,w) -> images (N,3,H,W) in [0,1] float32."""
        z = (latents / self.vae.config.scaling_factor).to(self.plan.device, self.plan.dtype)
        if self.plan.channels_last:
            z = z.contiguous(memory_format=torch.channels_last)
        img = self.vae.decode(z, return_dict=False)[0].float()
        return (img / 2 + 0.5).clamp(0, 1)

    # -- one-shot generation (single windows, no mosaic)

    @torch.inference_mode()
    def __call__(
        self,
        prompts: str | Sequence[str],
        metadata: Sequence[Sequence[float]] | Sequence[float] | None = None,
        height: int | None = None,
        width: int | None = None,
        steps: int = DEFAULT_STEPS,
        guidance: float = DEFAULT_GUIDANCE,
        seed: int = 0,
        scheduler: str | None = None,
        latents: torch.Tensor | None = None,
        control: torch.Tensor | None = None,
    ) -> np.ndarray:
        """(N, H, W, 3) uint8 for N prompts; ``metadata`` is normalized (N,7) or (7,)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        n = len(prompts)
        size = self.window or (self.unet.config.sample_size or 64) * self.vae_scale
        height, width = height or size, width or size
        if height % (self.vae_scale * self.latent_multiple) or width % (self.vae_scale * self.latent_multiple):
            raise InputError(f"height and width must be multiples of {self.vae_scale * self.latent_multiple}")
        sched = make_scheduler(self.scheduler_config, scheduler)
        sched.set_timesteps(steps, device=self.plan.device)
        embeds = self.encode_prompts(prompts)
        uncond = self.encode_prompts([""])
        md = self.metadata_tensor(metadata, n)
        if latents is None:
            g = torch.Generator("cpu").manual_seed(seed)
            latents = torch.randn(n, 4, height // self.vae_scale, width // self.vae_scale, generator=g)
        latents = latents.to(self.plan.device, torch.float32) * sched.init_noise_sigma
        with self.autocast():
            for t in sched.timesteps:
                x = sched.scale_model_input(latents, t)
                eps = self.predict(x, t, embeds, md, guidance, uncond, control=control)
                latents = sched.step(eps, t, latents, return_dict=False)[0]
            img = self.decode(latents)
        return (img.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
