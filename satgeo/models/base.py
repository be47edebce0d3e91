"""What the render engine needs from a model family: the whole contract, typed.

A generator turns the class mask of one *region* (a piece of the area on the model's
native grid) into RGB pixels. Each family keeps its own way of staying seamless inside a
region (pixel feathering for pix2pix, latent MultiDiffusion for diffusion models); the
engine cuts large areas into overlapping regions and feathers between them.

Everything the engine, the CLI and the server call is declared here: ``Generator`` (``card``,
``model_hash``, ``generate_region``, ``batched`` and ``check_conditions``) and, for families that
take whole window batches, ``BatchGenerator``. Callers ask ``gen.batched()`` instead of probing
attributes.

Noise must come from hashing (seed, lattice, pixel coordinates) (``satgeo.models.noise_field``
``window_noise_seed``), so the same request gives the same pixels whatever order regions run in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from satgeo.errors import InputError
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
    """One region to generate, on the model's native grid.

    The optional fields left at None fall back to the model's own defaults (``satgeo.json`` for
    diffusion models): ``steps``, ``guidance`` and ``scheduler`` are read by the diffusion
    families; ``noise_seed`` by pix2pix (its per-window dropout seed, hashed from ``seed``,
    ``lattice_key`` and ``origin`` when None); ``lattice_key`` names the global lattice so
    noise differs between lattices that share pixel coordinates.
    """

    masks: np.ndarray  # (H, W) uint8 class mask (satgeo.geo.masks classes)
    grid: Grid  # the region's grid, at the model's native GSD
    seed: int
    origin: tuple[int, int]  # (row, col) of the region's top-left pixel in the request's lattice
    prompt: str | None = None
    metadata: Sequence[float | None] | None = None  # raw DiffusionSat metadata of the whole request, or None
    steps: int | None = None  # denoising steps (diffusion families)
    guidance: float | None = None  # classifier-free guidance scale (diffusion families)
    scheduler: str | None = None  # sampler name, see ``satgeo.models.ds_speed.make_scheduler``
    noise_seed: int | None = None  # pix2pix: this window's 63-bit dropout-noise seed
    lattice_key: str | None = None  # ``satgeo.render.plan.Lattice.key`` of the request's lattice
    condition_rasters: tuple[str, ...] = ()  # low-res imagery for conditional (super-resolution) ControlNets
    progress: Callable[[float], None] | None = None  # fraction 0..1 of this region
    cancel: threading.Event | None = None


class Generator(Protocol):
    """A loaded model, as the render engine, the server and evaluation use it."""

    @property
    def card(self) -> ModelCard: ...

    @property
    def model_hash(self) -> str | None:
        """sha256 identifying the weights (recorded in provenance tags); None for fitted baselines."""
        ...

    def generate_region(self, request: RegionRequest) -> np.ndarray:
        """(H, W, 3) uint8 RGB for ``request.masks``; deterministic for (seed, origin, masks)."""
        ...

    def batched(self) -> BatchGenerator | None:
        """This generator as a ``BatchGenerator`` when it takes whole window batches, else None."""
        ...

    def check_conditions(self, paths: Sequence[str]) -> None:
        """Refuse ``--condition-raster`` inputs this model cannot use (one-line InputError), before compute."""
        ...


def refuse_conditions(card: ModelCard, paths: Sequence[str]) -> None:
    """``check_conditions`` of the families that take no conditioning rasters."""
    if paths:
        raise InputError(f"model {card.name!r} takes no --condition-raster (only DiffusionSat ControlNets do)")


class BatchGenerator(Generator, Protocol):
    """A generator the engine can hand whole window batches (pix2pix-like families).

    ``masks`` are (N, T + 2c, T + 2c) with c = ``card.context``; the result is (N, T, T, 3) uint8.
    ``origins`` are the lattice (row, col) of each mask's top-left pixel, ``field_seed`` seeds the
    global noise field, ``gsd`` is the lattice GSD; ``noise_seeds`` are per-window seeds.
    """

    def generate_batch(self, masks: np.ndarray, noise_seeds: Sequence[int] | None = None, *,
                       origins: Sequence[tuple[int, int]] | None = None, field_seed: int = 0,
                       gsd: float | None = None) -> np.ndarray: ...
