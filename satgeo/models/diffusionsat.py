"""DiffusionSat: caption + 7 metadata numbers -> satellite image, on current diffusers.

Checkpoint layouts understood (see docs/diffusion.md):

* DiffusionSat's release: a diffusers pipeline folder (``model_index.json``, ``vae/``,
  ``text_encoder/``, ``tokenizer/``, ``scheduler/``) with the trained SatUNet in
  ``checkpoint-<N>/unet`` (the highest N wins) or in ``unet/``;
* the same folder packed in a zip (Zenodo records 13751498 / 13756199), unpacked once
  into the cache by :mod:`satgeo.models.hub`;
* hub ids and cached names resolve to such folders through the registry.

Classifier-free guidance uses the empty caption *and* the all-zero metadata vector as the
unconditional branch, as DiffusionSat was trained (metadata dropped = zeros).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from satgeo.errors import InputError, ModelError
from satgeo.models.satunet import SatUNet, load_satunet

DEFAULT_GUIDANCE = 7.5
DEFAULT_STEPS = 20
FAST_SCHEDULER = "dpm++"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")

# Raw ranges DiffusionSat's training data covered (fMoW, Satlas, SpaceNet); outside them we warn.
TRAINING_RANGES = {
    "gsd": (0.1, 10.0),
    "cloud_cover": (0.0, 1.0),
    "year": (2000, 2024),
}


# ----------------------------------------------------------------------------- layouts


def find_unet_dir(root: Path) -> Path:
    """The UNet folder of a pipeline folder: the highest ``checkpoint-N/unet``, else ``unet``."""
    ckpts = []
    for child in root.iterdir() if root.is_dir() else ():
        m = _CHECKPOINT_RE.match(child.name)
        if m and (child / "unet" / "config.json").exists():
            ckpts.append((int(m.group(1)), child / "unet"))
    if ckpts:
        return max(ckpts)[1]
    if (root / "unet" / "config.json").exists():
        return root / "unet"
    if (root / "config.json").exists() and _is_unet_config(root / "config.json"):
        return root
    raise ModelError(
        f"{root} has no UNet (expected checkpoint-<N>/unet or unet/ with config.json); "
        "download the full DiffusionSat folder or run `satgeo models pull NAME`"
    )


def _is_unet_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("_class_name") in ("SatUNet", "UNet2DConditionModel")
    except (OSError, json.JSONDecodeError):
        return False


def pipeline_root(path: Path) -> Path | None:
    """The pipeline folder inside ``path`` (itself, or a single nested folder as zips often have)."""
    if not path.is_dir():
        return None
    if (path / "model_index.json").exists() or (path / "vae").is_dir():
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(subdirs) == 1:
        return pipeline_root(subdirs[0])
    return None


def is_diffusionsat_folder(path: Path) -> bool:
    root = pipeline_root(path)
    if root is None or (root / "controlnet" / "config.json").exists():
        return False
    try:
        unet_dir = find_unet_dir(root)
    except ModelError:
        return False
    return (root / "vae").is_dir() and (root / "text_encoder").is_dir() and unet_dir.exists()


# ----------------------------------------------------------------------------- metadata


def normalize_metadata(raw: Sequence[float | None]) -> list[float]:
    """DESIGN.md normalisation of raw [lon, lat, gsd, cloud_cover, year, month, day]; unknown -> 0.

    The formulas live in :mod:`satgeo.geo.metadata` (the GIS core); None/NaN mean unknown.
    """
    from satgeo.geo.metadata import FIELDS, Metadata

    vals = {}
    for name, v in zip(FIELDS, raw):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            continue
        vals[name] = int(round(v)) if name in ("year", "month", "day") else float(v)
    return Metadata(**vals).normalized()


def check_metadata_range(raw: Sequence[float | None]) -> None:
    """Warn (not fail) when metadata lies outside what the released checkpoints saw."""
    names = ("lon", "lat", "gsd", "cloud_cover", "year", "month", "day")
    values = dict(zip(names, raw))
    for key, (lo, hi) in TRAINING_RANGES.items():
        v = values.get(key)
        if v is not None and math.isfinite(v) and not lo <= v <= hi:
            warnings.warn(
                f"metadata {key}={v:g} is outside DiffusionSat's training range {lo:g}..{hi:g}; "
                "results may be poor",
                stacklevel=3,
            )


# ----------------------------------------------------------------------------- pipeline


@contextmanager
def quiet_hf():
    """Silence diffusers/transformers progress bars and dtype chatter while loading local folders."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dv, tv = dlog.get_verbosity(), tlog.get_verbosity()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    dlog.disable_progress_bar()
    try:
        yield
    finally:
        dlog.set_verbosity(dv)
        tlog.set_verbosity(tv)
        tlog.enable_progress_bar()
        dlog.enable_progress_bar()


