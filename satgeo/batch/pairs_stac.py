"""The STAC Collection of a pair export (``DIR/pairs/collection.json``), with the label extension.

Per chip there are two Items under ``DIR/pairs/stac/``, built by ``satgeo.geo.stac.build_item``:
``<chip>-image`` (the synthetic RGB COG, projection and raster extensions, provenance) and ``<chip>-label`` (label extension: raster
classes 0..4, ``label:tasks`` segmentation, a ``source`` link to the image Item; assets
``labels`` and ``image``). Both carry ``satgeo:split`` (train or val). Links are relative, so
the folder can be moved or uploaded as it is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac
from pystac.extensions.label import LabelClasses, LabelExtension, LabelType
from pystac.layout import CustomLayoutStrategy

from satgeo.batch.chips import IGNORE, PAIRS_DIR, Chip, ChipPlan, image_path, label_path
from satgeo.geo.masks import CLASS_NAMES
from satgeo.geo.stac import build_item, cog_asset, raster_bands

STAC_ITEMS_DIR = "stac"
COLLECTION_NAME = "collection.json"


def _item(chip: Chip, suffix: str, when: dt.datetime, assets: dict[str, pystac.Asset],
          provenance: dict[str, str] | None = None, props: dict | None = None) -> pystac.Item:
    return build_item(f"{chip.id}-{suffix}", chip.grid, when, assets, provenance,
                      {"satgeo:split": chip.split, "satgeo:chip": chip.id, **(props or {})}, synthetic=suffix == "image")


def build_collection(chip_plan: ChipPlan, out_dir: Path, provenance: dict[str, str], when: dt.datetime, gsd: float) -> Path:
    """Write ``DIR/pairs/collection.json`` and two Items per chip under ``DIR/pairs/stac/``."""
    root = (out_dir / PAIRS_DIR).resolve()
    chips = chip_plan.chips
    items: list[pystac.Item] = []
    lons: list[float] = []
    lats: list[float] = []
    for chip in chips:
        image_asset = cog_asset(str(out_dir.resolve() / image_path(chip)), "synthetic RGB (COG)", raster_bands(3))
        image = _item(chip, "image", when, {"image": image_asset}, provenance, {"gsd": gsd})
        labels_asset = cog_asset(str(out_dir.resolve() / label_path(chip)), "class labels (COG)",
                                 raster_bands(1, "uint8", IGNORE), roles=("labels", "labels-raster"))
        label = _item(chip, "label", when, {"labels": labels_asset, "image": image_asset.clone()})
        LabelExtension.ext(label, add_if_missing=True).apply(
            label_description="land-cover classes burned from the same vector layers (satgeo mask)",
            label_type=LabelType.RASTER,
            label_properties=None,
            label_classes=[LabelClasses.create(list(range(len(CLASS_NAMES))), name=None)],
            label_tasks=["segmentation"],
            label_methods=["automated"],
        )
        label.properties["satgeo:classes"] = {**{str(i): n for i, n in enumerate(CLASS_NAMES)}, str(IGNORE): "ignore"}
        label.properties["satgeo:ignore_value"] = IGNORE
        LabelExtension.ext(label).add_source(image, assets=["image"])
        items += [image, label]
        bbox = image.bbox or []
        lons += bbox[0::2]
        lats += bbox[1::2]
    collection = pystac.Collection(
        id="satgeo-pairs",
        title="satgeo training pairs (synthetic imagery + labels)",
        description=(
            f"{len(chips)} chips of synthetic imagery (model {provenance.get('MODEL')}) with class labels burned "
            f"from the same vector layers; classes {', '.join(f'{i} {n}' for i, n in enumerate(CLASS_NAMES))}, "
            f"{IGNORE} ignore. Split by area into train and val. Not real observations."
        ),
        extent=pystac.Extent(pystac.SpatialExtent([[min(lons), min(lats), max(lons), max(lats)]]),
                             pystac.TemporalExtent([[when, when]])),
        license="other",
        keywords=["synthetic", "training-data", "segmentation", "satgeo"],
        summaries=pystac.Summaries({"satgeo:split": sorted({c.split for c in chips})}),
    )
    LabelExtension.add_to(collection)
    collection.add_items(items)
    layout = CustomLayoutStrategy(item_func=lambda item, parent: str(Path(parent) / STAC_ITEMS_DIR / f"{item.id}.json"))
    collection.normalize_hrefs(str(root), strategy=layout)
    collection.make_all_asset_hrefs_relative()
    collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / COLLECTION_NAME
