"""`satgeo batch --pairs` from the Liechtenstein OSM extract in ../shared/data (clipped by an AOI):
the export opens as a STAC collection with pystac, every label chip equals `satgeo mask` on its
grid (255 exactly where the pixel centre is outside the AOI), and no val chip touches a train chip."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pystac
import pytest
import rasterio
import shapely
from batch_helpers import SHARED
from pairs_helpers import mask_on_grid_of, touching

from satgeo.batch import BatchOptions, run_batch
from satgeo.batch.chips import PairOptions

LIECHTENSTEIN = SHARED / "osm2pgsql_liechtenstein" / "liechtenstein-2013-08-03.osm.pbf"


@pytest.mark.skipif(not LIECHTENSTEIN.exists(), reason=f"needs the Liechtenstein OSM extract ({LIECHTENSTEIN} is absent; "
                    "set SATGEO_SHARED_DATA to the shared data folder)")
def test_liechtenstein_pairs_match_satgeo_mask_and_split_cleanly(tiny_model, tmp_path):
    aoi_path = tmp_path / "schaan.geojson"
    aoi_ll = shapely.box(9.500, 47.160, 9.515, 47.172)  # ~1.1 km x 1.3 km of Schaan
    gpd.GeoDataFrame(geometry=[aoi_ll], crs=4326).to_file(aoi_path)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    summary = run_batch(
        BatchOptions([str(LIECHTENSTEIN)], out, aoi=str(aoi_path), gsd=4.0, tile_px=64, chunk_tiles=2, model=tiny_model,
                     threads=1, progress=False, pairs=PairOptions(chip_size=64, val_fraction=0.25, split_block=2)),
        log=lambda m: None,
    )
    print(f"liechtenstein pairs: {summary.pairs} in {time.perf_counter() - t0:.1f} s")
    n = summary.pairs["train"] + summary.pairs["val"]
    assert summary.pairs["train"] >= 8 and summary.pairs["val"] >= 2
    collection = pystac.Collection.from_file(str(out / "pairs" / "collection.json"))
    items = list(collection.get_items())
    assert len(items) == 2 * n
    aoi = gpd.GeoSeries([aoi_ll], crs=4326).to_crs(32632).iloc[0]
    rows, seen = [], np.zeros(256, np.int64)
    for k, item in enumerate(i for i in items if i.id.endswith("-label")):
        href = item.assets["labels"].get_absolute_href()
        with rasterio.open(href) as src:
            label, t, bounds = src.read(1), src.transform, tuple(src.bounds)
        rows.append((item.id, item.properties["satgeo:split"], bounds))
        cols, rws = np.meshgrid(np.arange(label.shape[1]) + 0.5, np.arange(label.shape[0]) + 0.5)
        xs, ys = t @ (cols, rws)
        outside = ~shapely.contains_xy(aoi, xs, ys)
        assert np.array_equal(label == 255, outside), item.id
        expected = mask_on_grid_of(Path(href), [str(LIECHTENSTEIN)], tmp_path / f"m{k}.tif")
        assert np.array_equal(label[~outside], expected[~outside]), item.id
        seen += np.bincount(label.ravel(), minlength=256)
    assert touching(rows, 4.0) == []
    assert all(seen[c] > 0 for c in (0, 1, 2, 3, 4)), seen[:5]
