"""Generators that evaluation scores: registry models (mask-conditioned families only) and the flat baseline."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from satgeo.errors import ModelError
from satgeo.models.base import Generator, ModelCard, RegionRequest, refuse_conditions

#: ``--model`` value of the flat-colour baseline (each class painted with its mean training colour)
FLAT = "flat"
#: model families whose generators take a class mask
MASK_FAMILIES = ("pix2pix", "controlnet")


class FlatColourGenerator:
    """Paints each mask class with one colour: the baseline any generator must beat."""

    def __init__(self, colours: np.ndarray, native_gsd: float, tile_size: int = 256, overlap: int = 64) -> None:
        self.colours = np.asarray(colours, np.uint8)
        self.card = ModelCard(name=FLAT, family=FLAT, native_gsd=float(native_gsd), tile_size=tile_size,
                              overlap=overlap, description="flat colour per class, fitted on the training chips")

    @property
    def model_hash(self) -> None:
        """No weights: the colours are fitted on the chips at each run."""
        return None

    def batched(self) -> FlatColourGenerator:
        return self

    def check_conditions(self, paths: Sequence[str]) -> None:
        refuse_conditions(self.card, paths)

    def generate_batch(self, masks: np.ndarray, noise_seeds: Sequence[int] | None = None, *,
                       origins: Sequence[tuple[int, int]] | None = None, field_seed: int = 0,
                       gsd: float | None = None) -> np.ndarray:
        return self.colours[np.minimum(np.asarray(masks), len(self.colours) - 1)]

    def generate_region(self, request: RegionRequest) -> np.ndarray:
        return self.generate_batch(request.masks[None])[0]


def fit_colours(images: list[np.ndarray], masks: list[np.ndarray], n_classes: int = 5) -> np.ndarray:
    """(n_classes, 3) mean RGB per class over ``images`` (unseen classes get the overall mean)."""
    pixels = np.concatenate([i.reshape(-1, 3) for i in images]).astype(np.float64)
    classes = np.concatenate([m.reshape(-1) for m in masks])
    out = np.tile(pixels.mean(axis=0), (n_classes, 1))
    for c in range(n_classes):
        sel = classes == c
        if sel.any():
            out[c] = pixels[sel].mean(axis=0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def check_model(name: str) -> None:
    """Refuse, before any work, a model that is unknown or of a family that does not take masks."""
    if name == FLAT:
        return
    from satgeo.models import registry

    path, family = registry.resolve(name)
    if family.name not in MASK_FAMILIES:
        raise ModelError(f"model {name} is a {family.name} model; evaluation needs a mask-conditioned generator "
                         f"({', '.join(MASK_FAMILIES)}) or {FLAT!r}")


def load_model(name: str, colours: np.ndarray | None = None, native_gsd: float | None = None) -> Generator:
    """The generator for ``--model NAME`` (``flat`` needs the fitted colours and the chips' GSD)."""
    check_model(name)
    if name == FLAT:
        if colours is None or native_gsd is None:
            raise ModelError("the flat baseline needs training chips to fit its colours")
        return FlatColourGenerator(colours, native_gsd)
    from satgeo.render.engine import get_generator

    return get_generator(name)


def model_label(name: str, gen: Generator, taken: Collection[str] = ()) -> str:
    """A JSON key for a model: its card name, with the path's folder name when another model took it."""
    label = gen.card.name
    return label if label not in taken else f"{label} ({Path(name).name})"
