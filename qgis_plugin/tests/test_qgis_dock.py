"""The dock as a user meets it: Check pressed again and again against a server on a non-default port,
a dock that fits its default width (screenshot), labelled controls, the model list, result layer order,
all layer classes, and progress while a live layer's cold metatiles render."""

from __future__ import annotations

import json
import os

from conftest import bar_texts, http_json, wait_until
from qgis.core import QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QPoint
from qgis.PyQt.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)
from test_qgis_live_and_errors import draw_patch, footprints


def artifacts(tmp_path) -> str:
    return os.environ.get("SATGEO_TEST_ARTIFACTS") or str(tmp_path)


def press_check(plugin, timeout=60) -> str:
    plugin.dock.check_button.click()
    wait_until(lambda: plugin.dock.status.text() != "checking…", timeout, "the health check")
    return plugin.dock.status.text()


def test_check_works_any_number_of_times(plugin, server_url):
    dock = plugin.dock
    assert not server_url.endswith(":8000")  # the server runs on a port other than the default
    # the dock opens and checks a URL where no server runs, as it does against :8000 on a fresh install
    dock.url.setText("http://127.0.0.1:9")
    plugin.action.setChecked(True)
    wait_until(lambda: dock.status.text() != "checking…", 30, "the automatic check")
    assert dock.status.text().startswith("cannot reach"), dock.status.text()
    dock.url.setText(server_url)
    loaded = []
    plugin.controller.modelsLoaded.connect(loaded.append)
    for press in range(3):
        text = press_check(plugin)
        assert text.startswith("ok"), f"press {press + 1}: {text}"
        wait_until(lambda n=press: len(loaded) > n, 60, f"the model list after press {press + 1}")
    # presses in quick succession: the last one wins, nothing breaks
    for _ in range(3):
        dock.check_button.click()
    wait_until(lambda: len(loaded) >= 4, 60, "the model list after quick presses")
    assert dock.status.text().startswith("ok")
    assert len(plugin.controller.requests) == 0  # every reply released
    texts = bar_texts(plugin.iface.bar)
    assert not [t for t in texts if "internal error" in t], texts

    # the model list shows each model's family and availability; unavailable ones cannot be picked
    served = http_json(f"{server_url}/v1/models")
    for m in served:
        index = dock.model.findData(m["name"])
        assert index >= 0, m["name"]
        text = dock.model.itemText(index)
        assert m["family"] in text, text
        assert dock.model.model().item(index).isEnabled() == m["available"], text
        assert ("not downloaded" in text) == (not m["available"]), text
    default = next(m["name"] for m in served if m["default"])
    dock.model.setCurrentIndex(dock.model.findData(default))
    dock.apply()
    assert plugin.controller.settings.model == default  # the name is sent, not the label


def test_dock_fits_its_default_width(plugin, tmp_path):
    iface, dock = plugin.iface, plugin.dock
    iface.window.resize(1280, 800)
    iface.window.show()
    plugin.action.setChecked(True)
    wait_until(lambda: dock.isVisible() and dock.width() > 0, 10, "the dock")
    for _ in range(20):
        from qgis.PyQt.QtCore import QCoreApplication

        QCoreApplication.processEvents()
    path = os.path.join(artifacts(tmp_path), "dock_default_width.png")
    assert dock.grab().save(path, "PNG")
    # the whole panel at that width (what scrolling down shows)
    assert dock.scroll.widget().grab().save(os.path.join(artifacts(tmp_path), "dock_default_width_full.png"), "PNG")
    viewport = dock.scroll.viewport()
    body = dock.scroll.widget()
    assert not dock.scroll.horizontalScrollBar().isVisible()
    assert body.width() <= viewport.width(), (body.width(), viewport.width())
    assert body.minimumSizeHint().width() <= viewport.width(), (body.minimumSizeHint().width(), viewport.width())
    controls = [w for w in body.findChildren(QWidget)
                if isinstance(w, (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit)) and w.isVisibleTo(body)
                and isinstance(w.parentWidget(), QWidget) and w.parentWidget().isVisibleTo(body)
                and not isinstance(w.parentWidget(), (QComboBox, QAbstractSpinBox))]
    assert len(controls) > 20
    for w in controls:
        left = w.mapTo(body, QPoint(0, 0)).x()
        assert left >= 0 and left + w.width() <= viewport.width() + 1, \
            f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r} spans x {left}..{left + w.width()} in a {viewport.width()} px dock"
    # groups collapse, and the panel scrolls vertically when it is taller than the dock
    boxes = [b for b in body.findChildren(QWidget) if type(b).__name__ == "QgsCollapsibleGroupBox"]
    assert len(boxes) >= 5
    height = body.sizeHint().height()
    boxes[1].setCollapsed(True)
    assert boxes[1].isCollapsed() and body.sizeHint().height() < height
    boxes[1].setCollapsed(False)
    print(f"dock default width {dock.width()} px, viewport {viewport.width()} px, screenshot {path}")


