"""Conditioning images for DiffusionSat's conditional ControlNets, read from real rasters.

DiffusionSat's super-resolution ControlNets condition on low-resolution imagery, not on a map.
What each checkpoint expects (samar-khanna/DiffusionSat, ``train_controlnet.py`` and
``diffusionsat/data_util.py``; docs/diffusion.md "Conditioning rasters"):

* **fMoW Sentinel -> RGB** (Zenodo 13756246): one frame of 10 Sentinel-2 bands in the order
  B4, B3, B2, B5, B6, B7, B8, B8A, B11, B12 (fMoW-Sentinel's 13 L1C bands with B2/B4 swapped,
  then B1, B9, B10 dropped), each mapped with fMoW-Sentinel's per-band mean/std to
  ``(x - (mean - 2 std)) / (4 std)``, clipped to 0..1 and quantised to 8 bits, at half the
  output resolution (``conditioning_scale`` 2). Its conditioning metadata is the target's with
  GSD = the Sentinel image's own 10 m.
* **Texas housing 3D** (Zenodo 13756211): 3 frames of 8-bit RGB in [0, 1] at the output
  resolution; each frame's metadata carries the GSD of the frame as fed (resampled) and its date.

A ``ConditionSpec`` says this for one checkpoint; ``open_condition`` + ``check_inputs`` refuse
rasters that cannot give it (one line naming what is expected) before any compute.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from satgeo.errors import InputError, ModelError
from satgeo.geo.grid import Grid
from satgeo.models.base import Generator

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.crs import CRS

    from satgeo.geo.area import Area

#: fMoW-Sentinel's 13 bands (Sentinel-2 L1C) and their mean/std (DiffusionSat's SentinelNormalize).
S2_L1C = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
S2_L2A = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
_FMOW_MEAN = (1370.19151926, 1184.3824625, 1120.77120066, 1136.26026392, 1263.73947144, 1645.40315151,
              1846.87040806, 1762.59530783, 1972.62420416, 582.72633433, 14.77112979, 1732.16362238, 1247.91870117)
_FMOW_STD = (633.15169573, 650.2842772, 712.12507725, 965.23119807, 948.9819932, 1108.06650639,
             1258.36394548, 1233.1492281, 1364.38688993, 472.37967789, 14.3114637, 1310.36996126, 1087.6020813)
FMOW_S2_STATS = {b: (m, s) for b, m, s in zip(S2_L1C, _FMOW_MEAN, _FMOW_STD)}
FMOW_SR_BANDS = ("B4", "B3", "B2", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")


@dataclass(frozen=True)
class ConditionSpec:
    """What a ControlNet conditions on."""

    kind: str  # "map" (rendered class mask) or "raster" (real imagery via --condition-raster)
    channels: int = 3  # per frame
    frames: int | None = 1  # conditioning images; None = any number (3D ControlNets)
    temporal: bool = False  # 3D ControlNet: frames stacked on a time axis
    scale: int = 1  # output pixels per conditioning pixel
    bands: tuple[str, ...] | None = None  # Sentinel-2 band names in model order; None = RGB
    normalize: str = "unit"  # "unit" (8-bit / 255) or "sentinel2-fmow"
    cond_gsd: str = "native"  # metadata GSD of a frame: "native" (the raster's) or "fed" (after resampling)
    caption: str = "fmow"  # default caption style: "fmow" or "texas"
    guidance: float | None = None  # sampling guidance the authors used, when known

    def expects(self) -> str:
        """One phrase for error messages: what the checkpoint needs."""
        if self.kind == "map":
            return "a map (--footprints), not --condition-raster"
        what = (f"{self.channels} Sentinel-2 bands ({', '.join(self.bands)})" if self.bands
                else f"{self.channels}-band 8-bit RGB")
        res = "at the output resolution" if self.scale == 1 else f"at 1/{self.scale} of the output resolution"
        n = "any number of" if self.frames is None else str(self.frames)
        frames = f"{n} --condition-raster image{'s' if self.frames != 1 else ''}"
        return f"{frames} of {what}, {res}"


MAP = ConditionSpec("map")
FMOW_SR = ConditionSpec("raster", channels=10, frames=1, scale=2, bands=FMOW_SR_BANDS,
                        normalize="sentinel2-fmow", cond_gsd="native", caption="fmow")
TEXAS_SR = ConditionSpec("raster", channels=3, frames=3, temporal=True, scale=1, normalize="unit",
                         cond_gsd="fed", caption="texas", guidance=1.0)
KNOWN_SPECS = {"fmow-sentinel": FMOW_SR, "texas": TEXAS_SR, "map": MAP}


def spec_for(config: dict[str, Any], temporal: bool, declared: dict[str, Any] | str | None = None) -> ConditionSpec:
    """The spec of a ControlNet from what the registry/satgeo.json declares, else from its config.

    A declared spec whose channels or scale disagree with the config is refused (ModelError):
    the checkpoint is not the one the declaration is for.
    """
    channels = int(config.get("conditioning_in_channels", config.get("conditioning_channels", 3)))
    scale = int(config.get("conditioning_scale", 1))
    if isinstance(declared, str):
        if declared not in KNOWN_SPECS:
            raise ModelError(f"unknown conditioning {declared!r}; use one of {', '.join(sorted(KNOWN_SPECS))}")
        spec = KNOWN_SPECS[declared]
    elif isinstance(declared, dict):
        base = KNOWN_SPECS.get(str(declared.get("like", "")), ConditionSpec("raster"))
        fields = {k: v for k, v in declared.items() if k != "like"}
        if "bands" in fields and fields["bands"] is not None:
            fields["bands"] = tuple(fields["bands"])
        try:
            spec = replace(base, **fields)
        except TypeError as exc:
            raise ModelError(f"bad conditioning declaration {declared}: {exc}") from None
    elif temporal:
        if channels == 3:
            spec = replace(TEXAS_SR, frames=None, channels=channels)
        else:
            raise ModelError(f"3D ControlNet with {channels} conditioning channels: declare its inputs in satgeo.json "
                             '"condition" (channels, frames, bands, normalize)')
    elif channels == 3 and scale == 1:
        spec = MAP
    elif channels == len(FMOW_SR_BANDS):
        spec = replace(FMOW_SR, scale=scale)
    else:
        raise ModelError(f"ControlNet with {channels} conditioning channels at scale {scale}: declare its inputs in "
                         'satgeo.json "condition" (channels, frames, bands, normalize)')
    if spec.temporal != temporal:
        raise ModelError(f"the checkpoint is a {'3D' if temporal else '2D'} ControlNet but its declared conditioning "
                         f"is for a {'3D' if spec.temporal else '2D'} one")
    want = spec.channels * (1 if spec.temporal or spec.frames is None else spec.frames)
    if spec.kind == "raster" and (want != channels or spec.scale != scale):
        raise ModelError(
            f"this ControlNet takes {channels} conditioning channels at scale {scale}, but it is declared to expect "
            f"{spec.expects()}; it is not the checkpoint that declaration is for"
        )
    return spec


# ----------------------------------------------------------------------------- rasters


@dataclass
class ConditionRaster:
    """A conditioning raster as opened: where it is and what its own metadata says."""

    path: str
    crs: CRS
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    descriptions: tuple[str | None, ...]
    colorinterp: tuple[str, ...]
    date: dt.date | None
    cloud_cover: float | None

    @property
    def pixel_size(self) -> float:
        return float(math.sqrt(abs(self.transform.a * self.transform.e)))

    def ground_gsd(self, lon: float, lat: float) -> float:
        from satgeo.geo.metadata import ground_gsd

        return ground_gsd(self.crs, self.pixel_size, lon, lat)


_DATE_TAGS = ("ACQUISITION_DATE", "DATE_ACQUIRED", "SENSING_TIME", "DATATAKE_SENSING_START", "PRODUCT_START_TIME",
              "DATETIME", "datetime", "TIFFTAG_DATETIME", "DATE")
_CLOUD_TAGS = ("CLOUD_COVER", "CLOUDY_PIXEL_PERCENTAGE", "CLOUD_COVERAGE_ASSESSMENT", "eo:cloud_cover")


def _tag_date(tags: dict) -> dt.date | None:
    for k in _DATE_TAGS:
        v = tags.get(k)
        m = re.match(r"^\s*(\d{4})[-:](\d{2})[-:](\d{2})", str(v)) if v else None
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                continue
    return None


def _tag_cloud(tags: dict) -> float | None:
    for k in _CLOUD_TAGS:
        try:
            v = float(tags[k])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(v) and v >= 0:
            return v / 100.0 if v > 1 else v
    return None


def open_condition(path: str) -> ConditionRaster:
    """Open any GDAL raster and read what we need from its header; InputError if it is not one."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InputError(f"condition raster {path} has no CRS; georeference it first")
            tags = dict(src.tags())
            return ConditionRaster(
                path=str(path), crs=src.crs, transform=src.transform, width=src.width, height=src.height,
                count=src.count, dtype=src.dtypes[0], descriptions=tuple(src.descriptions),
                colorinterp=tuple(ci.name for ci in src.colorinterp), date=_tag_date(tags), cloud_cover=_tag_cloud(tags),
            )
    except RasterioIOError as exc:
        raise InputError(f"cannot read condition raster {path}: {str(exc).splitlines()[0]}") from None


