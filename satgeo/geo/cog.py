"""Cloud-Optimized GeoTIFF output: georeferenced, overviews, provenance tags, atomic.

``CogWriter`` takes windowed writes into a tiled temporary GeoTIFF, so a mosaic of any size
never has to sit in memory. On a clean close it converts the temporary file to a COG with
GDAL's COG driver (which builds the internal overviews) in its private scratch folder beside
the target, checks it with rio-cogeo's ``cog_validate`` and renames it onto the target. On any
exception, or a failed validation, nothing is left at the target and the scratch folder is removed.

Every COG carries ``SYNTHETIC=TRUE`` and ``SATGEO_VERSION``; callers add what they know with
``provenance_tags`` (MODEL, MODEL_HASH, PROMPT, SEED, METADATA).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from satgeo import __version__
from satgeo.atomic import write_text
from satgeo.errors import InputError, SatgeoError
from satgeo.geo.grid import Grid

#: Internal tile size of the COGs satgeo writes.
BLOCK = 512
#: GDAL block cache while a CogWriter is open: bounds memory whatever the mosaic size.
COMPRESSIONS = ("DEFLATE", "LZW", "ZSTD", "JPEG", "WEBP", "LERC", "PACKBITS", "NONE")
WRITER_CACHE_BYTES = 32 * 1024 * 1024


def provenance_tags(
    model: str | None = None,
    model_hash: str | None = None,
    prompt: str | None = None,
    seed: int | None = None,
    metadata: Sequence[float] | None = None,
    **extra: Any,
) -> dict[str, str]:
    """Provenance tags under satgeo's canonical names; ``None`` values are left out.

    ``metadata`` is the DiffusionSat metadata vector (stored as a JSON list).
    """
    tags: dict[str, Any] = {
        "MODEL": model,
        "MODEL_HASH": model_hash,
        "PROMPT": prompt,
        "SEED": seed,
        "METADATA": list(metadata) if metadata is not None else None,
    }
    tags.update({k.upper(): v for k, v in extra.items()})
    return {k: _tag_value(v) for k, v in tags.items() if v is not None}


def _tag_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    if isinstance(value, np.ndarray):
        return json.dumps(value.tolist())
    return str(value)


def _final_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    out = {str(k): _tag_value(v) for k, v in (tags or {}).items() if v is not None}
    # Always present and never overridable: a satgeo output is synthetic.
    out["SYNTHETIC"] = "TRUE"
    out["SATGEO_VERSION"] = __version__
    return out


class CogWriter:
    """Write a COG on ``grid`` window by window.

    >>> with CogWriter("out.tif", grid, count=3, dtype="uint8", tags=provenance_tags(seed=1)) as w:
    ...     w.write(tile, row_off=0, col_off=0)   # tile: (3, h, w); parts past the grid are clipped

    Pixels never written are ``nodata`` (or 0). ``overview_resampling`` should be ``nearest``
    (or ``mode``) for class masks and ``average`` for imagery.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        grid: Grid,
        count: int,
        dtype: str | np.dtype = "uint8",
        tags: Mapping[str, Any] | None = None,
        nodata: float | None = None,
        overview_resampling: str = "average",
        compress: str = "DEFLATE",
        colormap: Mapping[int, tuple[int, ...]] | None = None,
        band_descriptions: Sequence[str] | None = None,
    ) -> None:
        if count < 1:
            raise InputError(f"a COG needs at least one band, got {count}")
        if compress.upper() not in COMPRESSIONS:
            raise ValueError(f"unknown COG compression {compress!r}; use one of {', '.join(COMPRESSIONS)}")
        self.path = Path(path)
        self.grid = grid
        self.count = int(count)
        self.dtype = np.dtype(dtype)
        self.tags = _final_tags(tags)
        self.nodata = nodata
        self.overview_resampling = overview_resampling
        self.compress = compress
        self.colormap = dict(colormap) if colormap else None
        self.band_descriptions = list(band_descriptions) if band_descriptions else None
        self._tmpdir: Path | None = None
        self._dst: Any = None

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> CogWriter:
        if self.path.is_dir():
            raise InputError(f"output path is a directory: {self.path}")
        parent = self.path.parent if str(self.path.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            # A private directory beside the target: same filesystem, so the final rename is
            # atomic, and GDAL's own side files (.ovr, .aux.xml) die with it.
            self._tmpdir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent))
        except OSError as exc:
            raise InputError(f"cannot write to {parent}: {exc.strerror}") from exc
        try:
            with _capped_cache():
                self._dst = rasterio.open(
                    self._tmpdir / "stage.tif", "w", driver="GTiff",
                    width=self.grid.width, height=self.grid.height, count=self.count, dtype=self.dtype,
                    crs=self.grid.crs, transform=self.grid.transform, nodata=self.nodata,
                    tiled=True, blockxsize=BLOCK, blockysize=BLOCK,
                    compress="DEFLATE", zlevel=1, bigtiff="IF_SAFER",
                )
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                with _capped_cache():
                    self._finish()
        finally:
            self._cleanup()

    # -- writing ---------------------------------------------------------------------------
    def write(self, array: np.ndarray, row_off: int, col_off: int) -> None:
        """Write ``array`` ((bands, h, w), or (h, w) for one band) with its top-left at (row_off, col_off).

        Parts outside the grid are dropped, so callers may write whole tiles at the edges.
        """
        if self._dst is None:
            raise RuntimeError("CogWriter.write called outside its 'with' block")
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[0] != self.count:
            raise ValueError(f"expected an array of shape ({self.count}, h, w), got {np.shape(array)}")
        r0, c0 = max(0, row_off), max(0, col_off)
        r1 = min(self.grid.height, row_off + arr.shape[1])
        c1 = min(self.grid.width, col_off + arr.shape[2])
        if r1 <= r0 or c1 <= c0:
            return
        part = arr[:, r0 - row_off : r1 - row_off, c0 - col_off : c1 - col_off]
        with _capped_cache():
            self._dst.write(part.astype(self.dtype, copy=False), window=Window(c0, r0, c1 - c0, r1 - r0))

    # -- closing ---------------------------------------------------------------------------
    def _finish(self) -> None:
        assert self._dst is not None and self._tmpdir is not None
        dst = self._dst
        dst.update_tags(**self.tags)
        if self.colormap and self.count == 1:
            dst.write_colormap(1, self.colormap)
        if self.band_descriptions:
            for i, desc in enumerate(self.band_descriptions[: self.count], start=1):
                dst.set_band_description(i, desc)
        dst.close()
        self._dst = None
        out = self._tmpdir / "cog.tif"
        with rasterio.open(self._tmpdir / "stage.tif") as src:
            rio_copy(
                src, out, driver="COG", compress=self.compress, blocksize=BLOCK,
                overview_resampling=self.overview_resampling, bigtiff="IF_SAFER", num_threads="ALL_CPUS",
            )
        _validate(out)
        os.replace(out, self.path)  # the scratch folder is the temporary: same filesystem, atomic rename

    def _cleanup(self) -> None:
        if self._dst is not None:
            try:
                self._dst.close()
            except Exception:  # noqa: BLE001 - already failing; the directory goes anyway
                pass
            self._dst = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def _capped_cache() -> rasterio.Env:
    # Dirty blocks beyond the cap are flushed to the temp file during each write, so memory
    # stays bounded whatever the mosaic size (the cap is restored after every call).
    return rasterio.Env(GDAL_CACHEMAX=WRITER_CACHE_BYTES)


