"""COG writer: georeferencing, overviews, tags, validity, atomicity, bounded memory, STAC."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from satgeo import __version__
from satgeo.geo.cog import CogWriter, provenance_tags, write_cog, write_stac_item
from satgeo.geo.grid import Grid


def _grid(w: int = 1300, h: int = 1100, crs: str = "EPSG:32632") -> Grid:
    return Grid(rasterio.crs.CRS.from_user_input(crs), Affine(0.5, 0, 500000.0, 0, -0.5, 5200000.0), w, h)


def _image(grid: Grid, bands: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0 : grid.height, 0 : grid.width]
    return np.stack([(xx + 3 * b) % 251 + (yy % 5) for b in range(bands)]).astype(np.uint8)


def test_write_cog_reads_back_with_crs_transform_overviews_and_tags(tmp_path):
    grid = _grid()
    img = _image(grid)
    tags = provenance_tags(model="pix2pix-banepa", model_hash="abc123", prompt="a town", seed=7,
                           metadata=[1.0, 2.0, 3.0, 0, 0, 0, 0])
    out = write_cog(tmp_path / "out.tif", img, grid, tags)
    valid, errors, _ = cog_validate(str(out), quiet=True)
    assert valid, errors
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32632
        assert src.transform == grid.transform
        assert (src.width, src.height, src.count) == (1300, 1100, 3)
        assert src.overviews(1) == [2, 4]
        assert src.block_shapes[0] == (512, 512)
        np.testing.assert_array_equal(src.read(), img)
        t = src.tags()
    assert t["SYNTHETIC"] == "TRUE"
    assert t["SATGEO_VERSION"] == __version__
    assert t["MODEL"] == "pix2pix-banepa" and t["MODEL_HASH"] == "abc123"
    assert t["PROMPT"] == "a town" and t["SEED"] == "7"
    assert json.loads(t["METADATA"]) == [1.0, 2.0, 3.0, 0, 0, 0, 0]
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_synthetic_tag_cannot_be_overridden(tmp_path):
    grid = _grid(64, 64)
    out = write_cog(tmp_path / "o.tif", np.zeros((64, 64), np.uint8), grid, {"SYNTHETIC": "FALSE"})
    with rasterio.open(out) as src:
        assert src.tags()["SYNTHETIC"] == "TRUE"


def test_windowed_writes_clip_at_edges_and_match_one_shot(tmp_path):
    grid = _grid(1000, 700)
    img = _image(grid)
    with CogWriter(tmp_path / "w.tif", grid, 3, "uint8") as w:
        for r in range(-100, 700, 300):  # tiles overhanging every edge
            for c in range(-100, 1000, 300):
                tile = np.zeros((3, 300, 300), np.uint8)
                r0, c0 = max(r, 0), max(c, 0)
                r1, c1 = min(r + 300, 700), min(c + 300, 1000)
                tile[:, r0 - r : r1 - r, c0 - c : c1 - c] = img[:, r0:r1, c0:c1]
                w.write(tile, r, c)
    with rasterio.open(tmp_path / "w.tif") as src:
        np.testing.assert_array_equal(src.read(), img)


def test_exception_mid_write_leaves_nothing(tmp_path):
    grid = _grid(800, 800)
    target = tmp_path / "fail.tif"
    with pytest.raises(RuntimeError, match="boom"):
        with CogWriter(target, grid, 3, "uint8") as w:
            w.write(np.ones((3, 512, 512), np.uint8), 0, 0)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_previous_file(tmp_path):
    grid = _grid(600, 600)
    target = tmp_path / "keep.tif"
    write_cog(target, np.full((600, 600), 9, np.uint8), grid)
    before = target.read_bytes()
    with pytest.raises(ValueError):
        with CogWriter(target, grid, 1, "uint8") as w:
            w.write(np.zeros((600, 600), np.uint8), 0, 0)
            w.write(np.zeros((3, 10, 10), np.uint8), 0, 0)  # wrong band count
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]


def test_failure_while_finishing_leaves_nothing(tmp_path, monkeypatch):
    """A conversion that dies half-way (disk full) must leave neither a target nor temp litter."""
    import satgeo.geo.cog as cog

    real_copy = cog.rio_copy

    def copy_then_fail(src, dst, **kw):
        real_copy(src, dst, **kw)  # the COG is (partly) on disk in the temp dir ...
        raise OSError(28, "No space left on device")  # ... and then the disk fills up

    monkeypatch.setattr(cog, "rio_copy", copy_then_fail)
    grid = _grid(600, 600)
    with pytest.raises(OSError):
        with CogWriter(tmp_path / "bad.tif", grid, 1, "uint8") as w:
            w.write(np.zeros((600, 600), np.uint8), 0, 0)
    assert list(tmp_path.iterdir()) == []


def test_unknown_compression_is_refused():
    with pytest.raises(ValueError, match="compression"):
        CogWriter("x.tif", _grid(10, 10), 1, "uint8", compress="NOT_A_CODEC")


def test_stac_item_marks_asset_synthetic(tmp_path):
    grid = _grid(256, 256)
    cog = write_cog(tmp_path / "scene.tif", _image(grid), grid, provenance_tags(model="m", seed=1))
    item_path = write_stac_item(cog)
    assert item_path.name == "scene.stac.json"
    item = json.loads(item_path.read_text())
    assert item["type"] == "Feature"
    assert item["properties"]["satgeo:synthetic"] is True
    assert item["properties"]["proj:code"] == "EPSG:32632"
    assert item["properties"]["proj:shape"] == [256, 256]
    asset = item["assets"]["image"]
    assert asset["href"] == "./scene.tif" and "synthetic" in asset["roles"]
    assert asset["type"].startswith("image/tiff; application=geotiff; profile=cloud-optimized")
    lon0, lat0, lon1, lat1 = item["bbox"]
    # 500000 E in UTM 32 is the central meridian (9 E), the west edge; 5,200,000 N is about 46.9 N.
    assert abs(lon0 - 9.0) < 1e-9 and 9.0 < lon1 < 9.01 and 46.8 < lat0 < lat1 < 47.0


_RSS_SCRIPT = textwrap.dedent(
    """
    import resource, sys, numpy as np
    from satgeo.geo.grid import Grid
    from satgeo.geo.cog import CogWriter
    n = int(sys.argv[1]); out = sys.argv[2]
    g = Grid.from_bounds("EPSG:32633", (500000, 5000000, 500000 + n, 5000000 + n), 1.0)
    tile = np.empty((3, 512, 512), np.uint8)
    with CogWriter(out, g, 3, "uint8") as w:
        for r in range(0, n, 512):
            for c in range(0, n, 512):
                tile[:] = (r // 512 * 7 + c // 512 * 13) % 251
                w.write(tile, r, c)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    """
)


def test_peak_memory_does_not_grow_with_the_mosaic(tmp_path):
    """A 7x larger mosaic (27 MB -> 192 MB of pixels) must add far less than its size to peak RSS.

    (Holding the image would add >= 165 MB; measured: ~30 MB. bench/cog_memory.py does 20000^2.)
    """

    def peak(n: int) -> int:
        res = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(n), str(tmp_path / f"m{n}.tif")],
                             capture_output=True, text=True, check=True, timeout=300)
        return int(res.stdout.strip().splitlines()[-1])

    small, large = peak(3000), peak(8000)
    extra_pixels = 3 * (8000**2 - 3000**2)
    assert large - small < 0.5 * extra_pixels, (small, large)
    with rasterio.open(tmp_path / "m8000.tif") as src:
        ovr = src.overviews(1)
    # internal overviews halve down to the first level that fits one 512 px block
    assert ovr == [2**i for i in range(1, len(ovr) + 1)] and 8000 / ovr[-1] <= 512 < 8000 / ovr[-2]
