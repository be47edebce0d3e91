"""Rendering one chunk and encoding it as COG bytes; shared by the local and Ray engines.

Both engines run exactly this code for a chunk (``ChunkTask.run``), so their files are
byte-identical. A task carries only the features near its chunk (the chunk's bounds
widened by a context margin) so it pickles small for Ray workers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from satgeo.atomic import is_temp_sibling, remove
from satgeo.errors import SatgeoError
from satgeo.geo.area import Area
from satgeo.geo.cog import cog_bytes
from satgeo.geo.grid import Grid
from satgeo.render.request import RenderRequest

#: ``render_fn(request, grid) -> (3, H, W) uint8``; the real engine by default.
RenderFn = Callable[[RenderRequest, Grid], np.ndarray]

#: ``tags_fn(request, gsd) -> provenance tags``; the render engine's ``render_tags`` by default.
TagsFn = Callable[[RenderRequest, float], dict]

def default_tags_fn() -> TagsFn:
    from satgeo.render.engine import render_tags

    return render_tags


def default_render_fn() -> RenderFn:
    from satgeo.render.engine import render_grid  # imports torch: only where chunks are rendered

    return render_grid


@dataclass(kw_only=True)
class RenderChoices:
    """What a batch job passes unchanged to every chunk's ``RenderRequest`` (``BatchOptions`` extends it)."""

    model: str | None = None
    seed: int = 0
    prompt: str | None = None
    date: dt.date | None = None
    cloud_cover: float | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None

    def render_choices(self) -> RenderChoices:
        """These choices alone (a plain copy, whatever subclass ``self`` is)."""
        return RenderChoices(**{f.name: getattr(self, f.name) for f in fields(RenderChoices)})

    def describe(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(RenderChoices)}
        out["date"] = self.date.isoformat() if self.date else None
        for late in ("guidance", "scheduler"):  # added later: unset, they leave older jobs' fingerprints as they were
            if out[late] is None:
                del out[late]
        return out


@dataclass(frozen=True)
class RenderParams:
    """Everything that is the same for every chunk of a job."""

    area_bounds: tuple[float, float, float, float]  # lon/lat bounds of all features (for metadata/captions)
    gsd: float  # ground metres per pixel
    render_crs: str  # the CRS of the model's native lattice (the job's UTM zone or pinned CRS)
    choices: RenderChoices = field(default_factory=RenderChoices)

    def request(self, layers: Sequence[gpd.GeoDataFrame]) -> RenderRequest:
        c = self.choices
        return RenderRequest(
            area=Area.from_bbox(self.area_bounds, work_crs=self.render_crs),
            layers=list(layers), gsd=self.gsd,
            model=c.model, prompt=c.prompt, date=c.date, cloud_cover=c.cloud_cover, seed=c.seed, steps=c.steps,
            guidance=c.guidance, scheduler=c.scheduler,
        )

    def describe(self) -> dict:
        return {"area_bounds": list(self.area_bounds), "gsd": self.gsd, "render_crs": self.render_crs,
                **self.choices.describe()}


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


def stale_temporaries(folder: Path, names: Sequence[str]) -> list[Path]:
    """What a killed run left beside ``names`` in ``folder``: ``satgeo.atomic`` temporaries
    (``.<stem>.<pid>-<hex>.tmp<suffix>`` files) and ``CogWriter`` scratch folders (``.<name>.<random>.tmp``)."""
    if not folder.is_dir():
        return []
    wanted = set(names)
    out = []
    for p in folder.glob(".*"):
        if p.is_dir() and p.name.endswith(".tmp") and p.name[1:].rsplit(".", 2)[0] in wanted:
            out.append(p)
        elif p.is_file() and any(is_temp_sibling(p, folder / n) for n in names):
            out.append(p)
    return sorted(out)


def remove_stale_temporaries(folder: Path, names: Sequence[str]) -> None:
    """Delete ``stale_temporaries(folder, names)`` (our own leftovers from a killed run)."""
    for p in stale_temporaries(folder, names):
        remove(p)
