"""The render engine's view of a DiffusionSat / SD (+ ControlNet) pipeline: regions -> pixels.

A region is denoised as one latent (MultiDiffusion over model windows, :mod:`satgeo.models.mosaic`).
Each window gets the metadata of its own extent (centre lon/lat, *ground* GSD); a ControlNet gets
either the map drawn in its style or, for DiffusionSat's super-resolution ControlNets, the
``--condition-raster`` images reprojected onto the region (:mod:`satgeo.models.condition`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from satgeo.geo.grid import Grid
from satgeo.hashing import file_sha256
from satgeo.models.base import ModelCard, RegionRequest
from satgeo.models.condition import MAP, ConditionSpec, check_inputs, read_onto
from satgeo.models.ds_config import SatgeoConfig, read_satgeo_config
from satgeo.models.ds_layout import find_unet_dir, training_window
from satgeo.models.ds_metadata import check_metadata_range, normalize_metadata
from satgeo.models.ds_pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, DiffusionSatPipeline
from satgeo.models.mosaic import Window, decode_tiled, denoise_region, hash_text, lattice_noise, plan_windows, to_uint8
from satgeo.models.satunet import WEIGHT_NAMES

REGION_WINDOWS = 2  # regions handed to the engine span this many model windows per side


def window_lonlat(grid: Grid, row: float, col: float) -> tuple[float, float]:
    """lon/lat (EPSG:4326) of pixel position (row, col) of ``grid``."""
    from pyproj import Transformer

    x, y = grid.transform @ (col, row)
    t = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(x, y)
    return float(lon), float(lat)


def default_caption(lon: float, lat: float, mask: np.ndarray | None = None, gsd: float | None = None,
                    style: str = "fmow") -> str:
    """The caption the checkpoint was trained with, filled from the map where possible."""
    from satgeo.geo.caption import caption_for, fmow_class_for, geosynth_caption

    if style == "geosynth":
        return geosynth_caption(mask, gsd)
    if style == "texas":
        return "a satlas satellite image of houses"
    cls = fmow_class_for(mask, gsd) if mask is not None and gsd else "single-unit residential"
    return caption_for((lon, lat), cls)


def model_window(pipe: DiffusionSatPipeline, config: SatgeoConfig) -> tuple[int, int]:
    """(window, overlap) in pixels for a pipeline and its ``satgeo.json`` (see ds_layout)."""
    if config.window is not None:
        window = config.window
    else:
        window = training_window([pipe.root] if pipe.root else [], dict(pipe.unet.config), pipe.vae_scale)[0]
    overlap = config.window_overlap
    return window, overlap if overlap is not None else window // 4


def make_card(root: Path, pipe: DiffusionSatPipeline, family: str, config: SatgeoConfig, name: str | None = None,
              window: int | None = None) -> ModelCard:
    """The engine's card: its "tile" is a region of REGION_WINDOWS^2 model windows blended in latent space.

    ``config`` is the model's ``satgeo.json`` (over any built-in defaults); ``window`` overrides its window.
    """
    o = config if window is None else replace(config, window=window)
    window, w_overlap = model_window(pipe, o)
    k = o.region_windows or REGION_WINDOWS
    tile = o.tile_size or window + (k - 1) * (window - w_overlap)
    return ModelCard(
        name=o.name or name or root.name,
        family=family,
        native_gsd=o.native_gsd or 0.5,
        tile_size=tile,
        overlap=o.overlap if o.overlap is not None else w_overlap,
        training_data=o.training_data if o.training_data is not None else "fMoW, Satlas, SpaceNet (DiffusionSat)",
        license=o.license or "",
        attribution=o.attribution if o.attribution is not None else "Khanna et al., DiffusionSat, ICLR 2024",
        description=o.description if o.description is not None
        else "DiffusionSat: caption + metadata -> satellite image",
        max_gsd_ratio=o.max_gsd_ratio or 20.0,
    )


class DiffusionSatGenerator:
    """The render engine's view of a DiffusionSat (optionally ControlNet) pipeline."""

    family = "diffusionsat"

    def __init__(self, pipe: DiffusionSatPipeline, card: ModelCard, conditioning: str | dict[str, Any] | None = None,
                 guidance: float = DEFAULT_GUIDANCE, steps: int = DEFAULT_STEPS, scheduler: str | None = None,
                 window: int | None = None, spec: ConditionSpec = MAP, caption_style: str = "fmow",
                 config: SatgeoConfig | None = None) -> None:
        self.pipe, self.card = pipe, card
        self.conditioning = conditioning
        self.guidance, self.steps, self.scheduler = guidance, steps, scheduler
        self.controlnet_dir: Path | None = None
        self.spec = spec
        self.caption_style = caption_style
        o = config if config is not None else read_satgeo_config(pipe.root)
        if window is not None:
            o = replace(o, window=window)
        self.window, self.window_overlap = model_window(pipe, o)
        pipe.window = self.window
        self._lock = threading.Lock()
        self._hash: str | None = None

    def batched(self) -> None:
        """Regions only: each one is denoised as one latent."""
        return None

    @property
    def model_hash(self) -> str:
        """sha256 over the UNet (and ControlNet) weight files' sha256s, computed once."""
        if self._hash is None:
            h = hashlib.sha256()
            dirs = []
            if self.pipe.root is not None:
                dirs.append(find_unet_dir(self.pipe.root))
            if self.controlnet_dir is not None:
                dirs.append(self.controlnet_dir)
            for d in dirs:
                f = next((d / n for n in WEIGHT_NAMES if (d / n).exists()), None)
                if f is not None:
                    h.update(file_sha256(f).encode())
            self._hash = h.hexdigest()
        return self._hash

    def check_conditions(self, paths: Sequence[str]) -> None:
        """Refuse --condition-raster inputs this model cannot use (one-line InputError), before compute."""
        check_inputs(self.spec, list(paths), self.card.name)

    def window_metadata(self, req: RegionRequest, windows: Sequence[Window], pad_top: int,
                        pad_left: int) -> list[list[float]]:
        """Normalized metadata per window (see ``window_metadata_raw``)."""
        return [normalize_metadata(v) for v in self.window_metadata_raw(req, windows, pad_top, pad_left)]

    def window_metadata_raw(self, req: RegionRequest, windows: Sequence[Window], pad_top: int,
                            pad_left: int) -> list[list[float | None]]:
        """Raw metadata per window: the request's values with the window centre's lon/lat and the
        ground GSD there (a Web Mercator pixel covers cos(lat) of its size on the ground)."""
        from satgeo.geo.metadata import ground_gsd

        raw: list[float | None] = list(req.metadata) if req.metadata is not None else [None] * 7
        raw = (raw + [None] * 7)[:7]
        vs = self.pipe.vae_scale
        raws: list[list[float | None]] = []
        for w in windows:
            cr = w.row * vs + w.size * vs / 2 - pad_top
            cc = w.col * vs + w.size * vs / 2 - pad_left
            lon, lat = window_lonlat(req.grid, cr, cc)
            vals = [lon, lat, ground_gsd(req.grid.crs, req.grid.gsd, lon, lat), *raw[3:]]
            raws.append(vals)
        check_metadata_range([None, None, raws[0][2] if raws else None, *raw[3:]])
        return raws

    def _raster_control(self, req: RegionRequest, ph: int, pw: int, pad_top: int, pad_left: int,
                        raws: Sequence[Sequence[float | None]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditioning rasters on the padded region grid -> (control, per-window conditioning metadata)."""
        spec = self.spec
        paths = list(req.condition_rasters)
        rasters = check_inputs(spec, paths, self.card.name)
        g = req.grid
        origin = g.transform @ (-pad_left, -pad_top)
        s = spec.scale
        cgrid = Grid(g.crs, type(g.transform)(g.gsd * s, 0.0, origin[0], 0.0, -g.gsd * s, origin[1]), pw // s, ph // s)
        frames = [read_onto(r, spec, cgrid) for r in rasters]
        if spec.temporal:
            control = torch.from_numpy(np.stack(frames, axis=1))[None]  # (1, C, T, H, W)
        else:
            control = torch.from_numpy(np.concatenate(frames, axis=0))[None]  # (1, C*T, H, W)
        cond_md = []
        for vals in raws:
            lon, lat, win_gsd = vals[0], vals[1], vals[2]
            assert lon is not None and lat is not None and win_gsd is not None  # window_metadata_raw fills them
            per = []
            for r in rasters:
                gsd = r.ground_gsd(lon, lat) if spec.cond_gsd == "native" else win_gsd * s
                cc = r.cloud_cover if r.cloud_cover is not None else vals[3]
                y, m, d = (r.date.year, r.date.month, r.date.day) if r.date else tuple(vals[4:7])
                per.append(normalize_metadata([lon, lat, gsd, cc, y, m, d]))
            cond_md.append(per)
        cm = torch.tensor(cond_md, dtype=torch.float32)  # (windows, frames, 7)
        cm = cm.permute(0, 2, 1) if (spec.temporal or len(rasters) > 1) else cm[:, 0]
        return control.to(self.pipe.plan.device), cm.to(self.pipe.plan.device)

    def generate_region(self, req: RegionRequest, order: Sequence[int] | None = None) -> np.ndarray:
        h, w = req.masks.shape
        vs = self.pipe.vae_scale
        unit = vs * self.pipe.latent_multiple * max(1, self.spec.scale)
        tile = self.window
        row0, col0 = req.origin
        # align the region to the global latent lattice, then pad to whole windows
        pad_top, pad_left = row0 % vs, col0 % vs
        ph = max(tile, -(-(h + pad_top) // unit) * unit)
        pw = max(tile, -(-(w + pad_left) // unit) * unit)
        lh, lw = ph // vs, pw // vs
        windows = plan_windows(lh, lw, tile // vs, self.window_overlap // vs)
        salt = hash_text(req.lattice_key or "")
        noise = lattice_noise(req.seed, (row0 - pad_top) // vs, (col0 - pad_left) // vs, lh, lw, salt=salt)[None]
        prompt = req.prompt
        if prompt is None:
            lon, lat = window_lonlat(req.grid, h / 2, w / 2)
            prompt = default_caption(lon, lat, req.masks, req.grid.gsd, self.caption_style)
        raws = self.window_metadata_raw(req, windows, pad_top, pad_left)
        md_t = self.pipe.metadata_tensor([normalize_metadata(v) for v in raws], len(windows))
        control, cond_md = None, md_t
        if self.pipe.controlnet is not None and self.spec.kind == "raster":
            control, cond_md = self._raster_control(req, ph, pw, pad_top, pad_left, raws)
        elif self.pipe.controlnet is not None:
            from satgeo.models.conditioning import render_conditioning

            padded = np.zeros((ph, pw), dtype=np.uint8)
            padded[pad_top : pad_top + h, pad_left : pad_left + w] = req.masks
            image = render_conditioning(padded, self.conditioning or "satgeo-mask")
            control = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(self.pipe.plan.device)
        steps = req.steps or self.steps
        guidance = req.guidance if req.guidance is not None else self.guidance
        with self._lock, torch.inference_mode():
            embeds = self.pipe.encode_prompts([prompt])
            latents = denoise_region(
                self.pipe, noise, windows, lambda idx: embeds.expand(len(idx), -1, -1), md_t, steps, guidance,
                scheduler=req.scheduler or self.scheduler, control=control, cond_metadata=cond_md,
                order=order, progress=req.progress, cancel=req.cancel,
            )
            with self.pipe.autocast():
                img = decode_tiled(self.pipe, latents)
        return to_uint8(img)[pad_top : pad_top + h, pad_left : pad_left + w]
