"""Training-pair chips of a batch job: a chip lattice over the rendered chunks, and a split by area.

Chips sit on the job's lattice, anchored like its tiles (pixel ``(X, Y)`` of the lattice is
tile ``(X // tile_px, Y // tile_px)``): chip ``(i, j)`` covers lattice pixels
``[i·stride, i·stride + size) x [j·stride, j·stride + size)`` with ``stride = size - overlap``.
A chip is kept only when every pixel of it was rendered (it lies inside the chunks) and, with
an AOI, when it reaches into the AOI.

The split is by area: chips fall into square blocks of ``block`` x ``block`` strides; a fixed
share of the blocks (picked by a hash of the block index, so the choice does not depend on
the machine or the order of work) is validation. Train chips that touch or overlap a val chip,
or come closer to one than ``buffer`` pixels, are dropped, so no pixel, edge or corner of a
val chip is shared with training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from satgeo.batch.tiling import Plan, TileGrid
from satgeo.errors import InputError
from satgeo.geo.grid import Grid

TRAIN, VAL = "train", "val"
#: The pair export's folder under the job folder, and the label value of pixels outside the AOI.
PAIRS_DIR = "pairs"
IGNORE = 255
MIN_CHIP_PX = 16
MAX_CHIP_PX = 4096


@dataclass(frozen=True)
class PairOptions:
    """How chips are cut and split (``satgeo batch --pairs``)."""

    chip_size: int = 256  # pixels per chip side
    overlap: int = 0  # pixels shared by neighbouring chips of a split
    val_fraction: float = 0.2  # share of split blocks that are validation
    split_block: int = 4  # split blocks are this many chip strides a side
    split_buffer: int = 0  # extra pixels kept free between val and train chips (touching is never allowed)
    webdataset: bool = False
    shard_size: int = 256  # samples per webdataset shard

    @property
    def stride(self) -> int:
        return self.chip_size - self.overlap

    def check(self) -> None:
        if not MIN_CHIP_PX <= self.chip_size <= MAX_CHIP_PX:
            raise InputError(f"--chip-size must be between {MIN_CHIP_PX} and {MAX_CHIP_PX} px, got {self.chip_size}")
        if not 0 <= self.overlap < self.chip_size:
            raise InputError(f"--chip-overlap must be at least 0 and below --chip-size ({self.chip_size}), got {self.overlap}")
        if not (0 <= self.val_fraction < 1):
            raise InputError(f"--val-fraction must be at least 0 and below 1, got {self.val_fraction}")
        if self.split_block < 1:
            raise InputError(f"--split-block must be at least 1 chip, got {self.split_block}")
        if self.split_buffer < 0:
            raise InputError(f"--split-buffer must be 0 or more pixels, got {self.split_buffer}")
        if self.shard_size < 1:
            raise InputError(f"--shard-size must be at least 1, got {self.shard_size}")

    def describe(self) -> dict:
        return {
            "chip_size": self.chip_size, "overlap": self.overlap, "val_fraction": self.val_fraction,
            "split_block": self.split_block, "split_buffer": self.split_buffer, "webdataset": self.webdataset,
            "shard_size": self.shard_size,
        }


@dataclass(frozen=True)
class Chip:
    id: str
    i: int  # chip column on the chip lattice
    j: int  # chip row
    px: tuple[int, int]  # lattice pixel (X, Y) of the top-left corner
    grid: Grid
    split: str

    @property
    def filename(self) -> str:
        return f"{self.id}.tif"

    def rect(self, size: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in lattice pixels, end-exclusive."""
        return (self.px[0], self.px[1], self.px[0] + size, self.px[1] + size)


@dataclass(frozen=True)
class ChipPlan:
    options: PairOptions
    chips: tuple[Chip, ...]  # train then val, each row-major
    dropped: int  # train chips dropped for touching the val split
    blocks: tuple[int, int]  # (train blocks, val blocks)

    def of(self, split: str) -> list[Chip]:
        return [c for c in self.chips if c.split == split]

    def describe(self) -> dict:
        return {"options": self.options.describe(), "chips": [[c.id, c.split] for c in self.chips]}


def rendered_tiles(plan: Plan) -> set[tuple[int, int]]:
    """Every lattice tile a chunk COG covers (chunks cover the bounding box of their planned tiles)."""
    out: set[tuple[int, int]] = set()
    for chunk in plan.chunks:
        xs = [t[0] for t in chunk.tiles]
        ys = [t[1] for t in chunk.tiles]
        out.update((x, y) for x in range(min(xs), max(xs) + 1) for y in range(min(ys), max(ys) + 1))
    return out


def _chip_grid(lattice: TileGrid, x: int, y: int, size: int) -> Grid:
    g, (ox, oy) = lattice.gsd, lattice.origin
    return Grid(lattice.crs, Affine(g, 0.0, ox + x * g, 0.0, -g, oy - y * g), size, size)


