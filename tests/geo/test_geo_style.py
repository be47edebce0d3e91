"""styles/mask.qml: a paletted QGIS style whose classes and colours match satgeo.geo.masks."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from satgeo.geo.cog import write_cog
from satgeo.geo.grid import Grid
from satgeo.geo.masks import CLASS_NAMES, PALETTE

QML = Path(__file__).resolve().parents[2] / "styles" / "mask.qml"


def _hex(rgba) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def test_qml_palette_matches_mask_classes():
    root = ET.parse(QML).getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = renderer.findall("colorPalette/paletteEntry")
    got = [(int(e.get("value")), e.get("label"), e.get("color"), int(e.get("alpha"))) for e in entries]
    want = [(i, CLASS_NAMES[i], _hex(PALETTE[i]), PALETTE[i][3]) for i in range(len(CLASS_NAMES))]
    assert got == want


QGIS_SCRIPT = textwrap.dedent(
    """
    import sys
    from qgis.core import QgsApplication, QgsRasterLayer
    app = QgsApplication([], False); app.initQgis()
    layer = QgsRasterLayer(sys.argv[1], "mask")
    assert layer.isValid()
    msg, ok = layer.loadNamedStyle(sys.argv[2])
    r = layer.renderer()
    print(ok, r.type(), ";".join(f"{int(c.value)}={c.label}" for c in r.classes()))
    """
)


def test_qgis_loads_the_style_onto_a_mask_cog(tmp_path):
    python = shutil.which("python3", path="/usr/bin")
    probe = subprocess.run([python or "false", "-c", "import qgis.core"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("QGIS Python bindings (python3-qgis) not installed")
    grid = Grid.from_bounds("EPSG:32632", (540000, 5220000, 540100, 5220100), 1.0)
    mask = np.arange(100 * 100, dtype=np.uint8).reshape(100, 100) % 5
    cog = write_cog(tmp_path / "mask.tif", mask, grid)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    res = subprocess.run([python, "-c", QGIS_SCRIPT, str(cog), str(QML)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == (
        "True paletted 0=background;1=building;2=road;3=water;4=vegetation")
