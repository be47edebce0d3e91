"""Land-cover pairs with every mask class: the Dubai tiles of Humans in the Loop (CC0).

The data set (``../shared/data/humansintheloop_dubai``, see its SOURCES entry) holds 8 tiles
cut into 72 JPEG image parts, each with an RGB-coded PNG mask. It has no georeferencing, and
its tiles were delivered at different scales. Its mask colours map onto satgeo's classes
(docs/architecture.md): building 1, road 2, water 3, vegetation 4; unpaved land is background 0; the
"unlabeled" grey and the pure-black unannotated pixels are ``IGNORE``.

GSD per tile: the parts of one tile share a size, and the parts of different tiles appear to
cover similar ground (house and lane widths scale with the part width), so a tile's GSD is
taken as ``DUBAI_GSD_AT_1000PX * 1000 / width``: about 0.5 m for the 2,149 px parts of
tile 8 and 2 m for the 509 px parts of tile 2. This is an estimate from lane and villa widths,
not metadata; it only sets the GSD conditioning that training sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from satgeo.errors import InputError

if TYPE_CHECKING:
    from satgeo.train.pairs import Pairs

IGNORE = 255
#: mask RGB -> class (the data set's real colours; its classes.json is wrong, see SOURCES.md)
DUBAI_COLOURS: dict[tuple[int, int, int], int] = {
    (0x3C, 0x10, 0x98): 1,  # building
    (0x6E, 0xC1, 0xE4): 2,  # road
    (0xE2, 0xA9, 0x29): 3,  # water
    (0xFE, 0xDD, 0x3A): 4,  # vegetation
    (0x84, 0x29, 0xF6): 0,  # land (unpaved)
    (0x9B, 0x9B, 0x9B): IGNORE,  # unlabeled
    (0x00, 0x00, 0x00): IGNORE,  # unannotated
}
DUBAI_GSD_AT_1000PX = 1.1
#: tile held out for evaluation (all five classes, villas, a lake, highways)
DUBAI_HOLDOUT = ("tile_8",)


@dataclass
class LandcoverPair:
    """One image with its class mask (``IGNORE`` where unknown) and its ground GSD."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) uint8
    gsd: float


def decode_mask(rgb: np.ndarray, colours: dict[tuple[int, int, int], int] = DUBAI_COLOURS) -> np.ndarray:
    """(H, W, 3) uint8 colour-coded mask -> (H, W) uint8 classes; other colours -> ``IGNORE``."""
    code = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    out = np.full(code.shape, IGNORE, np.uint8)
    for (r, g, b), cls in colours.items():
        out[code == ((r << 16) | (g << 8) | b)] = cls
    return out


def list_dubai(root: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths of the Dubai data set under ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"land-cover folder {root} does not exist")
    pairs = []
    for img in sorted(root.glob("tile_*/images/*.jpg")):
        mask = img.parent.parent / "masks" / (img.stem + ".png")
        if mask.is_file():
            pairs.append((img, mask))
    if not pairs:
        raise InputError(f"{root} holds no tile_*/images/*.jpg with a mask in tile_*/masks/*.png")
    return pairs


def load_dubai(root: str | Path, tiles: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> list[LandcoverPair]:
    """Load the Dubai pairs (only ``tiles`` when given, never ``exclude``), each with its GSD estimate."""
    from PIL import Image

    out = []
    for img_path, mask_path in list_dubai(root):
        tile = img_path.parent.parent.name
        if (tiles and tile not in tiles) or tile in exclude:
            continue
        with Image.open(img_path) as im:
            image = np.asarray(im.convert("RGB"))
        with Image.open(mask_path) as im:
            mask = decode_mask(np.asarray(im.convert("RGB")))
        if mask.shape != image.shape[:2]:
            raise InputError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} px, its image "
                             f"{image.shape[1]}x{image.shape[0]}")
        gsd = DUBAI_GSD_AT_1000PX * 1000.0 / image.shape[1]
        out.append(LandcoverPair(f"{tile}/{img_path.stem}", image, mask, round(gsd, 4)))
    if not out:
        raise InputError(f"no Dubai pair left in {root} after choosing tiles {list(tiles or [])} "
                         f"and excluding {list(exclude)}")
    return out


def downsample_pair(pair: LandcoverPair, factor: int) -> LandcoverPair:
    """Area-average the image and take the mask's centre sample, ``factor`` x coarser."""
    h, w = (pair.mask.shape[0] // factor) * factor, (pair.mask.shape[1] // factor) * factor
    img = pair.image[:h, :w].astype(np.float32).reshape(h // factor, factor, w // factor, factor, 3).mean((1, 3))
    mask = pair.mask[factor // 2:h:factor, factor // 2:w:factor]
    return LandcoverPair(f"{pair.name}@{factor}x", np.rint(img).astype(np.uint8), np.ascontiguousarray(mask),
                         round(pair.gsd * factor, 4))


def from_pairs(pairs: Pairs, factors: Sequence[int] = (1,)) -> list[LandcoverPair]:
    """Chip pairs (one GSD, classes only) as land-cover pairs, also ``factor`` x coarser for each factor."""
    base = [LandcoverPair(n, im, m, round(pairs.gsd, 4)) for n, im, m in zip(pairs.names, pairs.images, pairs.masks)]
    return [p if f == 1 else downsample_pair(p, f) for f in factors for p in base]


class CropSampler:
    """Random crops (flips, 90-degree turns) from pairs of any size; pair chosen by pixel count.

    ``groups`` are drawn with the probabilities ``shares`` (e.g. drone chips vs land-cover
    tiles), then a pair within the group in proportion to its area.
    """

    def __init__(self, groups: Sequence[Sequence[LandcoverPair]], shares: Sequence[float], crop: int,
                 seed: int = 0) -> None:
        if len(groups) != len(shares) or not groups:
            raise InputError("one share per group of pairs is needed")
        for g in groups:
            small = [p.name for p in g if min(p.mask.shape) < crop]
            if not g or small:
                raise InputError(f"crop {crop} px is larger than pair {small[0]}" if small else "an empty group of pairs")
        self.groups = [list(g) for g in groups]
        total = float(sum(shares))
        self.shares = np.array(shares, np.float64) / total
        self.area = [np.array([p.mask.size for p in g], np.float64) / sum(p.mask.size for p in g) for g in groups]
        self.crop = crop
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(masks (n, c, c) uint8, images (n, c, c, 3) uint8, gsds (n,) float32)."""
        from satgeo.train.pairs import random_crop

        ms, ims, gsds = [], [], []
        for _ in range(n):
            g = int(self.rng.choice(len(self.groups), p=self.shares))
            p = self.groups[g][int(self.rng.choice(len(self.groups[g]), p=self.area[g]))]
            m, im = random_crop(self.rng, p.mask, p.image, self.crop)
            ms.append(m)
            ims.append(im)
            gsds.append(p.gsd)
        return (np.ascontiguousarray(np.stack(ms)), np.ascontiguousarray(np.stack(ims)),
                np.array(gsds, np.float32))
