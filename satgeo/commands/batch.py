"""``satgeo batch``: whole vector layers to chunked COGs + VRT mosaic + STAC, locally or on Ray."""

from __future__ import annotations

from pathlib import Path

import click

from satgeo.errors import InputError
from satgeo.geo.metadata import parse_date
from satgeo.models.ds_config import SCHEDULERS


def register(app: click.Group) -> None:
    @app.command("batch")
    @click.argument("layers", nargs=-1, required=True)
    @click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder (new, empty, or an earlier job with --resume).")
    @click.option("--gsd", type=float, help="Ground metres per pixel (local UTM lattice).")
    @click.option("--zoom", type=int, help="XYZ zoom level (EPSG:3857 tiles) instead of --gsd.")
    @click.option("--crs", help="Pin the work CRS for --gsd (default: the local UTM zone).")
    @click.option("--aoi", help="Only tiles inside this area (any vector file).")
    @click.option("--model", help="Model name or checkpoint path (default: the default pix2pix model).")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--prompt", help="Text prompt (diffusion models).")
    @click.option("--date", "date_", help="Acquisition date YYYY-MM-DD (metadata; STAC datetime).")
    @click.option("--cloud-cover", type=float, help="Cloud cover 0..1 (metadata).")
    @click.option("--steps", type=int, help="Sampling steps (diffusion models).")
    @click.option("--guidance", type=float, help="Classifier-free guidance scale, >= 0 (diffusion models).")
    @click.option("--scheduler", type=click.Choice(SCHEDULERS), help="Sampler (diffusion models).")
    @click.option("--tile-px", type=int, default=256, show_default=True, help="Pixels per lattice tile side (--gsd only).")
    @click.option("--chunk-tiles", type=int, default=4, show_default=True, help="Chunks are N x N tiles; one COG each.")
    @click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
    @click.option("--workers", type=int, help="Ray: number of model actors (default: one per CPU, or per GPU).")
    @click.option("--threads", type=int, help="torch threads per worker (the local process or each Ray actor).")
    @click.option("--ray-address", envvar="RAY_ADDRESS", help="Ray cluster to join (default $RAY_ADDRESS, else a local one).")
    @click.option("--resume", is_flag=True, help="Finish an interrupted job in -o.")
    @click.option("--mosaic-cog", is_flag=True, help="Also write one COG of the whole mosaic (mosaic.tif).")
    @click.option("--no-progress", is_flag=True, help="No progress bar.")
    @click.option("--pairs", is_flag=True, help="Also export training pairs (image + label chips, split by area) under DIR/pairs.")
    @click.option("--chip-size", type=int, help="--pairs: chip side in pixels [default: 256].")
    @click.option("--chip-overlap", type=int, help="--pairs: pixels shared by neighbouring chips [default: 0].")
    @click.option("--val-fraction", type=float, help="--pairs: share of split blocks held out for validation [default: 0.2].")
    @click.option("--split-block", type=int, help="--pairs: split blocks are N x N chip strides [default: 4].")
    @click.option("--split-buffer", type=int, help="--pairs: extra pixels kept clear between val and train chips [default: 0].")
    @click.option("--webdataset", is_flag=True, help="--pairs: also write webdataset shards for `satgeo train controlnet|lora`.")
    @click.option("--shard-size", type=int, help="--webdataset: samples per shard [default: 256].")
    def batch(layers, out_dir, gsd, zoom, crs, aoi, model, seed, prompt, date_, cloud_cover, steps, guidance, scheduler, tile_px,
              chunk_tiles, engine, workers, threads, ray_address, resume, mosaic_cog, no_progress, pairs, chip_size,
              chip_overlap, val_fraction, split_block, split_buffer, webdataset, shard_size) -> None:
        """Render whole vector LAYERS (footprints, roads, water, landuse; any GDAL format,
        `path:layer` for one layer of a multi-layer file) into a folder of chunk COGs,
        mosaic.vrt, a STAC catalog (stac/catalog.json) and summary.json."""
        from satgeo.batch import BatchOptions, run_batch
        from satgeo.batch.chips import PairOptions

        flags = {"chip_size": ("--chip-size", chip_size), "overlap": ("--chip-overlap", chip_overlap),
                 "val_fraction": ("--val-fraction", val_fraction), "split_block": ("--split-block", split_block),
                 "split_buffer": ("--split-buffer", split_buffer), "shard_size": ("--shard-size", shard_size)}
        given = {k: v for k, (_, v) in flags.items() if v is not None}
        if not pairs and (given or webdataset):
            flag = "--webdataset" if webdataset else flags[next(iter(given))][0]
            raise InputError(f"{flag} applies to training pairs; add --pairs")
        if shard_size is not None and not webdataset:
            raise InputError("--shard-size applies to --webdataset shards; add --webdataset")
        summary = run_batch(
            BatchOptions(
                layers=list(layers), out_dir=out_dir, gsd=gsd, zoom=zoom, crs=crs, aoi=aoi, model=model, seed=seed,
                prompt=prompt, date=parse_date(date_, "--date"), cloud_cover=cloud_cover, steps=steps, guidance=guidance,
                scheduler=scheduler, tile_px=tile_px,
                chunk_tiles=chunk_tiles, engine=engine, workers=workers, threads=threads, ray_address=ray_address, resume=resume,
                mosaic_cog=mosaic_cog, progress=not no_progress,
                pairs=PairOptions(**given, webdataset=webdataset) if pairs else None,
            )
        )
        for line in summary.lines():
            click.echo(line)
