"""Rebuild tests/eval/data/chips: the two render test chips cut into 2 x 2 quadrants each, averaged 2x.

Eight 128 px GeoTIFF chips (EPSG:4326, ~0.26 m) named Q-<col>-<row>, col 0-3 from west to east.
Run from the repository root: python3 tests/eval/make_fixtures.py
"""

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

SRC = Path("tests/render/data")
OUT = Path("tests/eval/data/chips")

for k, name in enumerate(("OAM-386694-220245-19.tif", "OAM-386695-220245-19.tif")):
    with rasterio.open(SRC / name) as src:
        rgb, t, crs = src.read(), src.transform, src.crs
    for qc in range(2):
        for qr in range(2):
            a = rgb[:, qr * 256:(qr + 1) * 256, qc * 256:(qc + 1) * 256].astype(np.float32)
            a = np.rint(a.reshape(3, 128, 2, 128, 2).mean((2, 4))).astype(np.uint8)
            tr = t @ Affine.translation(qc * 256, qr * 256) @ Affine.scale(2)
            prof = dict(driver="GTiff", width=128, height=128, count=3, dtype="uint8", crs=crs, transform=tr,
                        compress="jpeg", jpeg_quality=90)
            with rasterio.open(OUT / f"Q-{2 * k + qc}-{qr}.tif", "w", **prof) as dst:
                dst.write(a)
