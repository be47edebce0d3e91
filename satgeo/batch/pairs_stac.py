"""The STAC Collection of a pair export (``DIR/pairs/collection.json``), with the label extension.

Per chip there are two Items under ``DIR/pairs/stac/``: ``<chip>-image`` (the synthetic RGB
COG, projection extension, provenance) and ``<chip>-label`` (label extension: raster
classes 0..4, ``label:tasks`` segmentation, a ``source`` link to the image Item; assets
``labels`` and ``image``). Both carry ``satgeo:split`` (train or val). Links are relative, so
the folder can be moved or uploaded as it is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac
from pystac.extensions.label import LabelClasses, LabelExtension, LabelType
from pystac.extensions.projection import ProjectionExtension
from pystac.layout import CustomLayoutStrategy
from shapely.geometry import box, mapping

from satgeo.batch.chips import Chip, ChipPlan
from satgeo.batch.pairs import IGNORE, PAIRS_DIR, image_path, label_path
from satgeo.geo.area import WGS84, reproject_geometry
from satgeo.geo.masks import CLASS_NAMES

STAC_ITEMS_DIR = "stac"
COLLECTION_NAME = "collection.json"


def _item(chip: Chip, suffix: str, when: dt.datetime, props: dict) -> pystac.Item:
    g = chip.grid
    geom = mapping(reproject_geometry(box(*g.bounds).segmentize(max(g.bounds[2] - g.bounds[0], 1e-9) / 4), g.crs, WGS84))
    xs = [p[0] for p in geom["coordinates"][0]]
    ys = [p[1] for p in geom["coordinates"][0]]
    item = pystac.Item(f"{chip.id}-{suffix}", geom, [min(xs), min(ys), max(xs), max(ys)], when,
                       {"satgeo:split": chip.split, "satgeo:chip": chip.id, **props})
    epsg = g.crs.to_epsg()
    t = g.transform
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=f"EPSG:{epsg}" if epsg else None, wkt2=None if epsg else g.crs.to_wkt(), shape=[g.height, g.width],
        transform=[t.a, t.b, t.c, t.d, t.e, t.f], bbox=list(g.bounds),
    )
    return item


def build_collection(chip_plan: ChipPlan, out_dir: Path, provenance: dict[str, str], when: dt.datetime, gsd: float) -> Path:
    """Write ``DIR/pairs/collection.json`` and two Items per chip under ``DIR/pairs/stac/``."""
    root = (out_dir / PAIRS_DIR).resolve()
    chips = chip_plan.chips
    items: list[pystac.Item] = []
    lons, lats = [], []
    for chip in chips:
        image = _item(chip, "image", when, {
            "gsd": gsd, "satgeo:synthetic": True, "satgeo:model": provenance.get("MODEL"),
            "satgeo:model_hash": provenance.get("MODEL_HASH"), "satgeo:seed": int(provenance["SEED"]) if "SEED" in provenance else None,
        })
        image.add_asset("image", pystac.Asset(str(out_dir.resolve() / image_path(chip)), media_type=pystac.MediaType.COG,
                                              roles=["data", "synthetic"], title="synthetic RGB (COG)"))
        label = _item(chip, "label", when, {})
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
        label.add_asset("labels", pystac.Asset(str(out_dir.resolve() / label_path(chip)), media_type=pystac.MediaType.COG,
                                               roles=["labels", "labels-raster"], title="class labels (COG)"))
        label.add_asset("image", image.assets["image"].clone())
        LabelExtension.ext(label).add_source(image, assets=["image"])
        items += [image, label]
        lons += image.bbox[0::2]
        lats += image.bbox[1::2]
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