@dataclass
class SpeedPlan:
    """How the pipeline runs: dtype of the heavy modules, memory format, compile, batch."""

    device: torch.device
    dtype: torch.dtype
    channels_last: bool = True
    compile: bool = False
    max_batch: int = 8
    notes: list[str] = field(default_factory=list)


def cpu_has_amx() -> bool:
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - older torch
        return False
    return "AMX" in cap.upper() or _cpuinfo_has("amx_bf16")


def _cpuinfo_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def plan_speed(device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> SpeedPlan:
    """bf16 on AMX CPUs, fp16 on CUDA (bf16 where supported), fp32 elsewhere; channels_last everywhere."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if dtype is None:
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif device.type == "cpu" and (cpu_has_amx() or _cpuinfo_has("avx512_bf16")):
            dtype = torch.bfloat16
        else:
            dtype = torch.float32
    return SpeedPlan(device=device, dtype=dtype, compile=device.type == "cuda", max_batch=16 if device.type == "cuda" else 8)


def make_scheduler(config: dict, kind: str | None = None):
    """The checkpoint's scheduler, or DPM-Solver++ (2M) built from the same noise schedule."""
    import diffusers

    config = {k: v for k, v in config.items() if not k.startswith("_") or k == "_class_name"}
    if kind in (None, "", "default"):
        name = config.get("_class_name", "DDIMScheduler")
        cls = getattr(diffusers, name, None)
        if cls is None:
            raise ModelError(f"scheduler {name!r} is not known to diffusers {diffusers.__version__}")
        return cls.from_config(config)
    if kind in ("dpm++", "dpmsolver++", "dpm"):
        return diffusers.DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2
        )
    if kind == "ddim":
        return diffusers.DDIMScheduler.from_config(config)
    raise InputError(f"unknown scheduler {kind!r}; use default, ddim or dpm++")