def _validate(path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    valid, errors, _warnings = cog_validate(str(path), quiet=True)
    if not valid:
        raise SatgeoError(f"internal: written file is not a valid COG: {'; '.join(errors)}")


def write_cog(
    path: str | os.PathLike[str],
    array: np.ndarray,
    grid: Grid,
    tags: Mapping[str, Any] | None = None,
    nodata: float | None = None,
    overview_resampling: str | None = None,
    colormap: Mapping[int, tuple[int, ...]] | None = None,
) -> Path:
    """Write ``array`` ((bands, H, W) or (H, W)) on ``grid`` as a COG at ``path``, atomically."""
    arr = array[None] if array.ndim == 2 else array
    if arr.shape[1:] != grid.shape:
        raise ValueError(f"array of shape {array.shape} does not fit a grid of {grid.shape}")
    if overview_resampling is None:
        overview_resampling = "nearest" if arr.shape[0] == 1 and arr.dtype == np.uint8 else "average"
    with CogWriter(
        path, grid, arr.shape[0], arr.dtype, tags=tags, nodata=nodata,
        overview_resampling=overview_resampling, colormap=colormap,
    ) as w:
        w.write(arr, 0, 0)
    return Path(path)


def cog_bytes(
    array: np.ndarray,
    grid: Grid,
    tags: Mapping[str, Any] | None = None,
    nodata: float | None = None,
    colormap: Mapping[int, tuple[int, ...]] | None = None,
) -> bytes:
    """``write_cog`` (same writer, same validation) into a private temporary folder; the file's bytes.

    For workers that hand COGs to another process (batch engines) instead of writing them in place.
    """
    tmpdir = Path(tempfile.mkdtemp(prefix="satgeo-cog-"))
    try:
        path = write_cog(tmpdir / "out.tif", array, grid, tags=tags, nodata=nodata, colormap=colormap)
        return path.read_bytes()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_stac_item(
    cog_path: str | os.PathLike[str],
    item_id: str | None = None,
    datetime_: datetime | None = None,
    properties: Mapping[str, Any] | None = None,
    out_path: str | os.PathLike[str] | None = None,
) -> Path:
    """A STAC Item beside ``cog_path`` (``<stem>.stac.json``), written atomically, that marks the asset synthetic.

    Built by ``satgeo.geo.stac.build_item`` (footprint, projection and raster extensions, the COG's
    provenance tags as ``satgeo:*`` properties); the asset is ``image``.
    """
    from satgeo.geo.stac import build_item, cog_asset, raster_bands

    cog_path = Path(cog_path)
    with rasterio.open(cog_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        tags, bands = src.tags(), raster_bands(src.count, src.dtypes[0], src.nodata)
    item = build_item(
        item_id or cog_path.stem, grid, datetime_ or datetime.now(timezone.utc),
        assets={"image": cog_asset(f"./{cog_path.name}", "synthetic image (satgeo)", bands)},
        provenance=tags, properties=properties,
    )
    target = Path(out_path) if out_path else cog_path.with_suffix(".stac.json")
    return write_text(target, json.dumps(item.to_dict(include_self_link=False), indent=2))