def _block_rank(bi: int, bj: int) -> bytes:
    return hashlib.sha256(f"satgeo-split:{bi}:{bj}".encode()).digest()


def _covered(tiles: set[tuple[int, int]], x: int, y: int, size: int, tile_px: int) -> bool:
    tx0, ty0 = x // tile_px, y // tile_px
    tx1, ty1 = (x + size - 1) // tile_px, (y + size - 1) // tile_px
    return all((tx, ty) in tiles for tx in range(tx0, tx1 + 1) for ty in range(ty0, ty1 + 1))


def plan_chips(plan: Plan, opts: PairOptions, aoi: BaseGeometry | None = None) -> ChipPlan:
    """The chips of ``plan`` (complete ones only, reaching into ``aoi`` if given), split by area."""
    opts.check()
    lattice, size, stride = plan.lattice, opts.chip_size, opts.stride
    tiles = rendered_tiles(plan)
    px = lattice.tile_px
    candidates: set[tuple[int, int]] = set()
    for tx, ty in tiles:
        # chips whose top-left pixel lies in this tile; the coverage test below does the rest
        i0, i1 = -(-tx * px // stride), ((tx + 1) * px - 1) // stride
        j0, j1 = -(-ty * px // stride), ((ty + 1) * px - 1) // stride
        candidates.update((i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1))
    keep = sorted(((i, j) for i, j in candidates if _covered(tiles, i * stride, j * stride, size, px)),
                  key=lambda c: (c[1], c[0]))
    if aoi is not None and keep:
        shapely.prepare(aoi)
        g = lattice.gsd
        ox, oy = lattice.origin
        boxes = shapely.box(
            [ox + i * stride * g for i, _ in keep], [oy - (j * stride + size) * g for _, j in keep],
            [ox + (i * stride + size) * g for i, _ in keep], [oy - j * stride * g for _, j in keep],
        )
        inside = shapely.intersects(boxes, aoi) & ~shapely.touches(boxes, aoi)
        keep = [c for c, ok in zip(keep, inside) if ok]
    if not keep:
        raise InputError(
            f"no complete {size} px chip fits inside the rendered tiles; use a smaller --chip-size "
            f"(tiles are {px} px) or larger --chunk-tiles"
        )
    block = opts.split_block
    blocks = sorted({(i // block, j // block) for i, j in keep})
    n_val = 0
    if opts.val_fraction > 0:
        if len(blocks) < 2:
            raise InputError(
                f"--val-fraction {opts.val_fraction:g} needs at least 2 split blocks but the chips fill 1; "
                "use a smaller --split-block, or --val-fraction 0"
            )
        n_val = min(len(blocks) - 1, max(1, round(opts.val_fraction * len(blocks))))
    val_blocks = set(sorted(blocks, key=lambda b: _block_rank(*b))[:n_val])
    split = {c: VAL if (c[0] // block, c[1] // block) in val_blocks else TRAIN for c in keep}
    val_rects = np.array([(i * stride, j * stride, i * stride + size, j * stride + size)
                          for (i, j), s in split.items() if s == VAL], dtype=np.int64).reshape(-1, 4)
    chips, dropped = [], 0
    prefix = f"z{lattice.zoom}_" if lattice.zoom is not None else ""
    for (i, j) in keep:
        x, y = i * stride, j * stride
        if split[(i, j)] == TRAIN and len(val_rects) and _near(val_rects, (x, y, x + size, y + size), opts.split_buffer):
            dropped += 1
            continue
        chips.append(Chip(f"{prefix}x{i}_y{j}", i, j, (x, y), _chip_grid(lattice, x, y, size), split[(i, j)]))
    if not any(c.split == TRAIN for c in chips):
        raise InputError("every train chip touches the val split; use a smaller --val-fraction or a larger --split-block")
    chips.sort(key=lambda c: (c.split != TRAIN, c.j, c.i))
    return ChipPlan(opts, tuple(chips), dropped, (len(blocks) - n_val, n_val))


def _near(rects: np.ndarray, rect: tuple[int, int, int, int], gap: int) -> bool:
    """Does ``rect`` touch, overlap or come within ``gap`` px of any of ``rects`` (closed rectangles)?"""
    x0, y0, x1, y1 = rect
    hit = (rects[:, 0] <= x1 + gap) & (x0 <= rects[:, 2] + gap) & (rects[:, 1] <= y1 + gap) & (y0 <= rects[:, 3] + gap)
    return bool(hit.any())


def image_path(chip: Chip) -> str:
    """Where a chip's image goes, relative to the job folder."""
    return f"{PAIRS_DIR}/{chip.split}/images/{chip.filename}"


def label_path(chip: Chip) -> str:
    """Where a chip's label goes, relative to the job folder."""
    return f"{PAIRS_DIR}/{chip.split}/labels/{chip.filename}"
