"""Inputs of `satgeo eval downstream`: Banepa chips, the Dubai land-cover tiles, and exported pair folders.

* Banepa (``--chips`` + ``--footprints``): the held-out block as in ``satgeo eval``; the other
  chips split by area into a *real pool* (default: columns x 386690-386692, 24 chips, the west)
  and a *layer pool* whose footprint masks the generators render (the 16 chips east of it that
  are not held out). The two pools never share ground.
* Dubai (``--dubai ROOT``): tile 8 held out (``DUBAI_HOLDOUT``), tile 7 the layer pool (its masks
  are the layers), tiles 1-6 the real pool; all five classes.
* Pair folders (``--pairs DIR``, from ``satgeo batch --pairs``): ready-made synthetic chips,
  ``DIR/pairs/{train,val}/images/<chip>.tif`` with ``labels/<chip>.tif`` (255 = ignore).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from satgeo.errors import InputError
from satgeo.eval.downstream import DownstreamData
from satgeo.eval.segmenter import Sample

BANEPA_LAYER_POOL = (r"OAM-386693-.*", r"OAM-38669[45]-22024[1-4]-19")
DUBAI_LAYER_POOL = ("tile_7",)


def banepa_data(chips_dir: str | Path, layers: Sequence[str], holdout: Sequence[str] = (),
                layer_pool: Sequence[str] = ()) -> DownstreamData:
    from satgeo.eval.quality import as_samples, check_masks
    from satgeo.train.pairs import BANEPA_HOLDOUT, build_pairs, list_chips, split_chips
    from satgeo.train.pix2pix_loop import layer_paths

    if not layers:
        raise InputError("the chips have no masks: pass --footprints LAYER with the features to burn")
    layers = layer_paths(layers)
    rest, held = split_chips(list_chips(chips_dir), holdout or BANEPA_HOLDOUT)
    if not held:
        raise InputError("no chip matches the hold-out set; pass --holdout with chip-name patterns")
    real, pool = split_chips(rest, layer_pool or BANEPA_LAYER_POOL)
    if not real:
        raise InputError("no chip is left for the real pool after the hold-out and --layer-chips sets")
    held_p, real_p = build_pairs(held, layers), build_pairs(real, layers)
    check_masks(held_p, "held-out")
    check_masks(real_p, "real-pool")
    return DownstreamData("banepa", as_samples(real_p), as_samples(held_p),
                          as_samples(build_pairs(pool, layers)) if pool else [])


def dubai_data(root: str | Path, layer_tiles: Sequence[str] = DUBAI_LAYER_POOL) -> DownstreamData:
    from satgeo.train.landcover import DUBAI_HOLDOUT, load_dubai

    held = load_dubai(root, tiles=DUBAI_HOLDOUT)
    pool = load_dubai(root, tiles=layer_tiles)
    real = load_dubai(root, exclude=(*DUBAI_HOLDOUT, *layer_tiles))
    return DownstreamData("dubai", real, held, pool)


def _read(path: Path, bands: int) -> tuple[np.ndarray, float]:
    import rasterio

    from satgeo.train.pairs import chip_grid, chip_gsd

    try:
        with rasterio.open(path) as src:
            if src.count < bands:
                raise InputError(f"{path} has {src.count} band(s); expected {bands}")
            a = src.read(list(range(1, bands + 1)))
            gsd = chip_gsd(chip_grid(src)) if src.crs is not None else 0.0
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return a.transpose(1, 2, 0) if bands == 3 else a[0], gsd


def read_pair_folder(folder: str | Path) -> list[Sample]:
    """Every image/label chip pair of an exported pair folder (``DIR`` or ``DIR/pairs``), both splits."""
    folder = Path(folder)
    root = folder / "pairs" if (folder / "pairs").is_dir() else folder
    image_dirs = sorted(d for d in (root / "train" / "images", root / "val" / "images") if d.is_dir())
    if not image_dirs:
        raise InputError(f"{folder} is not a pair folder: no pairs/{{train,val}}/images/ inside "
                         f"(make one with `satgeo batch LAYERS -o DIR --pairs`)")
    out = []
    for d in image_dirs:
        for img in sorted(d.glob("*.tif")):
            lab = d.parent / "labels" / img.name
            if not lab.is_file():
                raise InputError(f"pair folder {folder}: image {img.name} has no label {lab}")
            rgb, gsd = _read(img, 3)
            mask, _ = _read(lab, 1)
            if mask.shape != rgb.shape[:2]:
                raise InputError(f"pair folder {folder}: {img.name} and its label differ in size")
            out.append(Sample(f"{d.parent.name}/{img.stem}", np.ascontiguousarray(rgb), mask.astype(np.uint8), gsd))
    if not out:
        raise InputError(f"pair folder {folder} holds no image chips (*.tif)")
    return out