def test_every_control_has_a_label_and_gsd_takes_four_decimals(plugin):
    dock = plugin.dock
    unlabelled = []
    for form in dock.scroll.widget().findChildren(QFormLayout):
        for row in range(form.rowCount()):
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            widget = field.widget() if field is not None else None
            if widget is None or isinstance(widget, (QLabel, QAbstractButton)):
                continue
            text = label.widget().text() if label is not None and label.widget() is not None else ""
            if not text.strip():
                unlabelled.append(type(widget).__name__)
    assert not unlabelled, unlabelled
    for button in dock.scroll.widget().findChildren(QAbstractButton):
        if isinstance(button, (QCheckBox,)) or type(button).__name__ == "QPushButton":
            assert button.text().strip(), f"a {type(button).__name__} without text"
    assert dock.use_date.text() == "Date"
    dock.gsd.setValue(0.1318)
    assert dock.gsd.value() == 0.1318 and dock.gsd.decimals() == 4
    assert dock.gsd.maximum() <= 1000
    dock.apply()
    assert plugin.controller.settings.gsd == 0.1318


def _tiny_geotiff(path: str) -> str:
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(path, 8, 8, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((354000.0, 1.0, 0.0, 3057300.0, 0.0, -1.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32645)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        ds.GetRasterBand(b + 1).Fill(40 * (b + 1))
    ds = None
    return path


def test_results_go_below_the_vector_layers(plugin, project, tmp_path):
    from satgeo_qgis.layers import add_result_layer

    fp = footprints(project, "buildings")
    roads = QgsVectorLayer("LineString?crs=EPSG:4326", "roads", "memory")
    project.addMapLayer(roads)
    first = add_result_layer(_tiny_geotiff(str(tmp_path / "a.tif")), project=project)
    root = project.layerTreeRoot()
    order = [n.name() for n in root.children()]
    assert order.index("satgeo") > order.index("buildings") and order.index("satgeo") > order.index("roads"), order
    # a vector layer added under the group later: the next result moves the group below it
    water = QgsVectorLayer("Polygon?crs=EPSG:4326", "water", "memory")
    project.addMapLayer(water, False)
    root.addLayer(water)
    second = add_result_layer(_tiny_geotiff(str(tmp_path / "b.tif")), project=project)
    order = [n.name() for n in root.children()]
    assert order[-1] == "satgeo", order
    group = root.findGroup("satgeo")
    assert {n.layer().id() for n in group.findLayers()} == {first.id(), second.id()}
    assert project.mapLayer(first.id()) is not None and project.mapLayer(fp.id()) is not None


def test_all_layer_classes_reach_the_server(plugin, project):
    """Roads, water and vegetation layers without OSM tags are sent so the server draws them as such."""
    from satgeo_qgis import geometry as geo

    water = QgsVectorLayer("Polygon?crs=EPSG:4326&field=name:string", "lake", "memory")
    veg = QgsVectorLayer("Polygon?crs=EPSG:4326", "park", "memory")
    road = QgsVectorLayer("LineString?crs=EPSG:4326", "street", "memory")
    from qgis.core import QgsFeature, QgsGeometry

    for layer, wkt in ((water, "POLYGON((85.5197 27.6301, 85.5199 27.6301, 85.5199 27.6303, 85.5197 27.6301))"),
                       (veg, "POLYGON((85.5201 27.6301, 85.5203 27.6301, 85.5203 27.6303, 85.5201 27.6301))"),
                       (road, "LINESTRING(85.5196 27.6305, 85.5209 27.6305)")):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        assert layer.dataProvider().addFeatures([f])
        layer.updateExtents()
        project.addMapLayer(layer)
    plugin.dock.layer_boxes["water"].setLayer(water)
    plugin.dock.layer_boxes["vegetation"].setLayer(veg)
    plugin.dock.layer_boxes["road"].setLayer(road)
    draw_patch(plugin, project)
    body = plugin.controller.job_body()
    props = [f["properties"] for f in body["footprints"]["features"]]
    assert {p["satgeo_class"] for p in props} == {"road", "water", "vegetation"}
    by = {p["satgeo_class"]: p for p in props}
    assert by["water"]["natural"] == "water" and by["vegetation"]["landuse"] == "grass" and by["road"]["highway"] == "road"
    assert set(geo.LAYER_KINDS) == {"building", "road", "water", "vegetation"}
    json.dumps(body)


def test_live_layer_reports_progress_while_cold_tiles_render(plugin, project):
    fp = footprints(project)
    plugin.dock.layer_boxes["building"].setLayer(fp)
    plugin.dock.seed.setValue(31)  # a scene the server has not rendered yet: cold metatiles
    draw_patch(plugin, project)
    statuses, added = [], []
    plugin.controller.liveStatus.connect(statuses.append)
    plugin.controller.liveLayerAdded.connect(added.append)
    plugin.dock.live_button.click()
    wait_until(lambda: added or any("error" in t for t in bar_texts(plugin.iface.bar)), 120, "the live layer")
    assert added, bar_texts(plugin.iface.bar)
    canvas = plugin.iface.canvas
    canvas.setLayers([added[0], fp])
    canvas.refresh()
    wait_until(lambda: statuses and statuses[-1] == "live layer: up to date", 240, "the live layer's render")
    assert any(s.startswith("live layer: rendering") for s in statuses), statuses
    assert plugin.dock.live_status.text() == "live layer: up to date"
    print("live layer statuses:", statuses)
    assert isinstance(added[0], QgsRasterLayer)
