"""XYZ tiles of a scene: metatiles rendered at the native zoom, cached, single-flight.

Native zoom: tiles are crops of metatiles (``metatile`` x ``metatile`` tiles) that
``render_grid`` renders on an EPSG:3857 grid aligned to the global tile lattice.
Lower zooms: 2x2 children averaged. Higher zooms: the native ancestor resampled.
Every tile lands in the scene's MBTiles cache; concurrent requests for tiles of one
metatile share one generation.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
from PIL import Image

from satgeo.errors import InputError
from satgeo.geo.crs import WEB_MERCATOR
from satgeo.geo.xyz import MAX_ZOOM, check_tile, lonlat_to_mercator, pixel_centres, tile_bounds
from satgeo_server.scenes import LoadedScene, SceneRegistry
from satgeo_server.settings import Settings
from satgeo_server.tilecache import TileCache
from satgeo_server.warp import sample_bilinear


def encode_png(rgb: np.ndarray) -> bytes:
    """(H, W, 3|4) uint8 -> PNG bytes (deterministic)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG -> (H, W, 4) uint8 (RGB tiles get an opaque alpha)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


class TileService:
    def __init__(self, settings: Settings, scenes: SceneRegistry, renderer: Any = None) -> None:
        self.settings = settings
        self.scenes = scenes
        self._renderer = renderer
        self.stats: Counter[str] = Counter()
        self._inflight: dict[tuple, Future] = {}
        self._lock = threading.Lock()
        self._caches: dict[str, TileCache] = {}
        #: one generation at a time per device: parallel torch calls only fight over the cores
        self._device_slot = threading.Semaphore(1)
        self.empty_tile = encode_png(np.zeros((settings.tile_size, settings.tile_size, 4), np.uint8))

    @property
    def renderer(self) -> Any:
        if self._renderer is None:
            from satgeo.render import engine

            self._renderer = engine
        return self._renderer

    def cache(self, scene_id: str) -> TileCache:
        cache = self._caches.get(scene_id)
        if cache is None:
            with self._lock:
                cache = self._caches.get(scene_id)
                if cache is None:
                    cache = TileCache(
                        self.settings.data_dir / "cache" / f"{scene_id}.mbtiles",
                        {"name": scene_id, "format": "png", "type": "overlay", "description": "satgeo synthetic imagery"},
                    )
                    self._caches[scene_id] = cache
        return cache

    def zoom_range(self, spec: dict[str, Any]) -> tuple[int, int]:
        n = int(spec["native_zoom"])
        return max(0, n - self.settings.zooms_below), min(MAX_ZOOM, n + self.settings.zooms_above)

    def check_tile(self, spec: dict[str, Any], z: int, x: int, y: int) -> None:
        lo, hi = self.zoom_range(spec)
        if not lo <= z <= hi:
            raise InputError(f"zoom {z} is outside this scene's zooms {lo}..{hi}")
        check_tile(x, y, z)

    def in_scene(self, spec: dict[str, Any], z: int, x: int, y: int) -> bool:
        west, south, east, north = spec["bounds"]
        sw = lonlat_to_mercator(west, south)
        ne = lonlat_to_mercator(east, north)
        tw, ts, te, tn = tile_bounds(x, y, z)
        return tw < ne[0] and te > sw[0] and ts < ne[1] and tn > sw[1]

    def cached(self, scene_id: str, z: int, x: int, y: int) -> bytes | None:
        return self.cache(scene_id).get(z, x, y)

    def get_tile(self, scene_id: str, z: int, x: int, y: int) -> bytes:
        """The tile's PNG bytes, generating (and caching) whatever it needs. Blocking."""
        scene = self.scenes.load(scene_id)
        if scene is None:
            raise KeyError(scene_id)
        return self._tile(scene, z, x, y)

    # -- internals ----------------------------------------------------------------------------

    def _tile(self, scene: LoadedScene, z: int, x: int, y: int) -> bytes:
        if not self.in_scene(scene.spec, z, x, y):
            return self.empty_tile
        cache = self.cache(scene.id)
        data = cache.get(z, x, y)
        if data is not None:
            return data
        n = scene.native_zoom
        if z == n:
            m = self.settings.metatile
            tiles = self._single_flight((scene.id, "meta", z, x // m, y // m),
                                        lambda: self._metatile(scene, z, x // m, y // m))
            return tiles.get((x, y), self.empty_tile)
        make = self._overview if z < n else self._zoomed
        return self._single_flight((scene.id, "tile", z, x, y), lambda: make(scene, z, x, y))

    def _single_flight(self, key: tuple, fn: Callable[[], Any]) -> Any:
        with self._lock:
            found = self._inflight.get(key)
            leader = found is None
            fut: Future[Any] = Future() if found is None else found
            if leader:
                self._inflight[key] = fut
        if not leader:
            return fut.result()
        try:
            result = fn()
        except BaseException as exc:
            fut.set_exception(exc)
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _metatile(self, scene: LoadedScene, z: int, mx: int, my: int) -> dict[tuple[int, int], bytes]:
        cache = self.cache(scene.id)
        m, size, margin = self.settings.metatile, self.settings.tile_size, self.settings.metatile_margin
        world = 1 << z
        members = [(x, y) for y in range(my * m, min((my + 1) * m, world))
                   for x in range(mx * m, min((mx + 1) * m, world))]
        members = [(x, y) for x, y in members if self.in_scene(scene.spec, z, x, y)]
        if cache.has_metatile(z, mx, my):  # a flight that finished between our cache miss and now
            return {(x, y): cache.get(z, x, y) or self.empty_tile for x, y in members}
        cols = min(m, world - mx * m) * size + 2 * margin
        rows = min(m, world - my * m) * size + 2 * margin
        row0, col0 = my * m * size - margin, mx * m * size - margin
        with self._device_slot:
            rgb = self._render_mercator(scene, z, row0, col0, rows, cols)
            self.stats["metatiles_generated"] += 1
        img = rgb.transpose(1, 2, 0)
        out: dict[tuple[int, int], bytes] = {}
        for x, y in members:
            r0 = margin + (y - my * m) * size
            c0 = margin + (x - mx * m) * size
            out[(x, y)] = encode_png(img[r0:r0 + size, c0:c0 + size])
        cache.put_many(z, out.items(), metatile=(mx, my))
        return out

    def _render_mercator(self, scene: LoadedScene, z: int, row0: int, col0: int, rows: int, cols: int) -> np.ndarray:
        """(3, rows, cols) uint8 for global tile pixels [row0, +rows) x [col0, +cols) at zoom ``z``."""
        from rasterio.warp import transform_bounds

        r = self.renderer
        lattice = r.lattice_for(scene.request, r.get_generator(scene.request.model, scene.request.device).card)
        xs, ys = pixel_centres(z, self.settings.tile_size, row0, col0, rows, cols)
        half = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 1.0
        bounds = transform_bounds(WEB_MERCATOR, lattice.crs, xs[0] - half, ys[-1] - half, xs[-1] + half,
                                  ys[0] + half, densify_pts=21)
        lr0, lc0, lr1, lc1 = lattice.rect_for_bounds(bounds, margin=2)
        src_grid = lattice.grid(lr0, lc0, lr1 - lr0, lc1 - lc0)
        src = np.asarray(r.render_grid(scene.request, src_grid))  # an exact lattice crop: no resampling
        if src.shape != (3, src_grid.height, src_grid.width) or src.dtype != np.uint8:
            raise RuntimeError(f"render_grid returned {src.shape} {src.dtype} for a {src_grid.shape} grid")
        return sample_bilinear(src, src_grid.transform, lattice.crs, xs, ys)

    def _overview(self, scene: LoadedScene, z: int, x: int, y: int) -> bytes:
        size = self.settings.tile_size
        canvas = np.zeros((2 * size, 2 * size, 4), np.uint8)
        for dy in (0, 1):
            for dx in (0, 1):
                child = self._tile(scene, z + 1, 2 * x + dx, 2 * y + dy)
                canvas[dy * size:(dy + 1) * size, dx * size:(dx + 1) * size] = decode_png(child)
        # 2x2 mean, weighted by alpha so empty children do not darken the edges
        c = canvas.reshape(size, 2, size, 2, 4).astype(np.float32)
        alpha = c[..., 3:4]
        asum = alpha.sum(axis=(1, 3))
        rgb = (c[..., :3] * alpha).sum(axis=(1, 3)) / np.maximum(asum, 1e-6)
        a = asum / 4.0
        out = np.concatenate([rgb, a], axis=-1)
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        data = encode_png(out[..., :3] if (out[..., 3] == 255).all() else out)
        self.cache(scene.id).put(z, x, y, data)
        self.stats["overview_tiles"] += 1
        return data

    def _zoomed(self, scene: LoadedScene, z: int, x: int, y: int) -> bytes:
        n, size = scene.native_zoom, self.settings.tile_size
        d = z - n
        ax, ay = x >> d, y >> d
        parent = Image.open(io.BytesIO(self._tile(scene, n, ax, ay)))
        span = size / (1 << d)
        left, top = (x - (ax << d)) * span, (y - (ay << d)) * span
        img = parent.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + span, top + span))
        data = encode_png(np.asarray(img))
        self.cache(scene.id).put(z, x, y, data)
        self.stats["zoomed_tiles"] += 1
        return data
