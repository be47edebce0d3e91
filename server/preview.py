"""A job's COG as a small Web Mercator PNG with its lon/lat bounds, for a map overlay.

The PNG is in EPSG:3857 so that a map stretching it linearly between its corners (Leaflet's
``imageOverlay``) puts every pixel where it belongs. Pixels outside the COG are transparent.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.transform import from_bounds
from rasterio.warp import reproject, transform_bounds

from satgeo.atomic import write_bytes
from satgeo.geo.crs import WEB_MERCATOR

MAX_SIDE = 1024


def cog_bounds_lonlat(cog: Path) -> list[float]:
    """[W, S, E, N] of the COG in EPSG:4326."""
    with rasterio.open(cog) as src:
        return [float(v) for v in transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)]


def _render(cog: Path, max_side: int) -> tuple[bytes, list[float]]:
    with rasterio.open(cog) as src:
        scale = max(1.0, max(src.width, src.height) / max_side)
        h, w = max(1, round(src.height / scale)), max(1, round(src.width / scale))
        # a decimated read uses the COG's overviews instead of the full-resolution pixels
        rgb = src.read([1, 2, 3], out_shape=(3, h, w), resampling=Resampling.average)
        src_transform = src.transform @ src.transform.scale(src.width / w, src.height / h)
        merc = transform_bounds(src.crs, WEB_MERCATOR, *src.bounds, densify_pts=21)
        mw, mh = merc[2] - merc[0], merc[3] - merc[1]
        res = max(mw, mh) / max_side
        dw, dh = max(1, round(mw / res)), max(1, round(mh / res))
        dst_transform = from_bounds(*merc, dw, dh)
        out = np.zeros((4, dh, dw), np.uint8)
        for b in range(3):
            reproject(rgb[b], out[b], src_transform=src_transform, src_crs=src.crs, dst_transform=dst_transform,
                      dst_crs=WEB_MERCATOR, resampling=Resampling.bilinear)
        reproject(np.full((h, w), 255, np.uint8), out[3], src_transform=src_transform, src_crs=src.crs,
                  dst_transform=dst_transform, dst_crs=WEB_MERCATOR, resampling=Resampling.nearest, dst_nodata=0)
        west, south, east, north = transform_bounds(WEB_MERCATOR, "EPSG:4326", *merc)
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(out, 0, -1), "RGBA").save(buf, format="PNG")
    return buf.getvalue(), [west, south, east, north]


def job_preview(cog: Path, max_side: int = MAX_SIDE) -> tuple[Path, list[float]]:
    """The cached preview PNG beside ``cog`` (made on first use) and its lon/lat bounds."""
    png, meta = cog.with_name("preview.png"), cog.with_name("preview.json")
    if png.is_file() and meta.is_file() and png.stat().st_mtime >= cog.stat().st_mtime:
        return png, json.loads(meta.read_text())["bounds"]
    data, bounds = _render(cog, max_side)
    for path, content in ((png, data), (meta, json.dumps({"bounds": bounds}).encode())):
        write_bytes(path, content)
    return png, bounds