class DiffusionSatPipeline:
    """Caption + metadata (+ optional ControlNet conditioning) -> RGB, batched over windows."""

    def __init__(
        self,
        unet: SatUNet,
        vae,
        text_encoder,
        tokenizer,
        scheduler_config: dict,
        plan: SpeedPlan | None = None,
        controlnet=None,
        root: Path | None = None,
    ):
        self.unet, self.vae, self.text_encoder, self.tokenizer = unet, vae, text_encoder, tokenizer
        self.scheduler_config = scheduler_config
        self.controlnet = controlnet
        self.root = root
        self.plan = plan or plan_speed()
        self._prompt_cache: dict[str, torch.Tensor] = {}
        self._apply_plan()

    # -- construction

    @classmethod
    def from_folder(
        cls, path: str | Path, device: str | None = None, dtype: torch.dtype | None = None, controlnet=None,
        lora_from: Path | None = None,
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
            from satgeo.train.lora import apply_lora

            apply_lora(unet, lora_from, read_card_overrides(lora_from)["lora"])
        try:
            with quiet_hf():
                vae = AutoencoderKL.from_pretrained(root / "vae")
                text_encoder = CLIPTextModel.from_pretrained(root / "text_encoder")
                tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer")
        except (OSError, ValueError, TypeError, EnvironmentError) as exc:
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
            if self.controlnet is not None:
                self.controlnet.to(memory_format=torch.channels_last)
        self._unet_call = self.unet
        if p.compile and p.device.type == "cuda":
            self._unet_call = torch.compile(self.unet, mode="max-autotune-no-cudagraphs", dynamic=False)

    def set_controlnet(self, controlnet) -> None:
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

    def metadata_tensor(self, normalized: Sequence[Sequence[float]] | None, n: int) -> torch.Tensor | None:
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
            from satgeo.models.controlnet import controlnet_residuals

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

    def autocast(self):
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
        size = (self.unet.config.sample_size or 64) * self.vae_scale
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


# ----------------------------------------------------------------------------- generator


def window_lonlat(grid, row: float, col: float) -> tuple[float, float]:
    """lon/lat (EPSG:4326) of pixel position (row, col) of ``grid``."""
    from pyproj import Transformer

    x, y = grid.transform @ (col, row)
    t = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(x, y)
    return float(lon), float(lat)


def default_caption(lon: float, lat: float) -> str:
    from satgeo.geo.caption import caption_for

    return caption_for((lon, lat))


def read_card_overrides(root: Path) -> dict:
    """Optional ``satgeo.json`` beside model_index.json: name, native_gsd, tile_size, overlap, license..."""
    f = root / "satgeo.json"
    if not f.exists():
        return {}
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{f} is not valid JSON: {exc}") from None


class DiffusionSatGenerator:
    """The render engine's view of a DiffusionSat (optionally ControlNet) pipeline."""

    family = "diffusionsat"

    def __init__(self, pipe: DiffusionSatPipeline, card, conditioning: str | None = None,
                 guidance: float = DEFAULT_GUIDANCE, steps: int = DEFAULT_STEPS, scheduler: str | None = None):
        import threading

        self.pipe, self.card = pipe, card
        self.conditioning = conditioning
        self.guidance, self.steps, self.scheduler = guidance, steps, scheduler
        self.controlnet_dir: Path | None = None
        self.window, self.window_overlap = model_window(pipe, read_card_overrides(pipe.root) if pipe.root else {})
        self._lock = threading.Lock()

    @property
    def model_hash(self) -> str:
        """sha256 over the UNet (and ControlNet) weight files, computed once."""
        if getattr(self, "_hash", None) is None:
            import hashlib

            from satgeo.models.hub import sha256_file
            from satgeo.models.satunet import WEIGHT_NAMES

            h = hashlib.sha256()
            dirs = []
            if self.pipe.root is not None:
                dirs.append(find_unet_dir(self.pipe.root))
            if self.controlnet_dir is not None:
                dirs.append(self.controlnet_dir)
            for d in dirs:
                f = next((d / n for n in WEIGHT_NAMES if (d / n).exists()), None)
                if f is not None:
                    h.update(sha256_file(f).encode())
            self._hash = h.hexdigest()
        return self._hash

    def window_metadata(self, req, windows, pad_top: int, pad_left: int) -> list[list[float]]:
        """Normalized metadata per window: the request's values with lon/lat of the window centre and the grid GSD."""
        raw = list(req.metadata) if req.metadata is not None else [None] * 7
        raw = (raw + [None] * 7)[:7]
        vs = self.pipe.vae_scale
        out = []
        for w in windows:
            cr = w.row * vs + w.size * vs / 2 - pad_top
            cc = w.col * vs + w.size * vs / 2 - pad_left
            lon, lat = window_lonlat(req.grid, cr, cc)
            vals = [lon, lat, req.grid.gsd, *raw[3:]]
            out.append(normalize_metadata(vals))
        check_metadata_range([None, None, req.grid.gsd, *raw[3:]])
        return out

    def generate_region(self, req, order: Sequence[int] | None = None) -> np.ndarray:
        from satgeo.models.mosaic import (
            decode_tiled,
            denoise_region,
            hash_text,
            lattice_noise,
            plan_windows,
            to_uint8,
        )

        h, w = req.masks.shape
        vs = self.pipe.vae_scale
        unit = vs * self.pipe.latent_multiple
        tile = self.window
        row0, col0 = req.origin
        # align the region to the global latent lattice, then pad to whole windows
        pad_top, pad_left = row0 % vs, col0 % vs
        ph = max(tile, -(-(h + pad_top) // unit) * unit)
        pw = max(tile, -(-(w + pad_left) // unit) * unit)
        lh, lw = ph // vs, pw // vs
        windows = plan_windows(lh, lw, tile // vs, self.window_overlap // vs)
        salt = hash_text(str(req.extra.get("lattice_key", "")))
        noise = lattice_noise(req.seed, (row0 - pad_top) // vs, (col0 - pad_left) // vs, lh, lw, salt=salt)[None]
        prompt = req.prompt
        if prompt is None:
            lon, lat = window_lonlat(req.grid, h / 2, w / 2)
            prompt = default_caption(lon, lat)
        md = self.window_metadata(req, windows, pad_top, pad_left)
        control = None
        if self.pipe.controlnet is not None:
            from satgeo.models.conditioning import render_conditioning

            padded = np.zeros((ph, pw), dtype=np.uint8)
            padded[pad_top : pad_top + h, pad_left : pad_left + w] = req.masks
            control = render_conditioning(padded, self.conditioning or "satgeo-mask")
            control = torch.from_numpy(control).permute(2, 0, 1)[None].float().div(255).to(self.pipe.plan.device)
        steps = int(req.extra.get("steps") or req.steps or self.steps)
        guidance = float(req.extra.get("guidance", self.guidance))
        with self._lock, torch.inference_mode():
            embeds = self.pipe.encode_prompts([prompt])
            latents = denoise_region(
                self.pipe,
                noise,
                windows,
                lambda idx: embeds.expand(len(idx), -1, -1),
                self.pipe.metadata_tensor(md, len(windows)),
                steps,
                guidance,
                scheduler=req.extra.get("scheduler", self.scheduler),
                control=control,
                order=order,
                progress=req.progress,
                cancel=req.cancel,
            )
            with self.pipe.autocast():
                img = decode_tiled(self.pipe, latents)
        return to_uint8(img)[pad_top : pad_top + h, pad_left : pad_left + w]


REGION_WINDOWS = 2  # regions handed to the engine span this many model windows per side


def model_window(pipe: DiffusionSatPipeline, o: dict) -> tuple[int, int]:
    """(window, overlap) in pixels: the UNet's native image size and the MultiDiffusion overlap."""
    window = int(o.get("window", (pipe.unet.config.sample_size or 64) * pipe.vae_scale))
    return window, int(o.get("window_overlap", window // 4))


def make_card(root: Path, pipe: DiffusionSatPipeline, family: str, name: str | None = None):
    """The engine's card: its "tile" is a region of REGION_WINDOWS^2 model windows blended in latent space."""
    from satgeo.models.base import ModelCard

    o = read_card_overrides(root)
    window, w_overlap = model_window(pipe, o)
    k = int(o.get("region_windows", REGION_WINDOWS))
    tile = int(o.get("tile_size", window + (k - 1) * (window - w_overlap)))
    return ModelCard(
        name=o.get("name", name or root.name),
        family=family,
        native_gsd=float(o.get("native_gsd", 0.5)),
        tile_size=tile,
        overlap=int(o.get("overlap", w_overlap)),
        training_data=o.get("training_data", "fMoW, Satlas, SpaceNet (DiffusionSat)"),
        license=o.get("license", ""),
        attribution=o.get("attribution", "Khanna et al., DiffusionSat, ICLR 2024"),
        description=o.get("description", "DiffusionSat: caption + metadata -> satellite image"),
        max_gsd_ratio=float(o.get("max_gsd_ratio", 20.0)),
    )


def _lora_folder(path: Path) -> bool:
    return path.is_dir() and (path / "lora").is_dir() and "lora" in read_card_overrides(path)


def load(path: str | Path, device: str | None = None, dtype=None) -> DiffusionSatGenerator:
    from satgeo.models.hub import materialize

    folder = materialize(Path(path))
    if _lora_folder(folder):  # a LoRA fine-tune: satgeo.json names the base pipeline
        from satgeo.models.registry import resolve

        o = read_card_overrides(folder)
        base = pipeline_root(resolve(str(o["base"]))[0])
        if base is None:
            raise ModelError(f"base {o['base']!r} of {folder} is not a pipeline folder")
        pipe = DiffusionSatPipeline.from_folder(base, device=device, dtype=dtype, lora_from=folder)
        return DiffusionSatGenerator(pipe, make_card(base, pipe, "diffusionsat", name=folder.name))
    root = pipeline_root(folder)
    if root is None:
        raise ModelError(f"{path} is not a DiffusionSat pipeline folder")
    pipe = DiffusionSatPipeline.from_folder(root, device=device, dtype=dtype)
    o = read_card_overrides(root)
    return DiffusionSatGenerator(pipe, make_card(root, pipe, "diffusionsat"), scheduler=o.get("scheduler"),
                                 steps=int(o.get("steps", DEFAULT_STEPS)), guidance=float(o.get("guidance", DEFAULT_GUIDANCE)))


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
                license="see https://zenodo.org/records/" + record,
                get_it=f"`satgeo models pull {name}`, or download the zip from https://zenodo.org/records/{record} "
                "and pass it (or its unpacked folder) to --model",
            )
        )


_register()
