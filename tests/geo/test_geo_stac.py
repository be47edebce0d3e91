"""The one STAC Item builder: footprint, projection and raster extensions, provenance, asset roles."""

from __future__ import annotations

import datetime as dt

from satgeo.geo.grid import Grid
from satgeo.geo.stac import build_item, cog_asset, provenance_properties, raster_bands

WHEN = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


def test_item_conventions():
    grid = Grid.from_bounds("EPSG:32632", (500000, 5200000, 500256, 5200128), 1.0)
    tags = {"MODEL": "m", "MODEL_HASH": "ab" * 32, "SEED": "7", "METADATA": "[1.0, 2.0]", "PROMPT": "42",
            "SYNTHETIC": "TRUE", "AREA_OR_POINT": "Area"}
    item = build_item("x", grid, WHEN, {"image": cog_asset("./x.tif", "img", raster_bands(3))}, tags, {"gsd": 1.0})
    d = item.to_dict(include_self_link=False)
    p = d["properties"]
    assert p["satgeo:synthetic"] is True and "synthetic" in p["keywords"] and p["gsd"] == 1.0
    assert (p["satgeo:model"], p["satgeo:seed"], p["satgeo:metadata"], p["satgeo:prompt"]) == ("m", 7, [1.0, 2.0], "42")
    assert "satgeo:area_or_point" not in p and "satgeo:synthetic_" not in str(p)
    assert p["proj:code"] == "EPSG:32632" and p["proj:shape"] == [128, 256]
    assert p["proj:transform"] == [1.0, 0.0, 500000.0, 0.0, -1.0, 5200128.0]
    assert p["proj:bbox"] == [500000.0, 5200000.0, 500256.0, 5200128.0]
    asset = d["assets"]["image"]
    assert asset["roles"] == ["data", "synthetic"] and asset["satgeo:synthetic"] is True
    assert [b["data_type"] for b in asset["raster:bands"]] == ["uint8"] * 3
    assert any("raster" in e for e in d["stac_extensions"]) and any("projection" in e for e in d["stac_extensions"])
    west, south, east, north = d["bbox"]
    assert abs(west - 9.0) < 1e-9 and 46.9 < south < north < 47.0 and east > west
    assert len(d["geometry"]["coordinates"][0]) > 5  # densified edges


def test_label_items_are_not_marked_synthetic_and_crs_without_epsg_uses_wkt2():
    grid = Grid.from_bounds("+proj=tmerc +lat_0=0 +lon_0=9 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m",
                            (0, 5200000, 64, 5200064), 1.0)
    labels = cog_asset("./l.tif", "labels", raster_bands(1, "uint8", 255), roles=("labels",))
    item = build_item("l", grid, WHEN, {"labels": labels}, synthetic=False)
    p = item.properties
    assert "satgeo:synthetic" not in p and p["proj:code"] is None and "TRANSVERSE" in p["proj:wkt2"].upper()
    assert "satgeo:synthetic" not in item.assets["labels"].extra_fields
    assert item.assets["labels"].extra_fields["raster:bands"][0]["nodata"] == 255


def test_provenance_keeps_text_that_is_not_json():
    assert provenance_properties({"SEED": "x", "GSD": "0.5"}) == {"satgeo:seed": "x", "satgeo:gsd": 0.5}
