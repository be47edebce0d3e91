"""WebDataset shards of (image, footprint mask, metadata.json) samples, like DiffusionSat's.

One sample per key in a tar shard::

    <key>.image.png      RGB uint8 (``<key>.input.npy`` (H,W,3) uint8 is read too, as in DiffusionSat's fMoW shards)
    <key>.mask.png       uint8 class mask (satgeo.geo.masks classes), optional for LoRA
    <key>.metadata.json  {"lon", "lat", "gsd", "cloud_cover", "timestamp" (ISO) or "year"/"month"/"day",
                          "caption" (optional)}

``make_shards`` builds them from georeferenced chips + footprint layers (masks burned on
each chip's own grid); ``iter_samples`` reads shard paths or brace patterns
(``shards/train-{000..009}.tar``) with the ``webdataset`` package.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from satgeo.atomic import atomic_path
from satgeo.errors import InputError


@dataclass
class Sample:
    key: str
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray | None  # (H, W) uint8
    metadata: dict

    def raw_metadata(self) -> list[float | None]:
        """[lon, lat, gsd, cloud_cover, year, month, day]; missing -> None."""
        m = self.metadata
        year, month, day = m.get("year"), m.get("month"), m.get("day")
        ts = m.get("timestamp")
        if ts and year is None:
            import datetime as dt

            d = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
            year, month, day = d.year, d.month, d.day
        return [m.get("lon"), m.get("lat"), m.get("gsd"), m.get("cloud_cover"), year, month, day]


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _unpng(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def write_shards(samples: Sequence[Sample], out_dir: str | Path, per_shard: int = 256, prefix: str = "train") -> list[Path]:
    """Write ``samples`` into ``out_dir/prefix-000000.tar`` ...; returns the shard paths."""
    import tarfile

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for s0 in range(0, len(samples), per_shard):
        path = out_dir / f"{prefix}-{s0 // per_shard:06d}.tar"
        with atomic_path(path) as tmp, tarfile.open(tmp, "w") as tar:
            for s in samples[s0 : s0 + per_shard]:
                parts = {"image.png": _png(s.image), "metadata.json": json.dumps(s.metadata).encode()}
                if s.mask is not None:
                    parts["mask.png"] = _png(s.mask.astype(np.uint8))
                for ext, data in parts.items():
                    info = tarfile.TarInfo(f"{s.key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        paths.append(path)
    return paths


def make_shards(chips: Sequence[str | Path], layers: Sequence, out_dir: str | Path, size: int | None = None,
                per_shard: int = 256) -> list[Path]:
    """Chips (georeferenced rasters) + footprint layers -> shards; metadata from each chip's extent."""
    import rasterio

    from satgeo.geo.grid import Grid
    from satgeo.geo.masks import rasterize_layers
    from satgeo.geo.metadata import ground_gsd

    samples = []
    for chip in chips:
        chip = Path(chip)
        with rasterio.open(chip) as src:
            if src.count < 3:
                raise InputError(f"{chip} has {src.count} band(s); chips must be RGB")
            if src.crs is None:
                raise InputError(f"{chip} has no CRS; chips must be georeferenced")
            img = np.moveaxis(src.read([1, 2, 3]), 0, -1)
            grid = Grid(src.crs, src.transform, src.width, src.height)
            from pyproj import Transformer

            cx, cy = src.transform @ (src.width / 2, src.height / 2)
            lon, lat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True).transform(cx, cy)
            gsd = ground_gsd(src.crs, abs(src.transform.a), lon, lat)
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        mask = rasterize_layers(list(layers), grid)
        if size is not None:
            img, mask = img[:size, :size], mask[:size, :size]
        samples.append(Sample(chip.stem, img, mask, {"lon": lon, "lat": lat, "gsd": gsd}))
    if not samples:
        raise InputError("no chips given")
    return write_shards(samples, out_dir, per_shard)


def iter_samples(shards: str | Sequence[str | Path], need_mask: bool = False) -> Iterator[Sample]:
    """Samples from shard files / brace patterns, in order (one pass)."""
    from satgeo.extras import require

    wds = require("webdataset")

    urls = shards if isinstance(shards, str) else [str(s) for s in shards]
    if isinstance(urls, list) and not urls:
        raise InputError("no shards given")
    ds = wds.WebDataset(urls, shardshuffle=False, empty_check=False)
    n = 0
    for rec in ds:
        key = rec["__key__"]
        if "image.png" in rec:
            image = _unpng(rec["image.png"])
        elif "input.npy" in rec:
            image = np.load(io.BytesIO(rec["input.npy"]))
        elif "jpg" in rec or "png" in rec:
            image = _unpng(rec.get("jpg") or rec["png"])
        else:
            raise InputError(f"shard sample {key} has no image (image.png, input.npy, jpg or png)")
        mask = _unpng(rec["mask.png"]) if "mask.png" in rec else None
        if need_mask and mask is None:
            raise InputError(f"shard sample {key} has no mask.png; ControlNet training needs footprint masks")
        meta = json.loads(rec["metadata.json"]) if "metadata.json" in rec else {}
        n += 1
        yield Sample(key, image[..., :3].astype(np.uint8), mask, meta)
    if n == 0:
        raise InputError(f"no samples in {shards}")


def load_samples(shards, need_mask: bool = False) -> list[Sample]:
    return list(iter_samples(shards, need_mask))
