"""A self-contained STAC Catalog of a batch job: one Item per chunk COG.

Items carry the projection extension (code, shape, transform, bbox), the GSD, and are
marked synthetic (``satgeo:synthetic``) with the model, seed and prompt that made them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac
from pystac.extensions.projection import ProjectionExtension
from shapely.geometry import box, mapping

from satgeo.batch.assemble import VRT_NAME
from satgeo.batch.chunk import RenderParams
from satgeo.batch.journal import CHUNKS_DIR
from satgeo.batch.tiling import Plan
from satgeo.geo.area import WGS84, reproject_geometry

STAC_DIR = "stac"


def _footprint(bounds: tuple[float, float, float, float], crs) -> dict:
    geom = box(*bounds).segmentize(max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 8)
    return mapping(reproject_geometry(geom, crs, WGS84))


def build_catalog(plan: Plan, params: RenderParams, out_dir: Path, when: dt.datetime, tags: dict[str, str]) -> Path:
    """Write ``out_dir/stac/catalog.json`` and one ``stac/<chunk>/<chunk>.json`` per chunk.

    ``tags`` are the chunks' provenance tags (MODEL is the model's registry name, MODEL_HASH its hash).
    """
    model = tags.get("MODEL", params.model or "default")
    catalog = pystac.Catalog(
        id="satgeo-batch",
        description=(
            f"Synthetic imagery made by satgeo from vector layers ({len(plan.chunks)} chunk COGs, "
            f"model {model}, seed {params.seed}); not a real observation."
        ),
        title="satgeo batch output (synthetic)",
    )
    code = plan.lattice.crs.to_string() if plan.lattice.crs.to_epsg() is None else f"EPSG:{plan.lattice.crs.to_epsg()}"
    for chunk in plan.chunks:
        geom = _footprint(chunk.grid.bounds, chunk.grid.crs)
        xs = [p[0] for p in geom["coordinates"][0]]
        ys = [p[1] for p in geom["coordinates"][0]]
        item = pystac.Item(
            id=chunk.id,
            geometry=geom,
            bbox=[min(xs), min(ys), max(xs), max(ys)],
            datetime=when,
            properties={
                "gsd": params.gsd,
                "satgeo:synthetic": True,
                "satgeo:model": model,
                "satgeo:seed": params.seed,
                "satgeo:tiles": len(chunk.tiles),
            },
        )
        if tags.get("MODEL_HASH"):
            item.properties["satgeo:model_hash"] = tags["MODEL_HASH"]
        if params.prompt:
            item.properties["satgeo:prompt"] = params.prompt
        proj = ProjectionExtension.ext(item, add_if_missing=True)
        t = chunk.grid.transform
        proj.apply(
            code=code,
            shape=[chunk.grid.height, chunk.grid.width],
            transform=[t.a, t.b, t.c, t.d, t.e, t.f],
            bbox=list(chunk.grid.bounds),
        )
        item.add_asset(
            "image",
            pystac.Asset(
                href=str((out_dir / CHUNKS_DIR / chunk.filename).resolve()),
                media_type=pystac.MediaType.COG,
                roles=["data"],
                title="synthetic RGB (COG)",
            ),
        )
        catalog.add_item(item)
    # Written in place: a resumed job writes the same file names, so nothing else is ever removed.
    stac_dir = out_dir / STAC_DIR
    catalog.normalize_hrefs(str(stac_dir.resolve()))
    catalog.make_all_asset_hrefs_relative()
    catalog.add_link(pystac.Link("alternate", f"../{VRT_NAME}", media_type="application/xml", title="mosaic (GDAL VRT)"))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return stac_dir / "catalog.json"
