"""Benchmark `satgeo batch` on the full Boulder footprints (13.5k buildings).

Runs, in one process and on the same plan:
  1. the local engine, 1 torch thread        (the peer every ratio is measured against)
  2. the local engine, 2 torch threads
  3. the Ray engine with 2 actors x 1 thread  (a local Ray cluster started here)
and prints one JSON object: tiles/s of each, ratios to (1), whether all three wrote the same
bytes, whether the mosaic COG and STAC catalog are valid, and where the time goes
(planning, building masks, generating, COG encoding, mosaic + STAC).

The model is a small random pix2pix (ngf 8, 256 px windows, native 2 m) built here: no
weights are downloaded, and the numbers measure the batch machinery plus a light generator.

    python3 bench/batch.py [--gsd 2] [--layer PATH] [--skip-ray]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOULDER = ROOT.parent / "shared" / "data" / "opengeos_boulder_mtbf33" / "boulder_buildings.zip"


def build_model(folder: Path, native_gsd: float) -> str:
    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix
    from satgeo.models.pix2pix_nets import init_weights

    cfg = Pix2PixConfig(name="bench-pix2pix", num_downs=8, ngf=8, native_gsd=native_gsd, tile_size=256, overlap=32)
    return str(save_pix2pix(init_weights(cfg.build(), seed=1), cfg, folder))


def imagery(out: Path) -> dict[str, bytes]:
    files = sorted((out / "chunks").glob("*.tif")) + [out / "mosaic.vrt"]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def mask_seconds(opts) -> tuple[float, float, int]:
    """(planning s, mask-building s over every chunk, chunks): what the engines do before generating."""
    from satgeo.batch import prepare
    from satgeo.geo.masks import load_layers
    from satgeo.render.plan import Lattice as RenderLattice

    t0 = time.perf_counter()
    job = prepare(opts, log=lambda m: None)
    plan_s = time.perf_counter() - t0
    # The same work render_grid does for masks: classify + index the chunk's layers, burn
    # them on the chunk's rectangle of the model's native lattice (plus one window of context).
    from satgeo.render.engine import get_generator

    card = get_generator(opts.model).card
    lat = RenderLattice(job.plan.lattice.crs, card.native_gsd, card.tile_size, card.overlap)
    t0 = time.perf_counter()
    for chunk in job.plan.chunks:
        task = job.task(chunk)
        ls = load_layers(task.layers, lat.crs)
        r0, c0, r1, c1 = lat.rect_for_bounds(chunk.grid.bounds, card.tile_size)
        ls.rasterize(lat.grid(r0, c0, r1 - r0, c1 - c0))
    return plan_s, time.perf_counter() - t0, len(job.plan.chunks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default=str(BOULDER))
    ap.add_argument("--gsd", type=float, default=2.0)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    if not Path(args.layer).exists():
        raise SystemExit(f"bench needs {args.layer} (../shared/data)")

    from rio_cogeo.cogeo import cog_validate

    from satgeo.batch import BatchOptions, run_batch

    work = Path(tempfile.mkdtemp(prefix="satgeo-bench-batch-"))
    model = build_model(work / "model", args.gsd)
    base = dict(gsd=args.gsd, tile_px=256, chunk_tiles=4, model=model, seed=1, progress=False)

    def opts(name: str, **kw) -> BatchOptions:
        return BatchOptions([args.layer], work / name, **{**base, **kw})

    runs = {}
    t0 = time.perf_counter()
    s1 = run_batch(opts("local1", threads=1, mosaic_cog=True), log=lambda m: None)
    runs["local_1thread"] = (s1, time.perf_counter() - t0)
    t0 = time.perf_counter()
    s2 = run_batch(opts("local2", threads=2), log=lambda m: None)
    runs["local_2threads"] = (s2, time.perf_counter() - t0)
    ray_start = None
    if not args.skip_ray:
        import os

        import ray

        os.environ.setdefault("RAY_worker_niceness", "0")  # compete with the local runs on equal terms
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        s3 = run_batch(opts("ray2", engine="ray", workers=2, threads=1), log=lambda m: None)
        runs["ray_2actors"] = (s3, time.perf_counter() - t0)
        ray.shutdown()

    plan_s, masks_s, n_chunks = mask_seconds(opts("probe"))
    ref = imagery(work / "local1")
    same = {name: imagery(work / name.replace("local_1thread", "local1").replace("local_2threads", "local2")
                          .replace("ray_2actors", "ray2")) == ref for name in runs}
    peer = runs["local_1thread"][0].tiles_per_second
    s = s1
    gen_s = max(s.render_seconds - masks_s, 0.0)
    total = s.plan_seconds + s.render_seconds + s.encode_seconds + s.output_seconds
    import pystac

    items = list(pystac.Catalog.from_file(str(work / "local1" / "stac" / "catalog.json")).get_items())
    result = {
        "bench": "batch",
        "layer": Path(args.layer).name,
        "features": None,
        "gsd_m": args.gsd,
        "tiles": s.tiles,
        "chunks": s.chunks,
        "megapixels": round(s.pixels / 1e6, 2),
        "runs": {
            name: {
                "tiles_per_s": round(sm.tiles_per_second, 3),
                "render_wall_s": round(sm.wall_render_seconds, 2),
                "job_wall_s": round(wall, 2),
                "ratio_to_local_1thread": round(sm.tiles_per_second / peer, 3) if peer else None,
                "identical_bytes_to_local_1thread": same[name],
            }
            for name, (sm, wall) in runs.items()
        },
        "ray_init_s": round(ray_start, 2) if ray_start is not None else None,
        "time_share_local_1thread": {
            "planning": round(s.plan_seconds / total, 4),
            "building_masks": round(masks_s / total, 4),
            "generating": round(gen_s / total, 4),
            "cog_encoding": round(s.encode_seconds / total, 4),
            "mosaic_vrt_cog_stac": round(s.output_seconds / total, 4),
        },
        "planning_plus_masks_vs_generating": round((s.plan_seconds + masks_s) / gen_s, 4) if gen_s else None,
        "seconds_local_1thread": {
            "planning": round(s.plan_seconds, 2), "building_masks": round(masks_s, 2), "generating": round(gen_s, 2),
            "cog_encoding": round(s.encode_seconds, 2), "mosaic_vrt_cog_stac": round(s.output_seconds, 2),
        },
        "mosaic_cog_valid": bool(cog_validate(str(work / "local1" / "mosaic.tif"))[0]),
        "stac_items": len(items),
        "output_bytes": s.to_dict()["bytes_total"],
        "workdir": str(work),
    }
    import geopandas as gpd

    result["features"] = int(len(gpd.read_file(args.layer, columns=[])))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
