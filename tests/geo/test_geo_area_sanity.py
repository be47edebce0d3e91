"""Bbox typos are caught before any compute: one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from satgeo.errors import InputError
from satgeo.geo.area import Area

REPO = Path(__file__).resolve().parents[2]
BANEPA = ("85.5217", "27.6294", "85.5231", "27.6318")  # lon lat lon lat


@pytest.mark.parametrize("args, hint", [
    (["--bbox", "27.6294", "85.5217", "27.6318", "85.5231"], "85.5217 27.6294 85.5231 27.6318"),  # lat/lon swapped
    (["--bbox", *BANEPA, "--crs", "EPSG:32645"], "look like degrees"),
    (["--bbox", "85.5217", "27.6294", "85.52170001", "27.6318"], "under 2 px"),
])
def test_render_refuses_bbox_typos_before_compute(tmp_path, args, hint):
    out = tmp_path / "out.tif"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "satgeo.cli", "render", *args, "-o", str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and hint in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_real_areas_pass_the_sanity_checks():
    Area.from_bbox(tuple(map(float, BANEPA))).check_pixels(0.1318)
    Area.from_bbox((0.0, -89.0, 10.0, -85.0))  # a wide polar box is not mistaken for swapped lat/lon
    Area.from_bbox((-180.0, 86.0, 180.0, 90.0))
    Area.from_bbox((2600000.0, 1200000.0, 2600010.0, 1200010.0), "EPSG:2056").check_pixels(1.0)
    with pytest.raises(InputError, match="look like degrees"):
        Area.from_bbox((9.5, 47.1, 9.6, 47.2), "EPSG:3857")
