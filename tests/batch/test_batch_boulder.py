"""The Boulder footprints from ../shared/data (clipped by an AOI): a valid COG mosaic + STAC."""

from __future__ import annotations

import geopandas as gpd
import pystac
import pytest
import rasterio
import shapely
from batch_helpers import BOULDER
from rio_cogeo.cogeo import cog_validate

from satgeo.batch import BatchOptions, run_batch


@pytest.mark.shared_data
def test_boulder_footprints_clipped_to_an_aoi_become_a_cog_mosaic_and_stac(tiny_model, tmp_path):
    aoi = tmp_path / "aoi.gpkg"
    # ~800 m x 600 m of central Boulder, given in Web Mercator to exercise reprojection.
    box = gpd.GeoSeries([shapely.box(-105.2800, 40.0100, -105.2706, 40.0154)], crs=4326).to_crs(3857)
    gpd.GeoDataFrame(geometry=box).to_file(aoi)
    out = tmp_path / "boulder"
    summary = run_batch(
        BatchOptions([str(BOULDER)], out, aoi=str(aoi), gsd=4.0, tile_px=64, chunk_tiles=2, model=tiny_model,
                     threads=1, progress=False, mosaic_cog=True)
    )
    assert summary.tiles >= 6
    ok, errors, _ = cog_validate(str(out / "mosaic.tif"))
    assert ok, errors
    with rasterio.open(out / "mosaic.tif") as src:
        assert src.crs.to_epsg() == 32613 and src.count == 4 and src.tags()["SYNTHETIC"] == "TRUE"
    catalog = pystac.Catalog.from_file(str(out / "stac" / "catalog.json"))
    items = list(catalog.get_items())
    assert len(items) == summary.chunks
    for item in items:
        assert cog_validate(item.assets["image"].get_absolute_href())[0]


LIECHTENSTEIN = BOULDER.parents[1] / "osm2pgsql_liechtenstein" / "liechtenstein-2013-08-03.osm.pbf"


@pytest.mark.shared_data
@pytest.mark.skipif(not LIECHTENSTEIN.exists(), reason="needs ../shared/data/osm2pgsql_liechtenstein")
def test_an_osm_pbf_with_roads_and_buildings_renders_inside_an_aoi(tiny_model, tmp_path):
    aoi = tmp_path / "vaduz.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(9.5190, 47.1395, 9.5235, 47.1425)], crs=4326).to_file(aoi)
    notes: list[str] = []
    summary = run_batch(
        BatchOptions([str(LIECHTENSTEIN)], tmp_path / "vaduz", aoi=str(aoi), gsd=4.0, tile_px=64, chunk_tiles=2,
                     model=tiny_model, threads=1, progress=False),
        log=notes.append,
    )
    assert summary.tiles >= 4
    catalog = pystac.Catalog.from_file(str(tmp_path / "vaduz" / "stac" / "catalog.json"))
    assert len(list(catalog.get_items())) == summary.chunks
    # Both OSM layers were read: roads (lines) and buildings/landuse (multipolygons).
    from satgeo.batch import prepare

    job = prepare(BatchOptions([str(LIECHTENSTEIN)], tmp_path / "x", aoi=str(aoi), gsd=4.0, tile_px=64), log=notes.append)
    assert [n.split(":")[-1] for n in job.layers.names] == ["lines", "multipolygons"]
    assert summary.tiles == job.plan.tile_count
