"""``run_batch``: layers -> plan -> chunk COGs (local or Ray) -> VRT mosaic -> STAC -> summary.

The driver alone writes files and the journal: engines hand back COG bytes, the driver
renames them into place and then records them, so a kill at any point leaves only
complete COGs under final names, and ``resume`` redoes exactly the chunks not recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rasterio
import shapely
from shapely.geometry.base import BaseGeometry

from satgeo.atomic import write_bytes
from satgeo.batch import inputs
from satgeo.batch.assemble import MOSAIC_COG_NAME, VRT_NAME, build_mosaic_cog, build_vrt, outputs
from satgeo.batch.chips import ChipPlan, PairOptions, plan_chips
from satgeo.batch.chunk import (
    ChunkTask,
    RenderChoices,
    RenderFn,
    RenderParams,
    layers_near,
    remove_stale_temporaries,
)
from satgeo.batch.journal import CHUNKS_DIR, DoneChunk, Journal, check_output_dir, open_journal
from satgeo.batch.pairs import PAIRS_DIR, PairsResult, export_pairs, label_layers
from satgeo.batch.stac import build_catalog
from satgeo.batch.summary import BatchSummary, Progress
from satgeo.batch.tiling import Plan, TileGrid, make_plan
from satgeo.errors import InputError
from satgeo.geo.area import reproject_geometry
from satgeo.geo.crs import WGS84, parse_projected_crs, utm_crs_for
from satgeo.geo.metadata import check_cloud_cover
from satgeo.geo.xyz import mercator_scale
from satgeo.hashing import file_sha256
from satgeo.models.ds_config import SCHEDULERS, check_guidance

ENGINES = ("local", "ray")
#: Road lines are widened by this (ground metres) when planning, as masks draw them with a width.
ROAD_MARGIN_M = 10.0
#: Features this far (in tiles) beyond a chunk are handed to its renderer as context.
CONTEXT_TILES = 2
CONTEXT_MIN_M = 1000.0  # covers a model window of 512 px at ~2 m

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class BatchOptions(RenderChoices):
    """A batch job's options; the render choices (model, seed, prompt, date, ...) come from ``RenderChoices``."""

    layers: Sequence[str]
    out_dir: Path
    gsd: float | None = None  # ground metres per pixel (UTM or pinned-CRS lattice)
    zoom: int | None = None  # XYZ zoom (EPSG:3857 lattice); exclusive with gsd
    crs: str | None = None  # pin the work CRS (gsd mode); default the local UTM zone
    aoi: str | None = None
    tile_px: int = 256
    chunk_tiles: int = 4
    engine: str = "local"
    workers: int | None = None  # Ray actors
    threads: int | None = None  # torch threads per worker (local process or Ray actor)
    ray_address: str | None = None
    resume: bool = False
    mosaic_cog: bool = False
    progress: bool = True
    pairs: PairOptions | None = None  # --pairs: training-pair export beside the usual outputs
    extra: dict = field(default_factory=dict)


@dataclass
class PreparedJob:
    """Everything decided before rendering starts."""

    plan: Plan
    params: RenderParams
    layers: inputs.LoadedLayers
    fingerprint: str
    context_margin: float
    plan_seconds: float
    aoi: BaseGeometry | None = None  # in the lattice CRS
    chips: ChipPlan | None = None  # with --pairs

    def task(self, chunk) -> ChunkTask:
        near = layers_near(self.layers.frames, chunk.grid.bounds, self.context_margin)
        return ChunkTask(chunk.id, chunk.grid, len(chunk.tiles), near, self.params)


def _model_native_gsd(model: str | None) -> float:
    try:
        from satgeo.models.registry import load_generator

        return float(load_generator(model).card.native_gsd)
    except Exception as exc:  # no model, or no registry yet: the user has to say
        raise InputError(f"give --gsd M or --zoom Z (could not read the model's native GSD: {exc})") from None


