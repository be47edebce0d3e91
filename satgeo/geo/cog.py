"""Cloud-Optimized GeoTIFF output: georeferenced, overviews, provenance tags, atomic.

(First cut: whole-array write through GDAL's COG driver. The GIS-core issue adds windowed
writing, validation and the STAC sidecar.)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy

from satgeo import __version__
from satgeo.geo.grid import Grid


def write_cog(path: str | Path, array: np.ndarray, grid: Grid, tags: dict | None = None) -> Path:
    """Write ``array`` ((bands, H, W) or (H, W)) on ``grid`` as a COG at ``path``, atomically."""
    path = Path(path)
    arr = array[None] if array.ndim == 2 else array
    all_tags = {"SYNTHETIC": "TRUE", "SATGEO_VERSION": __version__, **(tags or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.tif", dir=path.parent)
    os.close(fd)
    try:
        profile = dict(
            driver="GTiff", width=grid.width, height=grid.height, count=arr.shape[0], dtype=arr.dtype,
            crs=grid.crs, transform=grid.transform, tiled=True, blockxsize=512, blockysize=512,
        )
        with rasterio.MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(arr)
                dst.update_tags(**{k: str(v) for k, v in all_tags.items()})
            with mem.open() as src:
                rio_copy(src, tmp, driver="COG", compress="DEFLATE", overview_resampling="average")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
