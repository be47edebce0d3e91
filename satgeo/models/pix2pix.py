"""The pix2pix family: class mask -> RGB with a U-Net generator.

Checkpoints satgeo reads:

* our own folder: ``model.safetensors`` (generator weights, fp16 or fp32) and
  ``config.json`` (architecture, input encoding, model card);
* the reference implementation's ``latest_net_G.pth`` (or any ``*_net_G.pth``) state dict,
  alone or in a folder with an optional ``config.json``; the architecture is read off
  the keys (ngf, input channels, depth, batch vs instance norm).

Input encodings: ``onehot`` (one {-1, 1} channel per mask class; satgeo's own models) and
``palette`` (an RGB rendering of the mask, for reference models trained on map images).

Architectures: ``unet`` (the reference U-Net; dropout noise seeded per window) and ``local``
(``LocalGenerator``: translation-consistent, fed ``context`` pixels around each window, a GSD
channel and channels of the global noise field; see docs/render.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satgeo.atomic import atomic_path, write_text
from satgeo.errors import ModelError
from satgeo.hashing import file_sha256
from satgeo.models.base import ModelCard, RegionRequest, refuse_conditions
from satgeo.models.noise_field import field_noise, window_noise_seed
from satgeo.models.pix2pix_nets import LocalGenerator, UNetGenerator
from satgeo.models.registry import Family, ModelEntry, register_entry, register_family

FAMILY = "pix2pix"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
DEFAULT_DIR = Path(__file__).parent / "weights" / "pix2pix-banepa"
#: the previous default (a U-Net blend tuned for SSIM), kept as the baseline the new one is measured against
PREVIOUS_DIR = Path(__file__).parent / "weights" / "pix2pix-banepa-v1"
CLASSES = ("background", "building", "road", "water", "vegetation")
# Palette for reference checkpoints fed with RGB map renderings (class order as CLASSES).
DEFAULT_PALETTE = ((235, 235, 230), (200, 120, 90), (255, 255, 255), (150, 190, 230), (170, 210, 160))
ARCHS = ("unet", "local")


def gsd_code(gsd: float) -> float:
    """The GSD input channel's value: log2(gsd / 0.125 m) / 4 (0 at drone scale, ~1 at 2 m)."""
    return math.log2(gsd / 0.125) / 4.0


