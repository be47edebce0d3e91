"""Rendering one chunk and encoding it as COG bytes; shared by the local and Ray engines.

Both engines run exactly this code for a chunk (``ChunkTask.run``), so their files are
byte-identical. A task carries only the features near its chunk (the chunk's bounds
widened by a context margin) so it pickles small for Ray workers.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
from rasterio.crs import CRS
from shapely.geometry import box

from satgeo.errors import SatgeoError
from satgeo.geo.area import Area
from satgeo.geo.cog import cog_bytes
from satgeo.geo.grid import Grid
from satgeo.render.request import RenderRequest

#: ``render_fn(request, grid) -> (3, H, W) uint8``; the real engine by default.
RenderFn = Callable[[RenderRequest, Grid], np.ndarray]

#: ``tags_fn(request, gsd) -> provenance tags``; the render engine's ``render_tags`` by default.
TagsFn = Callable[[RenderRequest, float], dict]

TMP_SUFFIX = ".satgeo-tmp"


def default_tags_fn() -> TagsFn:
    from satgeo.render.engine import render_tags

    return render_tags


def default_render_fn() -> RenderFn:
    from satgeo.render.engine import render_grid  # imports torch: only where chunks are rendered

    return render_grid


@dataclass(frozen=True)
class RenderParams:
    """Everything that is the same for every chunk of a job."""

    area_bounds: tuple[float, float, float, float]  # lon/lat bounds of all features (for metadata/captions)
    gsd: float  # ground metres per pixel
    render_crs: str  # the CRS of the model's native lattice (the job's UTM zone or pinned CRS)
    model: str | None = None
    seed: int = 0
    prompt: str | None = None
    date: dt.date | None = None
    cloud_cover: float | None = None
    steps: int | None = None

    def request(self, layers: Sequence[gpd.GeoDataFrame]) -> RenderRequest:
        return RenderRequest(
            area=Area(Area.from_bbox(self.area_bounds).geometry, crs=CRS.from_user_input(self.render_crs)),
            layers=list(layers),
            model=self.model,
            prompt=self.prompt,
            date=self.date,
            cloud_cover=self.cloud_cover,
            seed=self.seed,
            gsd=self.gsd,
            steps=self.steps,
        )

    def describe(self) -> dict:
        return {
            "area_bounds": list(self.area_bounds),
            "gsd": self.gsd,
            "render_crs": self.render_crs,
            "model": self.model,
            "seed": self.seed,
            "prompt": self.prompt,
            "date": self.date.isoformat() if self.date else None,
            "cloud_cover": self.cloud_cover,
            "steps": self.steps,
        }


@dataclass
class ChunkTask:
    chunk_id: str
    grid: Grid
    tiles: int
    layers: list[gpd.GeoDataFrame]
    params: RenderParams
    extra_tags: dict = field(default_factory=dict)

    def render(self, render_fn: RenderFn | None = None) -> np.ndarray:
        fn = render_fn or default_render_fn()
        arr = np.asarray(fn(self.params.request(self.layers), self.grid))
        expected = (3, self.grid.height, self.grid.width)
        if arr.shape != expected or arr.dtype != np.uint8:
            raise SatgeoError(f"renderer returned {arr.dtype} {arr.shape} for chunk {self.chunk_id}, expected uint8 {expected}")
        return arr

    def run(self, render_fn: RenderFn | None = None, tags_fn: TagsFn | None = None) -> tuple[bytes, float, float]:
        """(COG bytes, render seconds, encode seconds).

        The COG goes through ``satgeo.geo.cog``'s writer (validated) with the render engine's
        provenance tags, like ``satgeo render`` and server jobs, plus the chunk id.
        """
        t0 = time.perf_counter()
        arr = self.render(render_fn)
        t1 = time.perf_counter()
        tags = (tags_fn or default_tags_fn())(self.params.request(self.layers), self.params.gsd)
        data = cog_bytes(arr, self.grid, {**tags, "CHUNK": self.chunk_id, **self.extra_tags})
        return data, t1 - t0, time.perf_counter() - t1


def layers_near(frames: Sequence[gpd.GeoDataFrame], bounds: tuple[float, float, float, float], margin: float) -> list[gpd.GeoDataFrame]:
    """The features of each frame within ``margin`` of ``bounds``, in their original order."""
    w, s, e, n = bounds
    window = box(w - margin, s - margin, e + margin, n + margin)
    out = []
    for frame in frames:
        idx = np.sort(frame.sindex.query(window, predicate="intersects"))
        out.append(frame.iloc[idx])
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary beside ``path``, fsync, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stale_temporaries(folder: Path, names: Sequence[str]) -> list[Path]:
    """Temporaries this module left for ``names`` (after a kill): ``.<name>.<pid>.satgeo-tmp``."""
    wanted = set(names)
    out = []
    for p in folder.glob(f".*{TMP_SUFFIX}"):
        stem = p.name[1 : -len(TMP_SUFFIX)]
        name, _, pid = stem.rpartition(".")
        if name in wanted and pid.isdigit():
            out.append(p)
    return out


def stale_cog_dirs(folder: Path, names: Sequence[str]) -> list[Path]:
    """Temporary folders ``satgeo.geo.cog.CogWriter`` left for ``names`` (after a kill): ``.<name>.<random>.tmp``."""
    wanted = set(names)
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(".*.tmp") if p.is_dir() and p.name[1:].rsplit(".", 2)[0] in wanted]
