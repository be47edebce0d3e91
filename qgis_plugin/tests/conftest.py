"""QGIS-side fixtures. These tests run under Debian's /usr/bin/python3 (which has the QGIS bindings),
driven by tests/qgis/test_qgis_plugin.py, which starts a real satgeo server and passes its URL in
$SATGEO_TEST_SERVER (and the model to use in $SATGEO_TEST_MODEL)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
PLUGIN_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PLUGIN_ROOT)
sys.path.append("/usr/share/qgis/python/plugins")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

from qgis.core import QgsApplication, QgsProject  # noqa: E402
from qgis.PyQt.QtCore import QCoreApplication  # noqa: E402

_APP = None


@pytest.fixture(scope="session")
def qgis_app():
    global _APP
    if _APP is None:
        _APP = QgsApplication([], True)
        _APP.initQgis()
        from processing.core.Processing import Processing

        Processing.initialize()
    yield _APP


@pytest.fixture(scope="session")
def server_url():
    url = os.environ.get("SATGEO_TEST_SERVER")
    if not url:
        pytest.skip("no satgeo server: run these through tests/qgis/test_qgis_plugin.py, which starts one")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def model():
    return os.environ.get("SATGEO_TEST_MODEL", "")


def wait_until(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    """Spin the Qt event loop (as QGIS's GUI would) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        QCoreApplication.processEvents()
        time.sleep(0.02)


def http_json(url: str, method: str = "GET"):
    """Out-of-band look at the server (to check what the plugin did), not through the plugin."""
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as resp:
        return json.loads(resp.read().decode())


class HeadlessIface:
    """The part of QgisInterface the plugin uses, backed by real widgets (no mocks)."""

    def __init__(self):
        from qgis.gui import QgsMapCanvas, QgsMessageBar
        from qgis.PyQt.QtWidgets import QMainWindow

        self.window = QMainWindow()
        self.canvas = QgsMapCanvas(self.window)
        self.window.setCentralWidget(self.canvas)
        self.bar = QgsMessageBar(self.window)
        self.window.resize(800, 600)
        self.canvas.resize(640, 480)
        self.menus, self.toolbar, self.docks = {}, [], []

    def mainWindow(self):  # noqa: N802
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def messageBar(self):  # noqa: N802
        return self.bar

    def activeLayer(self):  # noqa: N802
        return self.canvas.currentLayer()

    def addDockWidget(self, area, dock):  # noqa: N802
        self.window.addDockWidget(area, dock)
        self.docks.append(dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self.window.removeDockWidget(dock)
        self.docks.remove(dock)

    def addPluginToRasterMenu(self, menu, action):  # noqa: N802
        self.menus.setdefault(menu, []).append(action)

    def removePluginRasterMenu(self, menu, action):  # noqa: N802
        self.menus[menu].remove(action)

    def addRasterToolBarIcon(self, action):  # noqa: N802
        self.toolbar.append(action)

    def removeRasterToolBarIcon(self, action):  # noqa: N802
        self.toolbar.remove(action)


def bar_texts(bar) -> list:
    return [item.text() for item in bar.items()]


@pytest.fixture()
def project(qgis_app):
    proj = QgsProject.instance()
    proj.clear()
    yield proj
    proj.clear()


@pytest.fixture()
def plugin(qgis_app, project, server_url, model, tmp_path):
    """The real plugin, loaded through classFactory/initGui into a headless main window."""
    from satgeo_qgis import classFactory

    iface = HeadlessIface()
    plug = classFactory(iface)
    plug.initGui()
    dock = plug.dock
    dock.url.setText(server_url)
    dock.model.setCurrentText(model)
    dock.output.setFilePath(str(tmp_path / "out"))
    dock.seed.setValue(7)
    dock.gsd.setValue(2.0)
    dock.steps.setValue(0)
    dock.prompt.setText("")
    dock.use_date.setChecked(False)
    dock.cloud.setValue(-0.01)
    dock.apply()
    yield plug
    plug.unload()
    iface.window.close()


def _echo_log(message, tag, level):
    if tag == "satgeo":
        print(f"[qgis log] {message}", file=sys.stderr)


@pytest.fixture(scope="session", autouse=True)
def _qgis_log_to_stderr(qgis_app):
    """The plugin's log lines show up in pytest's captured stderr when a test fails."""
    QgsApplication.messageLog().messageReceived.connect(_echo_log)
    yield
