"""The render engine's public entry points (used by the CLI, the server and the batch engine).

Pixels are a function of (model, layers, seed, parameters) and the *global* window
lattice of the model's native grid, not of the area that was asked for: any area, chunk
or metatile is an exact crop of the same virtual image, so results are order-independent
and chunk borders are seamless.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from satgeo.geo.grid import Grid
from satgeo.render.request import RenderRequest

Progress = Callable[[float], None]


@dataclass
class RenderResult:
    path: Path
    grid: Grid
    tags: dict  # provenance tags written to the COG
    seconds: float


def render_to_cog(
    request: RenderRequest,
    out_path: str | Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    stac: bool = False,
) -> RenderResult:
    """Render ``request.area`` at ``request.gsd`` into a COG at ``out_path`` (atomic, streamed)."""
    raise NotImplementedError  # implemented by the pix2pix/render-engine work


def render_grid(
    request: RenderRequest,
    grid: Grid,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Render onto an explicit grid (server metatiles, batch chunks): (3, H, W) uint8."""
    raise NotImplementedError  # implemented by the pix2pix/render-engine work
