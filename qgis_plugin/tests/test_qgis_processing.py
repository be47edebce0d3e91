"""The Processing algorithms, run by `qgis_process` from the built plugin zip, against the real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import DATA, PLUGIN_ROOT
from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer, QgsRectangle, QgsVectorLayer


def qgis_process_exe() -> str:
    # Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which qgis_process rejects; use the binary.
    for name in ("qgis_process.bin", "qgis_process"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("qgis_process is not installed (apt install qgis)")


@pytest.fixture(scope="module")
def qp_env(tmp_path_factory):
    """A private QGIS profile with the plugin installed from the zip that build.py makes."""
    root = tmp_path_factory.mktemp("qgis_process")
    out = subprocess.run([sys.executable, os.path.join(PLUGIN_ROOT, "build.py"), "-o", str(root / "dist")],
                         capture_output=True, text=True, check=True)
    zpath = out.stdout.strip()
    plugins = root / "plugins"
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(plugins)
    assert (plugins / "satgeo_qgis" / "styles" / "synthetic.qml").is_file()
    env = dict(os.environ, HOME=str(root / "home"), XDG_DATA_HOME=str(root / "home" / "share"),
               XDG_RUNTIME_DIR=str(root), QGIS_PLUGINPATH=str(plugins), QT_QPA_PLATFORM="offscreen",
               # qgis_process's embedded Python takes its stdlib from the first python3 on PATH
               PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin", os.environ.get("PATH", "")]))
    for var in [k for k in env if k.startswith("PYTHON")]:
        del env[var]
    os.makedirs(env["HOME"], exist_ok=True)
    exe = qgis_process_exe()
    enable = subprocess.run([exe, "plugins", "enable", "satgeo_qgis"], env=env, capture_output=True, text=True, timeout=120)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    return exe, env, root


def qgis_process(qp_env, *args, timeout=240):
    exe, env, _ = qp_env
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)


def results(proc) -> dict:
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_algorithms_are_listed(qp_env):
    out = qgis_process(qp_env, "list")
    assert "satgeo:synthesizeextent" in out.stdout and "satgeo:synthesizevectorlayer" in out.stdout, out.stdout[-2000:]


def test_synthesize_extent_via_qgis_process(qp_env, server_url, model, qgis_app):
    _, _, root = qp_env
    dest = root / "extent.tif"
    # the extent is given in Web Mercator: the algorithm sends it in EPSG:4326
    ext = "9519700,9519850,3202400,3202520 [EPSG:3857]"
    proc = qgis_process(qp_env, "--json", "run", "satgeo:synthesizeextent", "--", f"EXTENT={ext}",
                        f"SERVER={server_url}", f"MODEL={model}", "GSD=2", "SEED=3", f"OUTPUT={dest}")
    out = results(proc)
    assert out["results"]["OUTPUT"] == str(dest)
    layer = QgsRasterLayer(str(dest), "extent")
    assert layer.isValid() and layer.bandCount() == 3
    assert layer.crs().authid() == "EPSG:32645"
    from qgis.core import QgsCoordinateTransform, QgsProject

    want = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:3857"), layer.crs(), QgsProject.instance()) \
        .transformBoundingBox(QgsRectangle(9519700, 3202400, 9519850, 3202520))
    got = layer.extent()
    assert abs(got.xMinimum() - want.xMinimum()) <= 2.0 and abs(got.yMaximum() - want.yMaximum()) <= 2.0


def test_vector_layer_via_qgis_process(qp_env, server_url, model, qgis_app):
    _, _, root = qp_env
    dest = root / "vector.tif"
    src = os.path.join(DATA, "banepa_buildings.geojson")
    proc = qgis_process(qp_env, "--json", "run", "satgeo:synthesizevectorlayer", "--", f"INPUT={src}",
                        f"SERVER={server_url}", f"MODEL={model}", "GSD=2", f"OUTPUT={dest}")
    results(proc)
    layer = QgsRasterLayer(str(dest), "vector")
    assert layer.isValid()
    fp = QgsVectorLayer(src, "fp", "ogr")
    from qgis.core import QgsCoordinateTransform, QgsProject

    want = QgsCoordinateTransform(fp.crs(), layer.crs(), QgsProject.instance()).transformBoundingBox(fp.extent())
    assert layer.extent().contains(want.buffered(-2.0)), (layer.extent().toString(), want.toString())


def test_empty_layer_and_dead_server_fail_cleanly(qp_env, server_url, qgis_app):
    _, _, root = qp_env
    empty = root / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    dest = root / "never.tif"
    proc = qgis_process(qp_env, "run", "satgeo:synthesizevectorlayer", "--", f"INPUT={empty}",
                        f"SERVER={server_url}", f"OUTPUT={dest}")
    assert proc.returncode != 0
    assert "has no features" in proc.stdout + proc.stderr
    proc = qgis_process(qp_env, "run", "satgeo:synthesizeextent", "--", "EXTENT=85.5196,85.5209,27.6300,27.6310 [EPSG:4326]",
                        "SERVER=http://127.0.0.1:9", f"OUTPUT={dest}")
    assert proc.returncode != 0
    assert "cannot reach the satgeo server at http://127.0.0.1:9" in proc.stdout + proc.stderr
    assert not dest.exists()


def _layer_file(path, geometry: dict) -> str:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": path.stem}, "geometry": geometry}]}))
    return str(path)


def test_extent_takes_every_layer_class(qp_env, server_url, model, qgis_app):
    """Roads, water and vegetation layers reach the server's job as features it draws as such."""
    _, _, root = qp_env
    help_text = qgis_process(qp_env, "help", "satgeo:synthesizeextent").stdout
    for name in ("FOOTPRINTS", "ROADS", "WATER", "VEGETATION"):
        assert name in help_text, help_text[-2000:]
    assert "ROADS" in qgis_process(qp_env, "help", "satgeo:synthesizevectorlayer").stdout
    water = _layer_file(root / "lake.geojson", {"type": "Polygon", "coordinates": [
        [[85.5197, 27.6301], [85.5200, 27.6301], [85.5200, 27.6304], [85.5197, 27.6301]]]})
    park = _layer_file(root / "park.geojson", {"type": "Polygon", "coordinates": [
        [[85.5202, 27.6301], [85.5205, 27.6301], [85.5205, 27.6304], [85.5202, 27.6301]]]})
    road = _layer_file(root / "street.geojson", {"type": "LineString", "coordinates": [[85.5196, 27.6306], [85.5209, 27.6306]]})
    dest = root / "classes.tif"
    proc = qgis_process(qp_env, "--json", "run", "satgeo:synthesizeextent", "--",
                        "EXTENT=85.5196,85.5209,27.6300,27.6310 [EPSG:4326]", f"FOOTPRINTS={os.path.join(DATA, 'banepa_buildings.geojson')}",
                        f"ROADS={road}", f"WATER={water}", f"VEGETATION={park}", f"SERVER={server_url}", f"MODEL={model}",
                        "GSD=2", f"OUTPUT={dest}")
    results(proc)
    assert QgsRasterLayer(str(dest), "classes").isValid()
    data_dir = os.environ.get("SATGEO_TEST_DATA_DIR")
    if not data_dir:
        pytest.skip("the server's data dir is unknown (run through tests/qgis/test_qgis_plugin.py)")
    jobs = sorted((p for p in (os.path.join(data_dir, "jobs", d, "footprints.geojson") for d in os.listdir(os.path.join(data_dir, "jobs")))
                   if os.path.exists(p)), key=os.path.getmtime)
    with open(jobs[-1]) as fh:
        props = [f["properties"] for f in json.load(fh)["features"]]
    classes = {p["satgeo_class"] for p in props}
    assert classes == {"building", "road", "water", "vegetation"}, classes
    by_name = {p.get("name"): p for p in props}
    assert by_name["lake"]["natural"] == "water" and by_name["park"]["landuse"] == "grass"
    assert by_name["street"]["highway"] == "road"