def prepare(opts: BatchOptions, log: Log = _stderr) -> PreparedJob:
    """Read, check and plan (no files written)."""
    t0 = time.perf_counter()
    if opts.gsd is not None and opts.zoom is not None:
        raise InputError("give either --gsd or --zoom, not both")
    if opts.zoom is not None and opts.crs:
        raise InputError("--crs applies to --gsd lattices; --zoom always uses EPSG:3857 tiles")
    check_cloud_cover(opts.cloud_cover, "--cloud-cover")
    check_guidance(opts.guidance)
    if opts.scheduler is not None and opts.scheduler not in SCHEDULERS:
        raise InputError(f"--scheduler must be one of {', '.join(SCHEDULERS)}, got {opts.scheduler!r}")
    if opts.pairs is not None:
        opts.pairs.check()
    raw = inputs.read_layer_specs(opts.layers)
    lon, lat = inputs.features_centroid(raw)
    if opts.zoom is not None:
        lattice = TileGrid.xyz(opts.zoom)
        render_crs = utm_crs_for(lon, lat)
        scale = mercator_scale(lat)  # Web Mercator metres per ground metre here
        ground_gsd = lattice.gsd / scale
    else:
        gsd = opts.gsd if opts.gsd is not None else _model_native_gsd(opts.model)
        work_crs = parse_projected_crs(opts.crs, "--crs") if opts.crs else utm_crs_for(lon, lat)
        lattice = TileGrid.utm(work_crs, gsd, opts.tile_px)
        scale, ground_gsd = 1.0, gsd
        render_crs = work_crs
    layers = inputs.prepare_layers(raw, lattice.crs)
    for note in layers.notes:
        log(f"note: {note}")
    aoi = inputs.read_aoi(opts.aoi, lattice.crs) if opts.aoi else None
    plan = make_plan(layers.geometries(), lattice, opts.chunk_tiles, aoi=aoi, line_margin=ROAD_MARGIN_M * scale)
    geoms = layers.geometries()
    if aoi is not None:
        geoms = geoms[shapely.intersects(geoms, aoi)]
    w, s, e, n = shapely.total_bounds(geoms)
    area = reproject_geometry(shapely.box(w, s, e, n), lattice.crs, WGS84).bounds
    params = RenderParams(
        area_bounds=tuple(round(v, 9) for v in area),
        gsd=ground_gsd,
        render_crs=render_crs.to_string(),
        choices=opts.render_choices(),
    )
    margin = max(CONTEXT_TILES * lattice.tile_size, CONTEXT_MIN_M * scale)
    chips = plan_chips(plan, opts.pairs, aoi) if opts.pairs is not None else None
    described = {"plan": plan.fingerprint(), "params": params.describe(), "features": layers.fingerprint(), "margin": margin}
    if chips is not None:
        described["pairs"] = chips.describe()
    fp = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
    return PreparedJob(plan, params, layers, fp, margin, time.perf_counter() - t0, aoi, chips)


def _verified_done(journal: Journal, out_dir: Path, plan: Plan, log: Log) -> dict[str, DoneChunk]:
    """Journal entries whose file is still there, unchanged; others are forgotten (and redone)."""
    ids = {c.id for c in plan.chunks}
    good = {}
    for cid, rec in journal.done().items():
        path = out_dir / rec.path
        if cid in ids and path.is_file() and path.stat().st_size == rec.bytes and file_sha256(path) == rec.sha256:
            good[cid] = rec
        else:
            log(f"note: chunk {cid} is journaled but its file is missing or changed; rendering it again")
            journal.forget(cid)
    return good


def _export_pairs(opts: BatchOptions, job: PreparedJob, out_dir: Path, journal: Journal, tags: dict[str, str],
                  when: dt.datetime, log: Log) -> PairsResult:
    assert job.chips is not None
    layers = label_layers(opts.layers, job.chips.chips)
    meta: dict = {}
    if opts.cloud_cover is not None:
        meta["cloud_cover"] = opts.cloud_cover
    if opts.date is not None:
        meta.update(year=opts.date.year, month=opts.date.month, day=opts.date.day)
    result = export_pairs(job.chips, job.plan, layers, job.aoi, out_dir, journal, tags, job.params.gsd, when, meta, log)
    log(f"pairs: {result.train} train + {result.val} val chips ({result.dropped} dropped beside val) "
        f"in {result.seconds:.1f} s")
    return result


def chunk_provenance(out_dir: Path, plan: Plan) -> dict[str, str]:
    """The provenance tags all chunks share (the model's name and hash, seed, ...), read from the first chunk."""
    with rasterio.open(out_dir / CHUNKS_DIR / plan.chunks[0].filename) as src:
        tags = src.tags()
    return {k: v for k, v in tags.items() if k not in ("CHUNK", "AREA_OR_POINT")}


def _engine_results(
    opts: BatchOptions, job: PreparedJob, pending, render_fn: RenderFn | None
) -> Iterator[tuple[ChunkTask, bytes, float, float]]:
    if opts.engine == "local":
        from satgeo.batch.local import run_local

        return run_local((job.task(c) for c in pending), render_fn, threads=opts.threads)
    if opts.engine == "ray":
        from satgeo.batch.ray_engine import run_ray

        return run_ray(
            [job.task(c) for c in pending], workers=opts.workers, address=opts.ray_address, render_fn=render_fn,
            threads=opts.threads,
        )
    raise InputError(f"unknown engine {opts.engine!r}; use one of: {', '.join(ENGINES)}")


