"""A self-contained STAC Catalog of a batch job: one Item per chunk COG.

Items are built by ``satgeo.geo.stac.build_item`` (projection and raster extensions, marked
synthetic, the chunks' provenance tags as ``satgeo:*``), plus the GSD and ``satgeo:tiles``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac

from satgeo.batch.assemble import VRT_NAME
from satgeo.batch.chunk import RenderParams
from satgeo.batch.journal import CHUNKS_DIR
from satgeo.batch.tiling import Plan
from satgeo.geo.stac import build_item, cog_asset, raster_bands

STAC_DIR = "stac"


def build_catalog(plan: Plan, params: RenderParams, out_dir: Path, when: dt.datetime, tags: dict[str, str]) -> Path:
    """Write ``out_dir/stac/catalog.json`` and one ``stac/<chunk>/<chunk>.json`` per chunk.

    ``tags`` are the chunks' provenance tags (MODEL is the model's registry name, MODEL_HASH its hash).
    """
    model = tags.get("MODEL", params.choices.model or "default")
    catalog = pystac.Catalog(
        id="satgeo-batch",
        description=(
            f"Synthetic imagery made by satgeo from vector layers ({len(plan.chunks)} chunk COGs, "
            f"model {model}, seed {params.choices.seed}); not a real observation."
        ),
        title="satgeo batch output (synthetic)",
    )
    provenance = {"MODEL": model, "SEED": str(params.choices.seed), **({"PROMPT": params.choices.prompt} if params.choices.prompt else {}), **tags}
    for chunk in plan.chunks:
        href = str((out_dir / CHUNKS_DIR / chunk.filename).resolve())
        item = build_item(
            chunk.id, chunk.grid, when,
            assets={"image": cog_asset(href, "synthetic RGB (COG)", raster_bands(3, "uint8"))},
            provenance=provenance, properties={"gsd": params.gsd, "satgeo:tiles": len(chunk.tiles)},
        )
        catalog.add_item(item)
    # Written in place: a resumed job writes the same file names, so nothing else is ever removed.
    stac_dir = out_dir / STAC_DIR
    catalog.normalize_hrefs(str(stac_dir.resolve()))
    catalog.make_all_asset_hrefs_relative()
    catalog.add_link(pystac.Link("alternate", f"../{VRT_NAME}", media_type="application/xml", title="mosaic (GDAL VRT)"))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return stac_dir / "catalog.json"
