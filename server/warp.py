"""Metatile pixels from the model's lattice, resampled point by point.

GDAL's warper approximates the coordinate transform per output window, so two
metatile cuts can round a pixel differently. Here every output pixel is computed from its
*global* tile-pixel index with an exact PROJ transform and bilinear weights: a pixel's
value depends only on where it is, never on which metatile it was rendered in. The pixel
centres come from ``satgeo.geo.xyz.pixel_centres``.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

_TRANSFORMERS: dict[str, Transformer] = {}


def _to_lattice(crs: CRS) -> Transformer:
    key = crs.to_wkt()
    t = _TRANSFORMERS.get(key)
    if t is None:
        t = _TRANSFORMERS[key] = Transformer.from_crs("EPSG:3857", crs, always_xy=True)
    return t


def sample_bilinear(src: np.ndarray, src_transform: Affine, crs: CRS, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(3, h, w) uint8 ``src`` (north-up, ``src_transform`` in ``crs``) sampled at the mercator points."""
    gx, gy = np.meshgrid(xs, ys)
    lx, ly = _to_lattice(crs).transform(gx, gy)
    g = src_transform.a
    fc = (np.asarray(lx) - src_transform.c) / g - 0.5
    fr = (src_transform.f - np.asarray(ly)) / -src_transform.e - 0.5
    h, w = src.shape[1:]
    c0 = np.floor(fc).astype(np.int64)
    r0 = np.floor(fr).astype(np.int64)
    wc = (fc - c0).astype(np.float32)
    wr = (fr - r0).astype(np.float32)
    c0c, c1c = np.clip(c0, 0, w - 1), np.clip(c0 + 1, 0, w - 1)
    r0c, r1c = np.clip(r0, 0, h - 1), np.clip(r0 + 1, 0, h - 1)
    out = np.empty((3, *gx.shape), np.uint8)
    for b in range(3):
        band = src[b].astype(np.float32)
        top = band[r0c, c0c] * (1 - wc) + band[r0c, c1c] * wc
        bottom = band[r1c, c0c] * (1 - wc) + band[r1c, c1c] * wc
        out[b] = np.clip(np.rint(top * (1 - wr) + bottom * wr), 0, 255).astype(np.uint8)
    return out