def run_batch(opts: BatchOptions, render_fn: RenderFn | None = None, log: Log = _stderr) -> BatchSummary:
    """Run (or finish, with ``opts.resume``) a batch job; returns its summary."""
    t_start = time.perf_counter()
    out_dir = Path(opts.out_dir)
    if opts.engine not in ENGINES:
        raise InputError(f"unknown engine {opts.engine!r}; use one of: {', '.join(ENGINES)}")
    if opts.workers is not None and opts.workers < 1:
        raise InputError(f"--workers must be at least 1, got {opts.workers}")
    if opts.threads is not None and opts.threads < 1:
        raise InputError(f"--threads must be at least 1, got {opts.threads}")
    existed = check_output_dir(out_dir, opts.resume)
    job = prepare(opts, log)
    plan = job.plan
    log(
        f"planned {plan.tile_count} tiles of {plan.lattice.tile_px} px in {len(plan.chunks)} chunks "
        f"({plan.pixel_count / 1e6:.1f} Mpx, {plan.lattice.crs.to_string()}, {job.params.gsd:.3g} m ground GSD) "
        f"in {job.plan_seconds:.1f} s"
    )
    with open_journal(out_dir) as journal:
        if existed and journal.get("fingerprint") not in (None, job.fingerprint):
            raise InputError(
                f"{out_dir} holds a batch job with other layers or parameters; rerun with the same ones, "
                "or choose a new folder"
            )
        if journal.get("fingerprint") is None:
            journal.set("fingerprint", job.fingerprint)
            journal.set("created", dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
            journal.set("params", json.dumps({"render": job.params.describe(), "lattice": plan.lattice.describe()}))
        chunk_dir = out_dir / CHUNKS_DIR
        remove_stale_temporaries(chunk_dir, [c.filename for c in plan.chunks])
        remove_stale_temporaries(out_dir, [VRT_NAME, MOSAIC_COG_NAME])
        done = _verified_done(journal, out_dir, plan, log)
        pending = [c for c in plan.chunks if c.id not in done]
        done_tiles = sum(r.tiles for r in done.values())
        if done:
            log(f"resuming: {len(done)} of {len(plan.chunks)} chunks already done")
        summary = BatchSummary(
            chunks=len(plan.chunks), tiles=plan.tile_count, pixels=plan.pixel_count,
            tiles_done_before=done_tiles, engine=opts.engine, plan_seconds=job.plan_seconds,
        )
        t_render = time.perf_counter()
        with Progress(plan.tile_count, done_tiles, enabled=opts.progress) as bar:
            for task, data, render_s, encode_s in _engine_results(opts, job, pending, render_fn):
                path = chunk_dir / f"{task.chunk_id}.tif"
                write_bytes(path, data, fsync=True)
                journal.record(
                    DoneChunk(task.chunk_id, f"{CHUNKS_DIR}/{path.name}", task.tiles, len(data),
                              hashlib.sha256(data).hexdigest(), render_s)
                )
                summary.render_seconds += render_s
                summary.encode_seconds += encode_s
                summary.tiles_rendered += task.tiles
                bar.update(task.tiles)
        summary.wall_render_seconds = time.perf_counter() - t_render
        t_out = time.perf_counter()
        created = dt.datetime.fromisoformat(journal.get("created") or "")
        when = dt.datetime.combine(opts.date, dt.time(), dt.timezone.utc) if opts.date else created
        tags = chunk_provenance(out_dir, plan)
        vrt = build_vrt(plan, out_dir, tags)
        if opts.mosaic_cog:
            build_mosaic_cog(vrt, out_dir, tags)
        build_catalog(plan, job.params, out_dir, when, tags)
        if job.chips is not None:
            summary.pairs = _export_pairs(opts, job, out_dir, journal, tags, when, log).to_dict()
        journal.set("complete", "1")
    summary.output_seconds = time.perf_counter() - t_out
    summary.seconds = time.perf_counter() - t_start
    summary.files = {str(p.relative_to(out_dir)): p.stat().st_size for p in outputs(out_dir, plan.chunks)}
    if job.chips is not None:
        summary.files[f"{PAIRS_DIR}/"] = sum(p.stat().st_size for p in (out_dir / PAIRS_DIR).rglob("*") if p.is_file())
    summary.write(out_dir)
    return summary
