"""Helpers for the pair-export tests: `satgeo mask` on a chip's grid, and the split check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from cli_support import run_cli


def mask_on_grid_of(chip: Path, layers: list[str], out: Path) -> np.ndarray:
    """`satgeo mask LAYERS --bbox <chip bounds> --crs C --work-crs C --gsd G` read back; the grid must match."""
    with rasterio.open(chip) as src:
        crs, bounds, gsd, transform, shape = src.crs.to_string(), src.bounds, src.res[0], src.transform, src.shape
    code, _, err = run_cli("mask", *layers, "--bbox", *map(repr, bounds), "--crs", crs, "--work-crs", crs,
                        "--gsd", repr(gsd), "-q", "-o", str(out))
    if code == 2 and "intersects the area" in err:
        return np.zeros(shape, np.uint8)  # `satgeo mask` refuses an area with no feature: all background
    assert code == 0, err
    with rasterio.open(out) as src:
        assert src.transform == transform and src.shape == shape, (src.transform, transform)
        return src.read(1)


def touching(rows: list[tuple[str, str, tuple[float, float, float, float]]], gsd: float) -> list[tuple[str, str]]:
    """(train id, val id) whose closed footprints meet or overlap (bounds snapped to whole pixels)."""
    rects = [(i, s, tuple(round(v / gsd) for v in b)) for i, s, b in rows]
    val = [(i, b) for i, s, b in rects if s == "val"]
    out = []
    for i, s, (w, so, e, n) in rects:
        if s != "train":
            continue
        out += [(i, j) for j, (w2, s2, e2, n2) in val if w <= e2 and w2 <= e and so <= n2 and s2 <= n]
    return out