def _band_name(desc: str | None) -> str | None:
    m = re.match(r"^\s*B0?(\d{1,2}A?)\s*$", str(desc or "").upper())
    return f"B{m[1]}" if m else None


def band_indexes(spec: ConditionSpec, r: ConditionRaster) -> list[int]:
    """1-based band indexes of ``r`` in the checkpoint's order; InputError naming what is expected."""
    if spec.bands:
        named = {_band_name(d): i + 1 for i, d in enumerate(r.descriptions)}
        named.pop(None, None)
        if all(b in named for b in spec.bands):
            return [named[b] for b in spec.bands]
        order = S2_L1C if r.count == 13 else S2_L2A if r.count == 12 else None
        if order is not None and not named:
            return [order.index(b) + 1 for b in spec.bands]
        missing = [b for b in spec.bands if b not in named]
        why = f"; bands {', '.join(missing)} are not among its band descriptions" if named else ""
        raise InputError(
            f"{r.path} has {r.count} band{'s' if r.count != 1 else ''}{why}; this ControlNet expects {spec.expects()} "
            "(give a 13-band L1C or 12-band L2A stack, or bands described as B02, B03, ...)"
        )
    if r.count < spec.channels or np.dtype(r.dtype) != np.uint8:
        raise InputError(f"{r.path} has {r.count} {r.dtype} band{'s' if r.count != 1 else ''}; "
                         f"this ControlNet expects {spec.expects()}")
    rgb = [r.colorinterp.index(c) + 1 for c in ("red", "green", "blue") if c in r.colorinterp]
    return rgb if len(rgb) == 3 and spec.channels == 3 else list(range(1, spec.channels + 1))


