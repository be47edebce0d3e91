"""What a render is asked to make. Shared by the CLI, the server and the batch engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from satgeo.geo.area import Area
from satgeo.geo.masks import Layer


@dataclass
class RenderRequest:
    area: Area
    layers: Sequence[Layer] = field(default_factory=list)  # footprints, roads, water, landuse
    model: str | None = None  # registry name or local path; None = the default pix2pix model
    prompt: str | None = None
    date: dt.date | None = None
    cloud_cover: float | None = None
    seed: int = 0
    gsd: float | None = None  # output ground GSD (m/px); None = the model's native GSD
    steps: int | None = None  # sampling steps (diffusion models; None: the model's default)
    guidance: float | None = None  # classifier-free guidance scale (diffusion models)
    scheduler: str | None = None  # sampler, one of satgeo.models.ds_config.SCHEDULERS (diffusion models)
    condition_rasters: Sequence[str] = field(default_factory=list)  # low-res imagery for conditional ControlNets
    device: str | None = None  # torch device the model runs on; None = the model family's choice
