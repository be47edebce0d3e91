"""``satgeo batch --pairs``: synthetic image chips + class-label chips on the same grid, split by area.

After the chunks are rendered, every chip of the chip plan (``satgeo.batch.chips``) becomes
two COGs written by ``satgeo.geo.cog``'s writer::

    DIR/pairs/{train,val}/images/<chip>.tif   RGB cut from the chunks (provenance tags of the chunks)
    DIR/pairs/{train,val}/labels/<chip>.tif   uint8 classes 0..4 (docs/architecture.md), 255 = ignore

Labels are burned exactly as ``satgeo mask`` burns them (``satgeo.geo.masks.load_layers`` on
the same layer files, then ``LayerSet.rasterize`` on the chip's grid), so a label chip equals
``satgeo mask LAYERS --bbox <chip bounds> --crs <CRS> --work-crs <CRS> --gsd <GSD>``. With
``--aoi``, pixels whose centre is outside the AOI are 255.

Each pair is journaled after both files are in place, so a killed export resumes where it
stopped; the CSV, the STAC collection and the webdataset shards are rebuilt from the chip
files at the end of every run (deterministic bytes).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import rasterize
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from satgeo.atomic import write_text
from satgeo.batch.assemble import VRT_NAME, mosaic_extent
from satgeo.batch.chips import IGNORE, PAIRS_DIR, TRAIN, VAL, Chip, ChipPlan, image_path, label_path
from satgeo.batch.chunk import remove_stale_temporaries
from satgeo.batch.inputs import split_spec
from satgeo.batch.journal import DonePair, Journal
from satgeo.batch.pairs_stac import build_collection
from satgeo.batch.tiling import Plan
from satgeo.geo.cog import write_cog
from satgeo.geo.layers import read_layer
from satgeo.geo.masks import CLASS_NAMES, PALETTE, LayerSet, load_layers
from satgeo.hashing import file_sha256

CSV_NAME = "pairs.csv"
SHARDS_DIR = "webdataset"
#: Degrees added around the job's features when reading label layers (as ``satgeo mask`` pads its area).
READ_PAD_DEG = 0.002

Log = Callable[[str], None]


@dataclass
class PairsResult:
    train: int
    val: int
    dropped: int
    written: int  # pairs written by this run (the others were done before)
    shards: list[str]
    seconds: float

    def to_dict(self) -> dict:
        return {"train": self.train, "val": self.val, "dropped_near_val": self.dropped, "written": self.written,
                "shards": self.shards, "seconds": round(self.seconds, 3)}


def label_layers(specs: Sequence[str], chips: Sequence[Chip]) -> LayerSet:
    """The job's layers read, classified and buffered by ``satgeo mask``'s own code, in the chips' CRS.

    ``path:layer`` specs read that one layer; plain paths read every layer, as ``satgeo mask`` does.
    Only features near the chips are read (their lon/lat bounds, padded as ``satgeo mask`` pads).
    """
    from rasterio.warp import transform_bounds

    sources = []
    for spec in specs:
        path, layer = split_spec(spec)
        sources.append(read_layer(path, layer=layer) if layer else path)
    bounds = np.array([c.grid.bounds for c in chips])
    crs = chips[0].grid.crs
    w, s, e, n = transform_bounds(crs, "EPSG:4326", bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(),
                                  bounds[:, 3].max(), densify_pts=21)
    bbox = (max(w - READ_PAD_DEG, -180), max(s - READ_PAD_DEG, -90), min(e + READ_PAD_DEG, 180), min(n + READ_PAD_DEG, 90))
    return load_layers(sources, crs, bbox=bbox)


def label_chip(layers: LayerSet, chip: Chip, aoi: BaseGeometry | None) -> np.ndarray:
    """Class codes on the chip's grid (pixel-centre rule); 255 where the pixel centre is outside ``aoi``."""
    label = layers.rasterize(chip.grid)
    if aoi is not None:
        inside = rasterize([(aoi, 1)], out_shape=chip.grid.shape, transform=chip.grid.transform, fill=0, dtype=np.uint8)
        label[inside == 0] = IGNORE
    return label


def _label_tags(chip: Chip, gsd: float) -> dict[str, str]:
    return {
        "PRODUCT": "satgeo class label",
        "CLASSES": json.dumps({**{str(i): n for i, n in enumerate(CLASS_NAMES)}, str(IGNORE): "ignore"}),
        "IGNORE_VALUE": str(IGNORE),
        "GSD": repr(gsd),
        "CHIP": chip.id,
        "SPLIT": chip.split,
    }


def _remove_stale(out_dir: Path, chips: Sequence[Chip]) -> None:
    """Our own leftovers from a killed run: the COG writer's hidden temporary folders."""
    names = [c.filename for c in chips]
    for split in (TRAIN, VAL):
        for kind in ("images", "labels"):
            remove_stale_temporaries(out_dir / PAIRS_DIR / split / kind, names)


def _verified(journal: Journal, out_dir: Path, chips: Sequence[Chip], log: Log) -> set[str]:
    wanted = {c.id: c for c in chips}
    good = set()
    for pid, rec in journal.done_pairs().items():
        c = wanted.get(pid)
        ok = (
            c is not None and rec.image == image_path(c) and rec.label == label_path(c)
            and (out_dir / rec.image).is_file() and (out_dir / rec.label).is_file()
            and file_sha256(out_dir / rec.image) == rec.image_sha256 and file_sha256(out_dir / rec.label) == rec.label_sha256
        )
        if ok:
            good.add(pid)
        else:
            log(f"note: pair {pid} is journaled but a file is missing or changed; writing it again")
            journal.forget_pair(pid)
    return good