def check_inputs(spec: ConditionSpec, paths: Sequence[str], model: str) -> list[ConditionRaster]:
    """Refuse inputs the checkpoint cannot use, before any compute; the opened rasters otherwise."""
    if spec.kind != "raster":
        if paths:
            raise InputError(f"model {model!r} conditions on {spec.expects()}")
        return []
    if not paths:
        raise InputError(f"model {model!r} needs {spec.expects()}")
    if spec.frames is not None and len(paths) != spec.frames:
        raise InputError(f"model {model!r} needs {spec.expects()}; got {len(paths)}")
    rasters = [open_condition(p) for p in paths]
    for r in rasters:
        band_indexes(spec, r)
    return rasters


def _normalize(data: np.ndarray, spec: ConditionSpec) -> np.ndarray:
    """(C, H, W) raw values -> what the checkpoint saw in training, float32."""
    if spec.normalize == "sentinel2-fmow":
        out = np.empty(data.shape, np.float32)
        for i, band in enumerate(spec.bands or ()):
            m, s = FMOW_S2_STATS[band]
            v = (data[i].astype(np.float64) - (m - 2 * s)) / (4 * s) * 255.0
            out[i] = np.clip(v, 0, 255).astype(np.uint8) / 255.0  # training quantised to uint8 (truncating)
        return out
    if spec.normalize == "unit":
        return data.astype(np.float32) / 255.0
    raise ModelError(f"unknown conditioning normalisation {spec.normalize!r}; use unit or sentinel2-fmow")


def read_onto(r: ConditionRaster, spec: ConditionSpec, grid: Grid) -> np.ndarray:
    """(C, H, W) float32: ``r``'s bands reprojected onto ``grid`` and normalised for the checkpoint.

    Bilinear when the grid is finer than the raster (as the training's resize), average when coarser.
    Pixels the raster does not cover read as 0 before normalisation.
    """
    import rasterio
    from rasterio.warp import Resampling, reproject

    idx = band_indexes(spec, r)
    finer = grid.gsd < r.pixel_size * 0.99 if grid.crs == r.crs else True
    dst = np.zeros((len(idx), grid.height, grid.width), np.float32)
    with rasterio.open(r.path) as src:
        for k, b in enumerate(idx):
            reproject(
                rasterio.band(src, b), dst[k], dst_transform=grid.transform, dst_crs=grid.crs,
                resampling=Resampling.bilinear if finer else Resampling.average, dst_nodata=0, num_threads=1,
            )
    return _normalize(dst, spec)


def covers(r: ConditionRaster, crs: CRS, bounds: tuple[float, float, float, float]) -> bool:
    """Does the raster's footprint contain ``bounds`` (in ``crs``)?"""
    from rasterio.warp import transform_bounds

    w, s, e, n = transform_bounds(crs, r.crs, *bounds, densify_pts=21)
    x0, y0 = r.transform @ (0, 0)
    x1, y1 = r.transform @ (r.width, r.height)
    eps = r.pixel_size * 0.5
    return min(x0, x1) - eps <= w and e <= max(x0, x1) + eps and min(y0, y1) - eps <= s and n <= max(y0, y1) + eps


def validate_request(gen: Generator, paths: Sequence[str], area: Area | None) -> None:
    """CLI/server check before any compute: the model takes these rasters and they cover the area."""
    gen.check_conditions(paths)
    if paths and area is not None:
        for p in paths:
            if not covers(open_condition(p), area.work_crs(), area.work_geometry().bounds):
                raise InputError(f"condition raster {p} does not cover the area; give rasters that contain it")
