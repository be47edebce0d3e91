"""The render engine's public entry points (used by the CLI, the server and the batch engine).

Pixels are a function of (model, layers, seed, parameters) and the *global* window
lattice of the model's native grid, not of the area that was asked for: any area, chunk
or metatile is an exact crop of the same virtual image, so results are order-independent
and chunk borders are seamless.

Pipeline: area -> output grid (work CRS, snapped to multiples of the output GSD) -> the
lattice rectangle it needs -> window rows (masks burned once per row band, windows
generated in batches, seeded noise) -> feathered blend (``blend.NativeCanvas``) ->
resample to the output GSD band by band -> ``CogWriter`` (streamed; atomic).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from rasterio.warp import Resampling, reproject, transform_bounds

from satgeo.errors import Cancelled, InputError, LimitError
from satgeo.geo.grid import Grid
from satgeo.models import registry
from satgeo.models.base import BatchGenerator, Generator, ModelCard, RegionRequest
from satgeo.render.blend import NativeCanvas
from satgeo.render.noise import field_seed, window_seed
from satgeo.render.plan import Lattice, snapped_grid
from satgeo.render.request import RenderRequest

if TYPE_CHECKING:
    from rasterio.crs import CRS

    from satgeo.geo.masks import LayerSet

Progress = Callable[[float], None]

#: Output rows written per band (a multiple of the COG's 512 px blocks).
BAND_ROWS = 512
#: Windows generated per forward pass.
BATCH = 8
#: Largest lattice rectangle ``render_grid`` builds in memory (pixels).
MAX_GRID_PIXELS = 64 * 1024 * 1024


@dataclass
class RenderResult:
    path: Path
    grid: Grid
    tags: dict[str, str]  # provenance tags written to the COG
    seconds: float


# ------------------------------------------------------------------ models and layers

_GENERATORS: OrderedDict[tuple[str, str, int, str | None], Generator] = OrderedDict()
_GEN_LOCK = threading.Lock()


def get_generator(model: str | None, device: str | None = None) -> Generator:
    """A loaded generator for a registry name or path on ``device`` (None: the family's choice).

    Kept in a small cache by path + mtime + device.
    """
    path, family = registry.resolve(model)
    try:
        files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
        stamp = max((p.stat().st_mtime_ns for p in files), default=0)
    except OSError:
        stamp = 0
    key = (str(path.resolve()), family.name, stamp, device)
    with _GEN_LOCK:
        gen = _GENERATORS.get(key)
        if gen is not None:
            _GENERATORS.move_to_end(key)
            return gen
    gen = family.load(path, device=device)
    with _GEN_LOCK:
        _GENERATORS[key] = gen
        while len(_GENERATORS) > 2:
            _GENERATORS.popitem(last=False)
    return gen


def lattice_gsd(card: ModelCard, gsd: float | None) -> float:
    """The GSD windows are generated at: ``gsd`` clamped into the model's ``gsd_range`` (native without one)."""
    if gsd is None or card.gsd_range is None:
        return float(card.native_gsd)
    lo, hi = card.gsd_range
    return float(min(max(gsd, lo), hi))


def lattice_for(request: RenderRequest, card: ModelCard) -> Lattice:
    return Lattice(request.area.work_crs(), lattice_gsd(card, request.gsd), int(card.tile_size), int(card.overlap))


def check_gsd(gsd: float, card: ModelCard) -> None:
    """Refuse output GSDs further than ``card.max_gsd_ratio`` from what the model renders directly."""
    if not (math.isfinite(gsd) and gsd > 0):
        raise InputError(f"--gsd must be a positive number of metres, got {gsd}")
    lo, hi = card.gsd_range or (card.native_gsd, card.native_gsd)
    ratio = max(gsd / hi, lo / gsd, 1.0)
    if ratio > card.max_gsd_ratio:
        a, b = lo / card.max_gsd_ratio, hi * card.max_gsd_ratio
        rendered = f"{lo:g}-{hi:g} m" if hi > lo else f"{lo:g} m"
        raise InputError(
            f"GSD {gsd:g} m is {ratio:.0f}x away from the native GSD of model {card.name} ({rendered}); "
            f"use a GSD between {a:.3g} and {b:.3g} m or another model"
        )


class Rasterizer(Protocol):
    """What windows are cut from: class masks on any grid of the lattice."""

    def rasterize(self, grid: Grid) -> np.ndarray: ...


def _layer_set(request: RenderRequest, crs: CRS) -> LayerSet:
    from satgeo.geo.masks import cached_layers

    return cached_layers(list(request.layers), crs)


def _clip_layers(layers: LayerSet | None, lattice: Lattice, rect: tuple[int, int, int, int],
                 card: ModelCard) -> LayerSet | None:
    """``layers`` cut to the lattice rectangle plus every window (and its context) that reaches it."""
    if layers is None:
        return None
    r0, c0, r1, c1 = rect
    reach = lattice.tile + card.context + 2
    g = lattice.gsd
    bounds = ((c0 - reach) * g, -(r1 + reach) * g, (c1 + reach) * g, -(r0 - reach) * g)
    return layers.clipped(bounds, lattice.crs)


def _check_layers_meet(layers: LayerSet | None, request: RenderRequest,
                       bounds: tuple[float, float, float, float]) -> None:
    """Footprints given but none inside the area: almost always a wrong file or CRS."""
    if not request.layers:
        return
    import shapely

    if layers is None or len(layers) == 0 or not len(layers.tree.query(shapely.box(*bounds))):
        names = ", ".join(str(x) for x in request.layers if not hasattr(x, "geometry")) or "the given layers"
        raise InputError(
            f"no feature of {names} falls inside the area; check the layer, its CRS and --bbox/--aoi"
        )


# ------------------------------------------------------------------ window generation


def batch_size(card: ModelCard) -> int:
    """Windows per forward pass: about the memory of ``BATCH`` windows of 256 px, always the same for a model."""
    side = card.tile_size + 2 * card.context
    return max(1, BATCH * 256 * 256 // side**2)


def _fixed_batch(gen: BatchGenerator, size: int, masks: np.ndarray, seeds: Sequence[int],
                 origins: Sequence[tuple[int, int]], field_seed: int = 0, gsd: float | None = None) -> np.ndarray:
    """``gen.generate_batch`` on exactly ``size`` windows, the last one repeated as padding.

    CPU kernels (oneDNN's AVX2 convolutions among them) pick blockings by batch size, and
    a different blocking rounds differently: a window's bytes would depend on how many
    windows shared its pass, so on where a metatile or chunk cut the row.
    """
    n = len(masks)
    pad = size - n
    if pad:
        masks = np.concatenate([masks, np.repeat(masks[-1:], pad, axis=0)])
        seeds, origins = list(seeds) + [seeds[-1]] * pad, list(origins) + [origins[-1]] * pad
    return gen.generate_batch(masks, seeds, origins=origins, field_seed=field_seed, gsd=gsd)[:n]


RowMaker = Callable[[int, Sequence[int]], np.ndarray]


def _row_maker(
    gen: Generator, lattice: Lattice, layers: Rasterizer | None, request: RenderRequest,
    cancel: threading.Event | None, metadata: list[float | None] | None,
) -> RowMaker:
    t, s = lattice.tile, lattice.stride
    batcher = gen.batched()
    ctx = gen.card.context if batcher is not None else 0
    f_seed = field_seed(request.seed, lattice)
    batch = batch_size(gen.card)
    rasters = tuple(request.condition_rasters)

    def make_row(i: int, js: Sequence[int]) -> np.ndarray:
        if cancel is not None and cancel.is_set():
            raise Cancelled("render cancelled")
        j0 = js[0]
        width = (js[-1] - j0) * s + t
        # windows are read with `ctx` pixels of context on each side, which the model crops
        band = layers.rasterize(lattice.grid(i * s - ctx, j0 * s - ctx, t + 2 * ctx, width + 2 * ctx)) \
            if layers is not None else np.zeros((t + 2 * ctx, width + 2 * ctx), np.uint8)
        masks = np.stack([band[:, (j - j0) * s:(j - j0) * s + t + 2 * ctx] for j in js])
        origins = [(i * s - ctx, j * s - ctx) for j in js]
        seeds = [window_seed(request.seed, lattice, i * s, j * s) for j in js]
        out = np.empty((len(js), t, t, 3), np.uint8)
        for k in range(0, len(js), batch):
            if cancel is not None and cancel.is_set():
                raise Cancelled("render cancelled")
            if batcher is not None:
                out[k:k + batch] = _fixed_batch(
                    batcher, batch, masks[k:k + batch], seeds[k:k + batch], origins=origins[k:k + batch],
                    field_seed=f_seed, gsd=lattice.gsd,
                )
            else:
                for q in range(k, min(k + batch, len(js))):
                    req = RegionRequest(
                        masks=masks[q], grid=lattice.grid(i * s, js[q] * s, t, t), seed=request.seed,
                        origin=(i * s, js[q] * s), prompt=request.prompt, metadata=metadata,
                        steps=request.steps, guidance=request.guidance,
                        scheduler=request.scheduler, cancel=cancel, noise_seed=seeds[q], lattice_key=lattice.key,
                        condition_rasters=rasters,
                    )
                    out[q] = gen.generate_region(req)
        return out

    return make_row


def _metadata(request: RenderRequest, gsd: float) -> tuple[list[float | None] | None, list[float] | None]:
    """(raw, normalized) DiffusionSat metadata of the request, when the core can compute it."""
    try:
        from satgeo.geo.metadata import metadata_for
    except ImportError:
        return None, None
    md = metadata_for(request.area, gsd, request.date, request.cloud_cover)
    raw = [getattr(md, f) for f in ("lon", "lat", "gsd", "cloud_cover", "year", "month", "day")]
    return [float(v) if v is not None else None for v in raw], md.normalized()


def _resampling(out_gsd: float, native: float) -> Resampling:
    return Resampling.average if out_gsd > native * 1.01 else Resampling.bilinear


def _margin(out_gsd: float, native: float) -> int:
    return int(math.ceil(out_gsd / native)) + 2


# ------------------------------------------------------------------ public API


def render_tags(request: RenderRequest, gsd: float | None = None) -> dict[str, str]:
    """The provenance tags of a render of ``request`` at ``gsd`` (default: request.gsd, else native).

    One place for them: CLI renders, server jobs and batch chunks all carry exactly these.
    """
    gen = get_generator(request.model, request.device)
    gsd = float(gsd if gsd is not None else request.gsd if request.gsd is not None else gen.card.native_gsd)
    return _provenance(request, gen, gsd)[0]


def _provenance(request: RenderRequest, gen: Generator,
                gsd: float) -> tuple[dict[str, str], list[float | None] | None]:
    """(provenance tags, raw DiffusionSat metadata) of a render of ``request`` by ``gen`` at ``gsd``."""
    from satgeo.geo.cog import provenance_tags

    card = gen.card
    raw_md, norm_md = _metadata(request, gsd)
    tags = provenance_tags(
        model=card.name, model_hash=gen.model_hash, prompt=request.prompt, seed=request.seed,
        metadata=norm_md, metadata_raw=raw_md, family=card.family, gsd=gsd, native_gsd=card.native_gsd,
        lattice=lattice_for(request, card).key, license=card.license or None, attribution=card.attribution or None,
    )
    return tags, raw_md


def render_to_cog(
    request: RenderRequest,
    out_path: str | Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    stac: bool = False,
) -> RenderResult:
    """Render ``request.area`` at ``request.gsd`` into a COG at ``out_path`` (atomic, streamed)."""
    from satgeo.geo.cog import CogWriter

    t_start = time.time()
    gen = get_generator(request.model, request.device)
    card = gen.card
    lattice = lattice_for(request, card)
    gsd = float(request.gsd) if request.gsd is not None else card.native_gsd
    check_gsd(gsd, card)
    bounds = request.area.work_geometry().bounds
    grid = snapped_grid(lattice.crs, bounds, gsd)
    layers = _layer_set(request, lattice.crs) if request.layers else None
    _check_layers_meet(layers, request, bounds)
    tags, raw_md = _provenance(request, gen, gsd)
    exact = math.isclose(gsd, lattice.gsd, rel_tol=1e-9)
    margin = 0 if exact else _margin(gsd, lattice.gsd)
    r0, c0, r1, c1 = lattice.rect_for_bounds(grid.bounds, margin)
    layers = _clip_layers(layers, lattice, (r0, c0, r1, c1), card)

    def on_row(done: int, total: int) -> None:
        if progress is not None:
            progress(min(done / total, 0.999))

    canvas = NativeCanvas(
        lattice, r0, c0, r1, c1, _row_maker(gen, lattice, layers, request, cancel, raw_md), on_row=on_row,
    )
    resampling = _resampling(gsd, lattice.gsd)
    out_path = Path(out_path)
    if out_path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"output {out_path} must end in .tif")
    with CogWriter(out_path, grid, 3, "uint8", tags=tags, overview_resampling="average") as writer:
        for a in range(0, grid.height, BAND_ROWS):
            b = min(grid.height, a + BAND_ROWS)
            if cancel is not None and cancel.is_set():
                raise Cancelled("render cancelled")
            if exact:
                rows = canvas.rows(r0 + a, r0 + b)  # r0 is the grid's own first lattice row
                band = rows.transpose(2, 0, 1)
            else:
                band = _resample_band(canvas, lattice, grid, a, b, c0, c1, margin, resampling)
            writer.write(band, a, 0)
    if progress is not None:
        progress(1.0)
    if stac:
        from satgeo.geo.cog import write_stac_item

        write_stac_item(out_path)
    return RenderResult(out_path, grid, tags, time.time() - t_start)


def _resample_band(canvas: NativeCanvas, lattice: Lattice, grid: Grid, a: int, b: int, c0: int, c1: int,
                   margin: int, resampling: Resampling) -> np.ndarray:
    """Output rows [a, b) of ``grid`` resampled from the lattice rows under them."""
    g = lattice.gsd
    band_grid = grid.window(0, a, grid.width, b - a)
    _, south, _, north = band_grid.bounds
    ra = max(canvas.row0, math.floor(-north / g + 1e-9) - margin)
    rb = min(canvas.row1, math.ceil(-south / g - 1e-9) + margin)
    src = canvas.rows(ra, rb).transpose(2, 0, 1)
    src_grid = lattice.grid(ra, c0, rb - ra, c1 - c0)
    dst = np.zeros((3, b - a, grid.width), np.uint8)
    reproject(
        np.ascontiguousarray(src), dst, src_transform=src_grid.transform, src_crs=lattice.crs,
        dst_transform=band_grid.transform, dst_crs=grid.crs, resampling=resampling, num_threads=1,
    )
    return dst


def render_grid(
    request: RenderRequest,
    grid: Grid,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Render onto an explicit grid (server metatiles, batch chunks): (3, H, W) uint8.

    The pixels come from the request area's lattice (its work CRS at the model's native
    GSD): a grid that is an exact crop of that lattice gets the lattice pixels unchanged;
    any other grid (another CRS, GSD or alignment) is resampled from it.
    """
    gen = get_generator(request.model, request.device)
    card = gen.card
    lattice = lattice_for(request, card)
    layers = _layer_set(request, lattice.crs) if request.layers else None
    off = lattice.offset_of(grid)
    if off is not None:
        r0, c0 = off
        r1, c1 = r0 + grid.height, c0 + grid.width
        margin = 0
    else:
        from rasterio.warp import transform as warp_transform

        from satgeo.geo.metadata import ground_gsd

        cx, cy = grid.transform @ (grid.width / 2, grid.height / 2)
        lon, lat = warp_transform(grid.crs, "EPSG:4326", [cx], [cy])
        out_gsd = ground_gsd(grid.crs, grid.gsd, lon[0], lat[0])
        check_gsd(out_gsd, card)
        bounds = transform_bounds(grid.crs, lattice.crs, *grid.bounds, densify_pts=21)
        margin = _margin(out_gsd, lattice.gsd)
        r0, c0, r1, c1 = lattice.rect_for_bounds(bounds, margin)
    if (r1 - r0) * (c1 - c0) > MAX_GRID_PIXELS:
        raise LimitError(
            f"grid needs {(r1 - r0) * (c1 - c0) / 1e6:.0f} Mpx at the model's native GSD "
            f"(limit {MAX_GRID_PIXELS / 1e6:.0f}); ask for a smaller grid or use render_to_cog"
        )
    raw_md, _ = _metadata(request, lattice.gsd)
    layers = _clip_layers(layers, lattice, (r0, c0, r1, c1), card)

    def on_row(done: int, total: int) -> None:
        if progress is not None:
            progress(done / total)

    canvas = NativeCanvas(
        lattice, r0, c0, r1, c1, _row_maker(gen, lattice, layers, request, cancel, raw_md), on_row=on_row,
    )
    native = canvas.rows(r0, r1).transpose(2, 0, 1)
    if off is not None:
        return np.ascontiguousarray(native)
    dst = np.zeros((3, grid.height, grid.width), np.uint8)
    reproject(
        np.ascontiguousarray(native), dst, src_transform=lattice.grid(r0, c0, r1 - r0, c1 - c0).transform,
        src_crs=lattice.crs, dst_transform=grid.transform, dst_crs=grid.crs,
        resampling=_resampling(out_gsd, lattice.gsd),
        num_threads=1,
    )
    return dst



def render_mask(gen: Generator, mask: np.ndarray, seed: int = 0, gsd: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 for a class mask given in pixels (no georeferencing), feathered like a render.

    The mask is treated as lattice rows/cols [0, H) x [0, W) of a local lattice at ``gsd``
    (default: the model's native GSD); windows reaching past it see the mask mirrored. Used
    by evaluation and training-time validation on image chips.
    """
    from rasterio.crs import CRS

    card = gen.card
    mask = np.asarray(mask, np.uint8)
    h, w = mask.shape
    lattice = Lattice(CRS.from_epsg(3857), lattice_gsd(card, gsd), int(card.tile_size), int(card.overlap))
    t = lattice.tile
    pad = t + card.context  # windows (with context) start at most this far before the mask
    padded = np.pad(mask, pad, mode="symmetric")

    class _Local:
        def rasterize(self, grid: Grid) -> np.ndarray:
            c = round(grid.transform.c / lattice.gsd)
            r = round(-grid.transform.f / lattice.gsd)
            return padded[r + pad:r + pad + grid.height, c + pad:c + pad + grid.width]

    req = RenderRequest(area=None, seed=seed)  # type: ignore[arg-type]
    canvas = NativeCanvas(lattice, 0, 0, h, w, _row_maker(gen, lattice, _Local(), req, None, None))
    return canvas.rows(0, h)
