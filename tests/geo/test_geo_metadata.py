"""DiffusionSat metadata: formulas, round trips, ground GSD; fMoW captions with offline countries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satgeo.errors import InputError
from satgeo.geo.area import Area
from satgeo.geo.caption import FMOW_CLASSES, caption_for, country_at, fmow_class_for, geosynth_caption
from satgeo.geo.metadata import Metadata, ground_gsd, metadata_for, parse_date


def test_normalized_follows_design_formulas():
    m = Metadata(lon=-105.25, lat=40.0, gsd=0.3, cloud_cover=0.25, year=2020, month=6, day=15)
    assert m.normalized() == pytest.approx([
        (-105.25 + 180) / 360 * 1000, (40 + 90) / 180 * 1000, 300.0, 250.0,
        (2020 - 1980) / 120 * 1000, 6 / 12 * 1000, 15 / 31 * 1000,
    ])


def test_unknown_values_normalize_to_zero():
    assert Metadata().normalized() == [0.0] * 7
    assert Metadata(lon=0.0, lat=0.0, gsd=1.0).normalized() == [500.0, 500.0, 1000.0, 0.0, 0.0, 0.0, 0.0]


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(-179.9, 180), lat=st.floats(-89.9, 90), gsd=st.floats(0.01, 100),
    cc=st.one_of(st.none(), st.floats(0.001, 1)), year=st.one_of(st.none(), st.integers(1981, 2100)),
    month=st.one_of(st.none(), st.integers(1, 12)), day=st.one_of(st.none(), st.integers(1, 31)),
)
def test_normalization_round_trips(lon, lat, gsd, cc, year, month, day):
    m = Metadata(lon, lat, gsd, cc, year, month, day)
    back = Metadata.from_normalized(m.normalized())
    assert back.lon == pytest.approx(lon, abs=1e-9) and back.lat == pytest.approx(lat, abs=1e-9)
    assert back.gsd == pytest.approx(gsd) and (back.cloud_cover == pytest.approx(cc) if cc else back.cloud_cover is None)
    assert (back.year, back.month, back.day) == (year, month, day)
    assert back.normalized() == pytest.approx(m.normalized())


@pytest.mark.parametrize("kwargs", [dict(lon=181), dict(lat=-91), dict(gsd=0), dict(cloud_cover=1.5),
                                    dict(month=13), dict(day=0), dict(lon=math.nan)])
def test_out_of_range_metadata_is_refused(kwargs):
    with pytest.raises(InputError):
        Metadata(**kwargs)


def test_from_normalized_needs_seven_numbers():
    with pytest.raises(InputError, match="7 numbers"):
        Metadata.from_normalized([1, 2, 3])


def test_ground_gsd_at_60_degrees_is_half_the_web_mercator_pixel():
    assert ground_gsd("EPSG:3857", 2.0, 10.0, 60.0) == pytest.approx(1.0, rel=1e-9)
    assert ground_gsd("EPSG:3857", 1.0, -75.0, 0.0) == pytest.approx(1.0, rel=1e-9)


def test_ground_gsd_of_web_mercator_extent_through_the_work_grid():
    # A Web Mercator box of 5120 x 5120 Mercator metres centred at 60 N on UTM 32's central
    # meridian (9 E) covers about 2560 ground metres; at 512 px wide that is 5 m ground GSD.
    import pyproj

    x, y = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(9.0, 60.0)
    area = Area.from_bbox((x - 2560, y - 2560, x + 2560, y + 2560), "EPSG:3857")
    grid = area.work_grid(width=512)
    assert grid.crs.to_epsg() == 32632
    # x cos(lat) is the spherical rule; on the WGS84 ellipsoid a parallel at 60 N is 0.25% longer
    # (N/a = 1.0025), which the UTM grid measures.
    assert area.ground_gsd(grid) == pytest.approx(10.0 / 2, rel=3e-3)
    pinned = area.pinned("EPSG:3857").work_grid(width=512)
    assert pinned.gsd == pytest.approx(10.0) and area.ground_gsd(pinned) == pytest.approx(5.0, rel=1e-3)


def test_ground_gsd_in_utm_national_grid_and_degrees():
    assert ground_gsd("EPSG:32632", 0.5, 9.5, 47.1) == 0.5
    assert ground_gsd("EPSG:2056", 1.0, 8.2, 46.8) == pytest.approx(1.0, rel=1e-3)
    # one arc-second at the equator is about 30.9 m east-west and 30.7 m north-south
    assert ground_gsd("EPSG:4326", 1 / 3600, 0.0, 0.0) == pytest.approx(30.8, rel=5e-3)


def test_metadata_for_an_area():
    area = Area.from_bbox((9.50, 47.12, 9.54, 47.15))
    m = metadata_for(area, 0.5, date="2021-07-04", cloud_cover=0.1)
    assert m.lon == pytest.approx(9.52, abs=1e-3) and m.lat == pytest.approx(47.135, abs=1e-3)
    assert (m.gsd, m.cloud_cover, m.year, m.month, m.day) == (0.5, 0.1, 2021, 7, 4)
    assert metadata_for(area, 1.0).normalized()[3:] == [0.0, 0.0, 0.0, 0.0]


def test_bad_dates_are_refused():
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        parse_date("2021-13-01")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        parse_date("yesterday")


@pytest.mark.parametrize("lon,lat,country", [
    (9.52, 47.14, "Liechtenstein"), (85.52, 27.63, "Nepal"), (-105.25, 40.0, "United States of America"),
    (8.54, 47.37, "Switzerland"), (2.35, 48.85, "France"), (139.70, 35.70, "Japan"),
    (-43.20, -22.90, "Brazil"), (28.04, -26.20, "South Africa"), (151.21, -33.87, "Australia"),
    (-179.9, -16.5, "Fiji"), (18.42, -33.92, "South Africa"), (7.42, 43.74, "Monaco"),
])
def test_country_lookup(lon, lat, country):
    assert country_at(lon, lat) == country


def test_country_near_coast_and_open_sea():
    assert country_at(-9.5, 38.7) == "Portugal"  # a few km off Lisbon's coast
    assert country_at(-30.0, 0.0) is None  # mid-Atlantic


@pytest.mark.parametrize("lon,lat,name", [
    (105.85, 21.03, "Viet Nam"), (126.98, 37.57, "Korea, Republic of"), (37.62, 55.75, "Russian Federation"),
    (125.75, 39.03, "Korea (Democratic People's Republic of)"), (51.39, 35.69, "Iran (Islamic Republic of)"),
    (121.56, 25.04, "Taiwan, Province of China"), (-0.12, 51.50, "United Kingdom of Great Britain and Northern Ireland"),
])
def test_countries_are_named_as_in_diffusionsat_training(lon, lat, name):
    # DiffusionSat's captions name countries from fmow_dataset.CODE3 (ISO 3166), not Natural Earth labels
    assert country_at(lon, lat) == name
    assert caption_for((lon, lat), "port") == f"a fmow satellite image of a port in {name}"


def test_caption_classes_are_fmow_classes_only():
    assert len(FMOW_CLASSES) == 62
    assert caption_for((85.52, 27.63), "single-unit_residential") == \
        "a fmow satellite image of a single-unit residential in Nepal"
    with pytest.raises(InputError, match="not one of fMoW's 62 classes"):
        caption_for((85.52, 27.63), "building")


def _blocks(size: int, side: int, step: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    for r in range(2, size - side, step):
        for c in range(2, size - side, step):
            m[r:r + side, c:c + side] = 1
    return m


def test_fmow_class_is_chosen_from_the_map():
    houses = _blocks(256, 24, 48)  # 12 x 12 m footprints at 0.5 m: 144 m^2 each
    assert fmow_class_for(houses, 0.5) == "single-unit residential"
    assert fmow_class_for(_blocks(256, 80, 120), 0.5) == "multi-unit residential"  # 1600 m^2 blocks
    assert fmow_class_for(np.full((64, 64), 3, np.uint8), 0.5) == "lake or pond"
    assert fmow_class_for(np.full((64, 64), 4, np.uint8), 0.5) == "park"
    assert fmow_class_for(np.zeros((64, 64), np.uint8), 0.5) == "single-unit residential"  # no map: the default
    assert geosynth_caption(houses, 0.5).startswith("Satellite image features a residential neighborhood")


def test_caption_follows_fmow_template():
    area = Area.from_bbox((85.5190, 27.6294, 85.5231, 27.6343))
    assert caption_for(area) == "a fmow satellite image of a single-unit residential in Nepal"
    assert caption_for((2.35, 48.85), "car_dealership") == "a fmow satellite image of a car dealership in France"
    assert caption_for((-30.0, 0.0), "lake_or_pond") == "a fmow satellite image of a lake or pond"
    with pytest.raises(InputError):
        caption_for((0.0, 0.0), " ")
