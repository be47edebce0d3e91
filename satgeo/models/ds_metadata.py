"""DiffusionSat's 7 metadata numbers: normalisation and the ranges its checkpoints were trained on.

Raw metadata is [lon, lat, gsd, cloud_cover, year, month, day] with None (or NaN) for unknown;
normalized metadata is what the UNet's metadata MLPs take (unknown -> 0, as in training).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from satgeo.geo.metadata import FIELDS, Metadata

# Raw ranges DiffusionSat's training data covered (fMoW, Satlas, SpaceNet); outside them we warn.
TRAINING_RANGES = {
    "gsd": (0.1, 10.0),
    "cloud_cover": (0.0, 1.0),
    "year": (2000, 2024),
}


def normalize_metadata(raw: Sequence[float | None]) -> list[float]:
    """docs/architecture.md normalisation of raw [lon, lat, gsd, cloud_cover, year, month, day]; unknown -> 0.

    The formulas live in :mod:`satgeo.geo.metadata` (the GIS core); None/NaN mean unknown.
    """
    vals: dict[str, Any] = {}  # FIELDS name -> float (int for the date fields), as Metadata takes them
    for name, v in zip(FIELDS, raw):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            continue
        vals[name] = int(round(v)) if name in ("year", "month", "day") else float(v)
    return Metadata(**vals).normalized()


def check_metadata_range(raw: Sequence[float | None]) -> None:
    """Warn (not fail) when metadata lies outside what the released checkpoints saw."""
    values = dict(zip(FIELDS, raw))
    for key, (lo, hi) in TRAINING_RANGES.items():
        v = values.get(key)
        if v is not None and math.isfinite(v) and not lo <= v <= hi:
            warnings.warn(
                f"metadata {key}={v:g} is outside DiffusionSat's training range {lo:g}..{hi:g}; "
                "results may be poor",
                stacklevel=3,
            )
