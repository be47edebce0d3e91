"""Training pairs for pix2pix: image chips + footprint layers -> (mask, RGB) on each chip's grid.

Masks are burned by ``satgeo.geo.masks.rasterize_layers`` on each chip's *own* grid (for
the Banepa chips: EPSG:4326 pixels of about 0.132 x 0.131 m, square to within 1 %), so the
model's native GSD is the chips' mean ground GSD. No resampling of the imagery: the
model learns the texture the camera made. All pairs go into one ``.npz`` cache keyed on
the inputs' paths, sizes and mtimes, so epochs never re-read or re-rasterize.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio

from satgeo.atomic import atomic_path
from satgeo.errors import InputError
from satgeo.geo.grid import Grid
from satgeo.geo.masks import Layer, rasterize_layers, read_layer

# Banepa: a fixed, contiguous 2 x 4 block of the 6 x 8 chip grid held out for evaluation and
# the demo render (x 386694-386695, y 220245-220248 at zoom 19).
BANEPA_HOLDOUT = tuple(f"OAM-{x}-{y}-19" for x in (386694, 386695) for y in (220245, 220246, 220247, 220248))


def list_chips(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"chip folder {folder} does not exist")
    chips = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".tif", ".tiff", ".png", ".jpg"))
    if not chips:
        raise InputError(f"no image chips (*.tif, *.png, *.jpg) in {folder}")
    return chips


def split_chips(chips: Sequence[Path], holdout: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """(train, held-out): a chip is held out when its stem matches one of ``holdout`` (regexes)."""
    pats = [re.compile(h) for h in holdout]
    test = [c for c in chips if any(p.fullmatch(Path(c).stem) or p.fullmatch(Path(c).name) for p in pats)]
    train = [c for c in chips if c not in test]
    return train, test


def chip_grid(src: rasterio.io.DatasetReader) -> Grid:
    if src.crs is None:
        raise InputError(f"chip {src.name} has no CRS (keep its .aux.xml beside it)")
    return Grid(src.crs, src.transform, src.width, src.height)


def chip_gsd(grid: Grid) -> float:
    """Ground metres per pixel at the chip's centre, by the geo core's ``ground_gsd`` (Web Mercator's
    cos(lat) scale, geodesic sizes for lon/lat). A pixel that is not square in CRS units (lon/lat chips)
    counts as the square of the same area, so the result is the geometric mean of its two ground sides."""
    from rasterio.warp import transform

    from satgeo.geo.metadata import ground_gsd

    side = math.sqrt(abs(grid.transform.a * grid.transform.e))
    cx, cy = grid.transform @ (grid.width / 2, grid.height / 2)
    lon, lat = transform(grid.crs, "EPSG:4326", [cx], [cy])
    return ground_gsd(grid.crs, side, lon[0], lat[0])


@dataclass
class Pairs:
    names: list[str]
    images: np.ndarray  # (N, H, W, 3) uint8
    masks: np.ndarray  # (N, H, W) uint8
    gsd: float  # mean ground GSD of the chips

    def __len__(self) -> int:
        return len(self.names)


def _key(chips: Sequence[Path], layers: Sequence[Layer]) -> str:
    h = hashlib.sha256()
    for p in [*chips, *[layer for layer in layers if not isinstance(layer, gpd.GeoDataFrame)]]:
        st = Path(p).stat()
        h.update(f"{Path(p).resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def build_pairs(chips: Sequence[Path], layers: Sequence[Layer], cache_dir: str | Path | None = None) -> Pairs:
    """Read chips, burn their masks; cached in ``cache_dir/pairs-<key>.npz`` when given."""
    if not chips:
        raise InputError("no chips to train on")
    cache = Path(cache_dir) / f"pairs-{_key(chips, layers)}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        z = np.load(cache)
        return Pairs(list(z["names"]), z["images"], z["masks"], float(z["gsd"]))
    gdfs = [read_layer(layer) for layer in layers]
    names: list[str] = []
    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    gsds: list[float] = []
    for path in chips:
        try:
            with rasterio.open(path) as src:
                if src.count < 3:
                    raise InputError(f"chip {path} has {src.count} band(s); need RGB")
                rgb = src.read([1, 2, 3])
                grid = chip_grid(src)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"cannot read chip {path}: {exc}") from None
        if images and rgb.shape[1:] != images[0].shape[:2]:
            raise InputError(f"chip {path} is {rgb.shape[2]}x{rgb.shape[1]} px; all chips must have one size")
        names.append(Path(path).stem)
        images.append(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
        masks.append(rasterize_layers(gdfs, grid))
        gsds.append(chip_gsd(grid))
    pairs = Pairs(names, np.stack(images), np.stack(masks), float(np.mean(gsds)))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            np.savez(tmp, names=np.array(names), images=pairs.images, masks=pairs.masks, gsd=pairs.gsd)
    return pairs


def random_crop(rng: np.random.Generator, mask: np.ndarray, image: np.ndarray, crop: int,
                augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A random ``crop`` x ``crop`` window of (mask, image), turned by 0-3 quarter turns and maybe mirrored."""
    h, w = mask.shape[:2]
    r, q = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    m, im = mask[r:r + crop, q:q + crop], image[r:r + crop, q:q + crop]
    if augment:
        k = int(rng.integers(4))
        m, im = np.rot90(m, k), np.rot90(im, k)
        if rng.random() < 0.5:
            m, im = m[:, ::-1], im[:, ::-1]
    return m, im


class PairSampler:
    """Random crops with flips and 90-degree rotations, drawn from a seeded generator."""

    def __init__(self, pairs: Pairs, crop: int, seed: int = 0, augment: bool = True) -> None:
        h, w = pairs.masks.shape[1:]
        if crop > min(h, w):
            raise InputError(f"crop {crop} px is larger than the chips ({w}x{h} px)")
        self.pairs, self.crop, self.augment = pairs, crop, augment
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(masks (n, c, c) uint8, images (n, c, c, 3) uint8)."""
        ms, ims = [], []
        for _ in range(n):
            i = int(self.rng.integers(len(self.pairs)))
            m, im = random_crop(self.rng, self.pairs.masks[i], self.pairs.images[i], self.crop, self.augment)
            ms.append(m)
            ims.append(im)
        return np.ascontiguousarray(np.stack(ms)), np.ascontiguousarray(np.stack(ims))
