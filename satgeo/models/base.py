"""What the render engine needs from a model family.

A generator turns the class mask of one *region* (a piece of the area on the model's
native grid) into RGB pixels. Each family keeps its own way of staying seamless inside a
region (pixel feathering for pix2pix, latent MultiDiffusion for diffusion models); the
engine cuts large areas into overlapping regions and feathers between them.

Noise must come from ``region_noise_seed`` style hashing of (seed, lattice, pixel
coordinates) so the same request gives the same pixels whatever order regions run in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from satgeo.geo.grid import Grid


@dataclass(frozen=True)
class ModelCard:
    """What a user needs to know before trusting a model's output."""

    name: str
    family: str  # "pix2pix" | "diffusionsat" | "controlnet"
    native_gsd: float  # ground metres per pixel the model was trained at
    tile_size: int  # pixels per side of one generated window
    overlap: int  # pixels shared by neighbouring windows
    input_classes: tuple[str, ...] = ("background", "building", "road", "water", "vegetation")
    training_data: str = ""
    license: str = ""
    attribution: str = ""
    description: str = ""
    max_gsd_ratio: float = 4.0  # refuse requests whose GSD is this far (either way) from native
    context: int = 0  # extra input pixels the model needs on each side of a window
    gsd_range: tuple[float, float] | None = None  # GSDs the model renders directly (None: native only)


@dataclass
class RegionRequest:
    """One region to generate, on the model's native grid."""

    masks: np.ndarray  # (H, W) uint8 class mask (satgeo.geo.masks classes)
    grid: Grid  # the region's grid, at the model's native GSD
    seed: int
    origin: tuple[int, int]  # (row, col) of the region's top-left pixel in the request's lattice
    prompt: str | None = None
    metadata: list[float] | None = None  # raw DiffusionSat metadata of the whole request, or None
    steps: int | None = None
    progress: Callable[[float], None] | None = None  # fraction 0..1 of this region
    cancel: threading.Event | None = None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class BatchGenerator(Protocol):
    """A generator the engine can hand whole window batches (pix2pix-like families).

    ``masks`` are (N, T + 2c, T + 2c) with c = ``card.context``; the result is (N, T, T, 3) uint8.
    ``origins`` are the lattice (row, col) of each mask's top-left pixel, ``field_seed`` seeds the
    global noise field, ``gsd`` is the lattice GSD; ``noise_seeds`` are per-window seeds.
    """

    card: ModelCard

    def generate_batch(self, masks: np.ndarray, noise_seeds: list[int] | None = None, *,
                       origins: Sequence[tuple[int, int]] | None = None, field_seed: int = 0,
                       gsd: float | None = None) -> np.ndarray: ...


@runtime_checkable
class Generator(Protocol):
    card: ModelCard

    def generate_region(self, request: RegionRequest) -> np.ndarray:
        """(H, W, 3) uint8 RGB for ``request.masks``; deterministic for (seed, origin, masks)."""
        ...