@dataclass
class Pix2PixConfig:
    """Architecture, input encoding and card of one pix2pix checkpoint (``config.json``)."""

    name: str = "pix2pix"
    input_nc: int = len(CLASSES)
    output_nc: int = 3
    num_downs: int = 8
    ngf: int = 32
    norm: str = "instance"
    dropout: bool = True
    encoding: str = "onehot"  # "onehot" | "palette"
    classes: tuple[str, ...] = CLASSES
    palette: tuple[tuple[int, int, int], ...] = DEFAULT_PALETTE
    native_gsd: float = 0.13
    tile_size: int = 256
    overlap: int = 64
    training_data: str = ""
    license: str = ""
    attribution: str = ""
    description: str = ""
    max_gsd_ratio: float = 4.0
    arch: str = "unet"
    chans: tuple[int, ...] = (16, 32, 64, 128, 256)  # local: channel widths per level
    context: int = 0  # local: input pixels fed around each window (>= the receptive radius)
    gsd_input: bool = False  # local: one channel of gsd_code(lattice GSD)
    gsd_range: tuple[float, float] | None = None  # ground GSDs rendered without resampling
    noise_white: int = 0  # local: white noise-field channels
    noise_smooth: int = 0  # local: smooth noise-field channels
    noise_cell: int = 32  # local: smooth-noise grid, pixels
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        self.palette = tuple((int(c[0]), int(c[1]), int(c[2])) for c in self.palette)
        self.chans = tuple(int(c) for c in self.chans)
        if self.gsd_range is not None:
            lo, hi = (float(v) for v in self.gsd_range)
            if not 0 < lo <= self.native_gsd <= hi:
                raise ModelError(f"pix2pix config: gsd_range {self.gsd_range} must hold native_gsd {self.native_gsd}")
            self.gsd_range = (lo, hi)
        if self.encoding not in ("onehot", "palette"):
            raise ModelError(f"pix2pix config: encoding must be 'onehot' or 'palette', got {self.encoding!r}")
        if self.arch not in ARCHS:
            raise ModelError(f"pix2pix config: arch must be one of {ARCHS}, got {self.arch!r}")
        want = (len(self.classes) if self.encoding == "onehot" else 3) + self.side_nc
        if self.input_nc != want:
            raise ModelError(
                f"pix2pix config: {self.encoding} encoding needs {want} input channels, the model has {self.input_nc}"
            )

    @property
    def side_nc(self) -> int:
        """Input channels besides the mask: the GSD channel and the noise field."""
        return int(self.gsd_input) + self.noise_white + self.noise_smooth

    @property
    def multiple(self) -> int:
        """Window sides (and origins, for translation consistency) must be multiples of this."""
        return 2 ** (len(self.chans) - 1 if self.arch == "local" else self.num_downs)

    @classmethod
    def from_json(cls, path: Path) -> Pix2PixConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read pix2pix config {path}: {exc}") from None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as exc:
            raise ModelError(f"bad pix2pix config {path}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["family"] = FAMILY
        return d

    def card(self) -> ModelCard:
        return ModelCard(
            name=self.name, family=FAMILY, native_gsd=self.native_gsd, tile_size=self.tile_size,
            overlap=self.overlap, input_classes=self.classes, training_data=self.training_data,
            license=self.license, attribution=self.attribution, description=self.description,
            max_gsd_ratio=self.max_gsd_ratio, context=self.context, gsd_range=self.gsd_range,
        )

    def build(self) -> UNetGenerator | LocalGenerator:
        if self.arch == "local":
            return LocalGenerator(self.input_nc, self.output_nc, self.chans)
        return UNetGenerator(self.input_nc, self.output_nc, self.num_downs, self.ngf, self.norm, self.dropout)


# ---------------------------------------------------------------- state dicts


def _strip_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def infer_config(sd: dict[str, torch.Tensor]) -> Pix2PixConfig:
    """Architecture of a reference-layout generator state dict, read off its keys and shapes."""
    if "model.model.0.weight" not in sd:
        raise ModelError("not a pix2pix U-Net generator state dict (no 'model.model.0.weight' key)")
    first = sd["model.model.0.weight"]
    ngf, input_nc = int(first.shape[0]), int(first.shape[1])
    # the outermost block holds its submodule at index 1, every inner block at index 3
    prefix, depth = "model.model.1.model.", 0
    while any(k.startswith(prefix) for k in sd):
        depth += 1
        prefix = prefix + "3.model."
    norm = "batch" if any(k.endswith("running_mean") for k in sd) else "instance"
    out_keys = [k for k in sd if re.fullmatch(r"model\.model\.3\.weight", k)]
    output_nc = int(sd[out_keys[0]].shape[1]) if out_keys else 3
    encoding = "onehot" if input_nc == len(CLASSES) else "palette"
    if encoding == "palette" and input_nc != 3:
        raise ModelError(f"pix2pix generator takes {input_nc} input channels; satgeo feeds 3 (RGB map) or 5 (classes)")
    return Pix2PixConfig(
        name="pix2pix", input_nc=input_nc, output_nc=output_nc, num_downs=depth + 1, ngf=ngf, norm=norm,
        encoding=encoding,
    )


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a corrupt file to the user
        raise ModelError(f"cannot read checkpoint {path}: corrupt or not a PyTorch/safetensors file ({type(exc).__name__})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError(f"checkpoint {path} does not hold a state dict of tensors")
    return _strip_prefix(sd)


def _weights_path(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix in (".safetensors", ".pth", ".pt") else None
    if (path / WEIGHTS_FILE).is_file():
        return path / WEIGHTS_FILE
    for name in ("latest_net_G.pth",):
        if (path / name).is_file():
            return path / name
    found = sorted(path.glob("*_net_G.pth"))
    return found[0] if found else None


def detect(path: Path) -> bool:
    """Does ``path`` hold a pix2pix generator checkpoint?"""
    path = Path(path)
    weights = _weights_path(path)
    if weights is None:
        return False
    if weights.suffix == ".pth" or weights.suffix == ".pt":
        return True
    cfg = weights.parent / CONFIG_FILE
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("family") == FAMILY
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------- the generator


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the hardware does it natively (CUDA, CPUs with AMX), fp32 elsewhere."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        if torch.cpu._is_amx_tile_supported():
            return torch.bfloat16
    except AttributeError:
        pass
    return torch.float32


def input_lut(config: Pix2PixConfig) -> np.ndarray:
    """(256, C) float32: the mask channels of the model input for each mask value (unknown -> background)."""
    idx = np.arange(256)
    if config.encoding == "onehot":
        n = config.input_nc - config.side_nc
        lut = -np.ones((256, n), np.float32)
        lut[idx, np.where(idx < n, idx, 0)] = 1.0
        return lut
    pal = np.array(config.palette, np.float32) / 127.5 - 1.0
    return pal[np.where(idx < len(pal), idx, 0)]


def side_channels(config: Pix2PixConfig, h: int, w: int, gsds: Sequence[float], field_seeds: Sequence[int],
                  origins: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """(N, side_nc, h, w) float32 input channels besides the mask, one window per entry: the GSD channel
    (``gsd_code`` of its GSD) and its noise field (``field_seeds``) sampled at ``origins`` (lattice pixels)."""
    if not config.side_nc:
        return None
    parts = []
    if config.gsd_input:
        parts.append(np.stack([np.full((1, h, w), gsd_code(g), np.float32) for g in gsds]))
    if config.noise_white or config.noise_smooth:
        parts.append(np.concatenate([field_noise(int(sd), [o], h, w, config.noise_white, config.noise_smooth,
                                                 config.noise_cell) for sd, o in zip(field_seeds, origins)]))
    return np.concatenate(parts, axis=1)


def encode_masks(masks: np.ndarray, lut: np.ndarray) -> torch.Tensor:
    """(N, H, W) uint8 masks -> (N, C, H, W) float32 model input."""
    x = lut[masks]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class Pix2PixGenerator:
    """A loaded pix2pix model that turns class masks into RGB windows."""

    def __init__(
        self, net: torch.nn.Module, config: Pix2PixConfig, weights_path: Path | None = None,
        device: str | torch.device | None = None, dtype: torch.dtype | None = None,
    ) -> None:
        self.config = config
        self.card = config.card()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or default_dtype(self.device)
        # whole-network bf16 (not autocast): no per-call weight casts; channels_last suits oneDNN/cuDNN
        self.net: torch.nn.Module = net.eval().to(self.device, self.dtype)
        self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub omits it
        self.weights_path = weights_path
        self._hash: str | None = None
        self._lut = input_lut(config)

    @property
    def model_hash(self) -> str:
        """sha256 of the weights file (of the weights' bytes for in-memory models)."""
        if self._hash is None:
            if self.weights_path is not None and self.weights_path.is_file():
                self._hash = file_sha256(self.weights_path)
            else:
                h = hashlib.sha256()
                for k, v in sorted(self.net.state_dict().items()):
                    h.update(k.encode())
                    h.update(v.detach().cpu().float().numpy().tobytes())
                self._hash = h.hexdigest()
        return self._hash

    def encode(self, masks: np.ndarray) -> torch.Tensor:
        """(N, H, W) uint8 masks -> (N, C, H, W) float32 model input."""
        return encode_masks(masks, self._lut)

    def model_input(self, masks: np.ndarray, origins: Sequence[tuple[int, int]] | None = None,
                    field_seed: int = 0, gsd: float | None = None) -> torch.Tensor:
        """(N, C, H, W) float32 network input: the encoded masks, then the GSD and noise-field channels."""
        n, h, w = masks.shape
        x = self.encode(masks)
        side = side_channels(self.config, h, w, [gsd or self.config.native_gsd] * n, [field_seed] * n,
                             list(origins) if origins is not None else [(0, 0)] * n)
        return x if side is None else torch.cat([x, torch.from_numpy(side)], 1)

    def run_net(self, x: torch.Tensor, noise_seeds: Sequence[int] | None = None,
                net: torch.nn.Module | None = None) -> torch.Tensor:
        """The network (``self.net`` unless ``net``) on ``x``; the U-Net takes its per-window dropout seeds."""
        net = self.net if net is None else net
        if self.config.arch == "local":
            return net(x)
        return net(x, list(noise_seeds) if noise_seeds is not None and self.config.dropout else None)

    def generate_batch(
        self, masks: np.ndarray, noise_seeds: Sequence[int] | None = None, *,
        origins: Sequence[tuple[int, int]] | None = None, field_seed: int = 0, gsd: float | None = None,
    ) -> np.ndarray:
        """(N, H, W) uint8 masks -> (N, H - 2c, W - 2c, 3) uint8 RGB, c = ``config.context``.

        ``noise_seeds`` (one per window) switches on the U-Net's seeded dropout noise. The local
        architecture samples the noise field of ``field_seed`` at ``origins`` (the lattice pixel
        of each mask's top-left corner, context included) and is told the lattice ``gsd``.
        """
        masks = np.asarray(masks, np.uint8)
        m = self.config.multiple
        n, h, w = masks.shape
        c = self.config.context
        if min(h, w) <= 2 * c:
            raise ValueError(f"masks of {w}x{h} px leave nothing inside the model's {c} px context")
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:  # reflect-pad to what the U-Net can halve num_downs times
            masks = np.pad(masks, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        x = self.model_input(masks, origins, field_seed, gsd).to(self.device, self.dtype)
        with torch.inference_mode():
            y = self.run_net(x.contiguous(memory_format=torch.channels_last), noise_seeds)
        y = ((y.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
        out = y.permute(0, 2, 3, 1).cpu().numpy()
        return np.ascontiguousarray(out[:, c:h - c, c:w - c])

    def batched(self) -> Pix2PixGenerator:
        return self

    def check_conditions(self, paths: Sequence[str]) -> None:
        refuse_conditions(self.card, paths)

    def generate_region(self, request: RegionRequest) -> np.ndarray:
        seed = request.noise_seed
        if seed is None:
            key = request.lattice_key or f"{request.grid.crs.to_string()}|{request.grid.gsd:.6f}"
            seed = window_noise_seed(request.seed, key, *request.origin)
        out = self.generate_batch(request.masks[None], [seed])[0]
        if request.progress is not None:
            request.progress(1.0)
        return out

    def save(self, folder: str | Path, half: bool = True) -> Path:
        return save_pix2pix(self.net, self.config, folder, half=half)


def save_pix2pix(net: torch.nn.Module, config: Pix2PixConfig, folder: str | Path, half: bool = True) -> Path:
    """Write ``model.safetensors`` (+ ``config.json``) into ``folder``; fp16 weights by default."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
          for k, v in net.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(sd, str(tmp), metadata={"family": FAMILY, "name": config.name})
    write_text(folder / CONFIG_FILE, json.dumps(config.to_json(), indent=2) + "\n")
    return folder


def load_pix2pix(path: str | Path, device: str | None = None, dtype: torch.dtype | None = None) -> Pix2PixGenerator:
    """Load a pix2pix checkpoint (our folder, a safetensors file, or a reference ``*_net_G.pth``)."""
    path = Path(path)
    weights = _weights_path(path)
    if weights is None:
        raise ModelError(f"{path} holds no pix2pix weights ({WEIGHTS_FILE} or *_net_G.pth)")
    sd = _load_state(weights)
    cfg_path = weights.parent / CONFIG_FILE
    if cfg_path.is_file():
        config = Pix2PixConfig.from_json(cfg_path)
    elif weights.suffix == ".safetensors":
        raise ModelError(f"{weights} has no {CONFIG_FILE} beside it (architecture and model card)")
    else:
        config = infer_config(sd)
    net = config.build()
    if config.norm == "instance":  # old reference checkpoints carry unused instance-norm buffers
        sd = {k: v for k, v in sd.items() if not re.search(r"(running_mean|running_var|num_batches_tracked)$", k)}
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "mismatch"
        raise ModelError(f"checkpoint {weights} does not match its pix2pix config: {first}") from None
    return Pix2PixGenerator(net, config, weights, device=device, dtype=dtype)


def _load(path: Path, device: str | None = None, dtype: torch.dtype | None = None) -> Pix2PixGenerator:
    return load_pix2pix(path, device=device, dtype=dtype)


register_family(Family(FAMILY, detect, _load))
register_entry(
    ModelEntry(
        name="pix2pix-banepa",
        family=FAMILY,
        description="default pix2pix model: class masks -> drone-style RGB at 0.13 m (Banepa, Nepal), "
        "satellite-style at 0.5-2 m (Dubai); translation-consistent",
        path=DEFAULT_DIR,
    )
)
register_entry(
    ModelEntry(
        name="pix2pix-banepa-v1",
        family=FAMILY,
        description="the previous default: U-Net blend tuned for SSIM on Banepa building masks (soft, muted; "
        "shows a window lattice on uniform areas)",
        path=PREVIOUS_DIR,
    )
)
