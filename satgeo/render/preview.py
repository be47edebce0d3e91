"""PNG previews: footprints | synthetic render | (optional) real imagery, side by side, same grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from satgeo.geo.grid import Grid
from satgeo.geo.masks import PALETTE, Layer, rasterize_layers


def _read_on(path: str | Path, grid: Grid) -> np.ndarray:
    """(3, H, W) uint8 of a raster (or a mosaic of rasters) resampled onto ``grid``."""
    out = np.zeros((3, grid.height, grid.width), np.uint8)
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    for p in paths:
        with rasterio.open(p) as src:
            part = np.zeros_like(out)
            reproject(
                src.read([1, 2, 3]), part, src_transform=src.transform, src_crs=src.crs,
                dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.average, src_nodata=None,
                dst_nodata=0,
            )
            hit = part.any(axis=0)
            out[:, hit] = part[:, hit]
    return out


def preview_png(
    render_path: str | Path, out_png: str | Path, layers: Sequence[Layer] = (), reference: str | Path | None = None,
    max_side: int = 900, gap: int = 8,
) -> Path:
    """Write a PNG of [footprint mask] [render] [reference] at most ``max_side`` px tall."""
    with rasterio.open(render_path) as src:
        scale = max(1.0, max(src.width, src.height) / max_side)
        w, h = int(round(src.width / scale)), int(round(src.height / scale))
        grid = Grid(src.crs, src.transform @ src.transform.scale(src.width / w, src.height / h), w, h)
        synth = src.read([1, 2, 3], out_shape=(3, h, w), resampling=Resampling.average)
    panels = []
    if layers:
        mask = rasterize_layers(list(layers), grid)
        lut = np.zeros((256, 3), np.uint8)
        lut[:] = (40, 40, 40)
        for c, rgba in PALETTE.items():
            lut[c] = rgba[:3] if c else (40, 40, 40)
        panels.append(lut[mask].transpose(2, 0, 1))
    panels.append(synth)
    if reference is not None:
        panels.append(_read_on(reference, grid))
    sep = np.full((3, h, gap), 255, np.uint8)
    img = np.concatenate([x for p in panels for x in (p, sep)][:-1], axis=2)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(out_png, "w", driver="PNG", width=img.shape[2], height=img.shape[1], count=3,
                       dtype="uint8") as dst:
        dst.write(img)
    aux = out_png.with_name(out_png.name + ".aux.xml")
    aux.unlink(missing_ok=True)
    return out_png
