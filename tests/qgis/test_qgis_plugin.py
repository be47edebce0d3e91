"""Drives the QGIS plugin's tests in real headless QGIS against a real satgeo server.

QGIS's Python bindings exist only for Debian's /usr/bin/python3, not for the Python that runs
this suite, so this file starts ``satgeo serve`` (with a tiny pix2pix checkpoint built here), then
runs ``/usr/bin/python3 -m pytest qgis_plugin/tests/<file>`` with the server's URL in the
environment and asserts that it passed.
"""

from __future__ import annotations

import ast
import os
import queue
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "qgis_plugin"
QGIS_PYTHON = os.environ.get("SATGEO_QGIS_PYTHON", "/usr/bin/python3")
TINY_MODEL = "models/qgis-tiny"


def _qgis_importable() -> bool:
    if not os.path.exists(QGIS_PYTHON):
        return False
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core, pytest"], capture_output=True,
                           env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), timeout=120)
    return probe.returncode == 0


needs_qgis = pytest.mark.skipif(
    not _qgis_importable(),
    reason=f"{QGIS_PYTHON} cannot import qgis.core and pytest (apt install python3-qgis qgis-providers qgis python3-pytest)",
)


def build_tiny_model(folder: Path) -> None:
    """A random ~30k-parameter pix2pix checkpoint: fast on CPU and with plenty of pixel variation."""
    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix
    from satgeo.models.pix2pix_nets import init_weights

    cfg = Pix2PixConfig(name="qgis-test-tiny", num_downs=5, ngf=8, native_gsd=1.0, tile_size=64, overlap=16,
                        max_gsd_ratio=40.0, description="random tiny pix2pix for the QGIS plugin tests")
    save_pix2pix(init_weights(cfg.build(), gain=0.3, seed=1), cfg, folder)


def warm_up(url: str) -> None:
    """Load the model and make one tile before QGIS talks to the server, as a user would wait for it:
    on a loaded 2-core machine a cold first request can outlast QGIS's 60 s network timeout."""
    import json
    import urllib.request

    fc = json.loads((PLUGIN / "tests" / "data" / "banepa_buildings.geojson").read_text())
    body = json.dumps({"layers": [{"geojson": fc}], "model": TINY_MODEL}).encode()
    req = urllib.request.Request(f"{url}/v1/scenes", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        scene = json.loads(resp.read())
    import mercantile

    tile = mercantile.tile(85.5203, 27.6305, scene["maxzoom"] - 3)
    with urllib.request.urlopen(f"{url}/v1/scenes/{scene['id']}/tiles/{tile.z}/{tile.x}/{tile.y}.png", timeout=600) as resp:
        assert resp.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("satgeo-server")
    build_tiny_model(data / TINY_MODEL)
    proc = subprocess.Popen(
        [sys.executable, "-m", "satgeo.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue = queue.Queue()
    log: list = []

    def pump():  # keep draining the pipe for the server's whole life
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    url = None
    while url is None:
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            break
        if line is None:
            break
        match = re.search(r"listening on (http://\S+)", line)
        url = match.group(1) if match else None
    if url is None:
        proc.kill()
        pytest.fail("satgeo serve did not start:\n" + "".join(log[-30:]))
    try:
        warm_up(url)
    except Exception as exc:
        proc.kill()
        pytest.fail(f"satgeo serve did not answer the warm-up scene/tile ({exc}):\n" + "".join(log[-30:]))
    yield url, data
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@needs_qgis
def test_plugin_in_headless_qgis(server, tmp_path):
    """One QGIS process runs all of qgis_plugin/tests (QGIS start-up is the expensive part)."""
    server, data_dir = server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_"))}
    env.update(
        QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"), XDG_RUNTIME_DIR=str(tmp_path),
        SATGEO_TEST_SERVER=server, SATGEO_TEST_MODEL=TINY_MODEL, SATGEO_TEST_PYTHON=sys.executable,
        SATGEO_TEST_ARTIFACTS=str(tmp_path), SATGEO_TEST_DATA_DIR=str(data_dir),
        # QGIS's embedded Python finds its stdlib from the first python3 on PATH: make it Debian's, not pyenv's
        PATH=os.pathsep.join([os.path.dirname(QGIS_PYTHON), "/usr/bin", "/bin", env.get("PATH", "")]),
    )
    (tmp_path / "home").mkdir()
    # SATGEO_QGIS_TESTS narrows the run while working on one file (e.g. qgis_plugin/tests/test_qgis_dock.py)
    selection = os.environ.get("SATGEO_QGIS_TESTS", "qgis_plugin/tests").split()
    cmd = [QGIS_PYTHON, "-m", "pytest", *selection, "-q", "-rfEs", "-p", "no:cacheprovider",
           "-o", "addopts=", "--basetemp", str(tmp_path / "basetemp"), "-W", "ignore::pytest.PytestConfigWarning"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    print(out[-3000:])
    assert proc.returncode == 0, f"QGIS-side tests failed (rc={proc.returncode}):\n{out[-8000:]}"
    summary = [line for line in proc.stdout.splitlines() if re.search(r"\d+ passed", line)]
    assert summary, out[-3000:]
    assert "skipped" not in summary[-1], f"QGIS-side tests were skipped: {summary[-1]}\n{out[-3000:]}"


def test_plugin_zip_is_installable_and_reproducible(tmp_path):
    first = subprocess.run([sys.executable, str(PLUGIN / "build.py"), "-o", str(tmp_path / "a")],
                           capture_output=True, text=True, check=True).stdout.strip()
    second = subprocess.run([sys.executable, str(PLUGIN / "build.py"), "-o", str(tmp_path / "b")],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert Path(first).read_bytes() == Path(second).read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = set(zf.namelist())
        meta = zf.read("satgeo_qgis/metadata.txt").decode()
    assert {"satgeo_qgis/__init__.py", "satgeo_qgis/metadata.txt", "satgeo_qgis/styles/synthetic.qml",
            "satgeo_qgis/styles/footprints.qml", "satgeo_qgis/processing/provider.py"} <= names
    assert all(n.startswith("satgeo_qgis/") for n in names)
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n or n.endswith(".pyc")]
    assert "qgisMinimumVersion=3.22" in meta and "hasProcessingProvider=yes" in meta


def test_build_reports_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = subprocess.run([sys.executable, str(PLUGIN / "build.py"), "-o", str(blocker / "dist")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot write the plugin zip")


def test_plugin_is_a_thin_client():
    """The plugin never imports torch or satgeo: only QGIS, Qt and the standard library."""
    banned = {"torch", "satgeo", "server", "numpy", "requests", "rasterio"}
    for path in (PLUGIN / "satgeo_qgis").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.relative_to(REPO)} imports {name}"