def export_pairs(
    chip_plan: ChipPlan, plan: Plan, layers: LayerSet, aoi: BaseGeometry | None, out_dir: Path, journal: Journal,
    provenance: dict[str, str], gsd: float, when: dt.datetime, meta: dict, log: Log,
) -> PairsResult:
    """Write every pair not yet journaled, then the CSV, the STAC collection and (optionally) shards.

    ``meta`` is what every chip's metadata.json shares (cloud cover, date); ``when`` the STAC datetime.
    """
    t0 = time.perf_counter()
    chips = chip_plan.chips
    _remove_stale(out_dir, chips)
    done = _verified(journal, out_dir, chips, log)
    pending = [c for c in chips if c.id not in done]
    if done:
        log(f"resuming pairs: {len(done)} of {len(chips)} already written")
    tx0, ty0, _, _ = mosaic_extent(plan)
    ox, oy = tx0 * plan.lattice.tile_px, ty0 * plan.lattice.tile_px
    size = chip_plan.options.chip_size
    with rasterio.open(out_dir / VRT_NAME) as vrt:
        for chip in pending:
            image = vrt.read([1, 2, 3], window=Window(chip.px[0] - ox, chip.px[1] - oy, size, size))
            label = label_chip(layers, chip, aoi)
            img, lab = out_dir / image_path(chip), out_dir / label_path(chip)
            write_cog(img, image, chip.grid, tags={**provenance, "CHIP": chip.id, "SPLIT": chip.split})
            write_cog(lab, label, chip.grid, tags=_label_tags(chip, gsd), nodata=IGNORE, colormap=PALETTE)
            journal.record_pair(DonePair(chip.id, chip.split, image_path(chip), label_path(chip),
                                         file_sha256(img), file_sha256(lab)))
    _write_csv(out_dir, chips)

    build_collection(chip_plan, out_dir, provenance, when, gsd)
    shards: list[str] = []
    if chip_plan.options.webdataset:
        shards = [str(p.relative_to(out_dir)) for p in write_pair_shards(chip_plan, out_dir, meta)]
    return PairsResult(len(chip_plan.of(TRAIN)), len(chip_plan.of(VAL)), chip_plan.dropped, len(pending), shards,
                       time.perf_counter() - t0)


def _write_csv(out_dir: Path, chips: Sequence[Chip]) -> Path:
    """``pairs.csv``: id, split, image, label (paths relative to DIR/pairs)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "split", "image", "label"])
    for c in chips:
        w.writerow([c.id, c.split, image_path(c)[len(PAIRS_DIR) + 1:], label_path(c)[len(PAIRS_DIR) + 1:]])
    return write_text(out_dir / PAIRS_DIR / CSV_NAME, buf.getvalue())


# ------------------------------------------------------------------ webdataset shards


def chip_metadata(chip: Chip, label: np.ndarray, meta: dict) -> dict:
    """DiffusionSat-style metadata.json of a chip: lon/lat of its centre, ground GSD, date, cloud cover, caption."""
    from rasterio.warp import transform as warp_transform

    from satgeo.geo.caption import caption_for, fmow_class_for
    from satgeo.geo.metadata import ground_gsd

    g = chip.grid
    cx, cy = g.transform @ (g.width / 2, g.height / 2)
    lon, lat = (v[0] for v in warp_transform(g.crs, "EPSG:4326", [cx], [cy]))
    gsd = ground_gsd(g.crs, g.gsd, lon, lat)
    cls = fmow_class_for(np.where(label == IGNORE, 0, label), gsd)
    out = {"lon": lon, "lat": lat, "gsd": gsd, **meta, "caption": caption_for((lon, lat), cls), "split": chip.split}
    return out


class _LazySamples(Sequence):
    """Samples read from the chip files on demand, so shards never hold more than one shard in memory."""

    def __init__(self, chips: Sequence[Chip], out_dir: Path, meta: dict) -> None:
        self.chips, self.out_dir, self.meta = list(chips), out_dir, meta

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._load(c) for c in self.chips[index]]
        return self._load(self.chips[index])

    def _load(self, chip: Chip):
        from satgeo.train.shards import Sample

        with rasterio.open(self.out_dir / image_path(chip)) as src:
            image = np.moveaxis(src.read(), 0, -1)
        with rasterio.open(self.out_dir / label_path(chip)) as src:
            label = src.read(1)
        return Sample(chip.id, image, label, chip_metadata(chip, label, self.meta))


def write_pair_shards(chip_plan: ChipPlan, out_dir: Path, meta: dict) -> list[Path]:
    """``DIR/pairs/webdataset/{train,val}-NNNNNN.tar`` in ``satgeo.train.shards``' format (image.png,
    mask.png = the label, metadata.json with the caption), readable by ``satgeo train controlnet|lora``."""
    from satgeo.train.shards import write_shards

    folder = out_dir / PAIRS_DIR / SHARDS_DIR
    paths: list[Path] = []
    for split in (TRAIN, VAL):
        chips = chip_plan.of(split)
        if chips:
            paths += write_shards(_LazySamples(chips, out_dir, meta), folder, chip_plan.options.shard_size, prefix=split)
    return paths
