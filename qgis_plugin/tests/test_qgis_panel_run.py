"""Draw an area with the plugin's map tools, synthesize it through a real server, check the layer."""

from __future__ import annotations

import os

from conftest import DATA, bar_texts, http_json, wait_until
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsPointXY,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

# A ~150 m x 110 m patch of Banepa, Nepal (lon, lat), where the footprint test data lies.
LON0, LAT0, LON1, LAT1 = 85.51960, 27.63005, 85.52090, 27.63105


def show_area(iface, project, crs: QgsCoordinateReferenceSystem) -> QgsRectangle:
    """Set the project/canvas CRS and zoom the canvas to the test patch; returns the patch in ``crs``."""
    project.setCrs(crs)
    iface.window.show()
    iface.canvas.setDestinationCrs(crs)
    xform = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), crs, project)
    rect = xform.transformBoundingBox(QgsRectangle(LON0, LAT0, LON1, LAT1))
    view = QgsRectangle(rect)
    view.scale(1.6)
    iface.canvas.setExtent(view)
    iface.canvas.refresh()
    return rect


def mouse(canvas, kind, map_xy, button=Qt.MouseButton.LeftButton):
    pixel = canvas.getCoordinateTransform().transform(QgsPointXY(*map_xy))
    return QgsMapMouseEvent(canvas, kind, QPoint(round(pixel.x()), round(pixel.y())), button, button,
                            Qt.KeyboardModifier.NoModifier)


def drag_rectangle(tool, canvas, a, b) -> None:
    tool.canvasPressEvent(mouse(canvas, QEvent.Type.MouseButtonPress, a))
    tool.canvasMoveEvent(mouse(canvas, QEvent.Type.MouseMove, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)))
    tool.canvasReleaseEvent(mouse(canvas, QEvent.Type.MouseButtonRelease, b))


def run_to_end(plugin, timeout=180):
    finished = []
    plugin.controller.runFinished.connect(finished.append)
    plugin.dock.run_button.click()
    assert plugin.controller.tasks or finished, bar_texts(plugin.controller.bar)
    wait_until(lambda: finished, timeout, "the synthesis task")
    return finished[0]


def assert_lies_on(layer: QgsRasterLayer, drawn: QgsGeometry, drawn_crs, project) -> None:
    """The raster's extent equals the drawn area's bounds in the raster's CRS, within one pixel."""
    xform = QgsCoordinateTransform(drawn_crs, layer.crs(), project)
    dense = QgsGeometry(drawn).densifyByCount(64)
    dense.transform(xform)
    want, got = dense.boundingBox(), layer.extent()
    px, py = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    for name, w, g, tol in (("xmin", want.xMinimum(), got.xMinimum(), px), ("xmax", want.xMaximum(), got.xMaximum(), px),
                            ("ymin", want.yMinimum(), got.yMinimum(), py), ("ymax", want.yMaximum(), got.yMaximum(), py)):
        assert abs(w - g) <= tol, f"{name}: drawn {w:.3f} vs raster {g:.3f} (pixel {tol:.3f}) in {layer.crs().authid()}"


def check_result_layer(plugin, project) -> QgsRasterLayer:
    group = project.layerTreeRoot().findGroup("satgeo")
    assert group is not None, "no 'satgeo' group in the layer tree"
    layers = [node.layer() for node in group.findLayers()]
    assert len(layers) == 1
    layer = layers[0]
    assert isinstance(layer, QgsRasterLayer) and layer.isValid()
    assert layer.bandCount() == 3
    assert os.path.dirname(layer.source()) == plugin.controller.settings.output_dir
    # the style came from styles/synthetic.qml: a marker property, RGB renderer without stretch, bilinear
    assert layer.customProperty("satgeo/style") == "synthetic"
    renderer = layer.renderer()
    assert renderer.type() == "multibandcolor"
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (1, 2, 3)
    ce = renderer.redContrastEnhancement()
    assert (ce.minimumValue(), ce.maximumValue()) == (0, 255)
    assert layer.resampleFilter().zoomedInResampler() is not None
    stats = layer.dataProvider().bandStatistics(1)
    assert stats.maximumValue > stats.minimumValue, "the synthetic image is flat"
    return layer


def test_draw_rectangle_and_synthesize(plugin, project):
    iface = plugin.iface
    crs = QgsCoordinateReferenceSystem("EPSG:3857")
    patch = show_area(iface, project, crs)
    footprints = QgsVectorLayer(os.path.join(DATA, "banepa_buildings.geojson"), "buildings", "ogr")
    project.addMapLayer(footprints)
    plugin.dock.layer_boxes["building"].setLayer(footprints)

    plugin.dock.rect_button.click()
    assert iface.canvas.mapTool() is plugin.controller.rect_tool
    drag_rectangle(plugin.controller.rect_tool, iface.canvas, (patch.xMinimum(), patch.yMaximum()),
                   (patch.xMaximum(), patch.yMinimum()))
    assert plugin.controller.area is not None, bar_texts(iface.bar)
    assert "rectangle" in plugin.dock.area_label.text()
    drawn = plugin.controller.area
    assert abs(drawn.boundingBox().width() - patch.width()) < patch.width() * 0.02  # the drag became the area

    task = run_to_end(plugin)
    assert task.error is None, task.error
    layer = check_result_layer(plugin, project)
    assert_lies_on(layer, drawn, crs, project)
    assert layer.crs().authid() == "EPSG:32645"  # the server worked in Banepa's UTM zone
    assert abs(layer.rasterUnitsPerPixelX() - 2.0) < 1e-6  # the GSD asked for in the panel
    job = http_json(f"{plugin.controller.settings.server_url}/v1/jobs/{task.job_id}")
    assert job["status"] == "succeeded"
    assert any("synthetic image added" in t for t in bar_texts(iface.bar))


def test_polygon_in_an_unusual_project_crs(plugin, project):
    """A project in a custom oblique projection: the polygon still lands where it was drawn."""
    iface = plugin.iface
    crs = QgsCoordinateReferenceSystem.fromProj("+proj=omerc +lat_0=27.6 +lonc=85.5 +alpha=37 +gamma=0 +k=1 +x_0=1000 +y_0=-5000 +ellps=WGS84 +units=us-ft +no_defs")
    assert crs.isValid()
    patch = show_area(iface, project, crs)
    tool = plugin.controller.poly_tool
    plugin.dock.poly_button.click()
    c = patch.center()
    pts = [(patch.xMinimum(), c.y()), (c.x(), patch.yMaximum()), (patch.xMaximum(), c.y()), (c.x(), patch.yMinimum())]
    for p in pts:
        tool.canvasReleaseEvent(mouse(iface.canvas, QEvent.Type.MouseButtonRelease, p))
    tool.canvasReleaseEvent(mouse(iface.canvas, QEvent.Type.MouseButtonRelease, pts[0], Qt.MouseButton.RightButton))
    drawn = plugin.controller.area
    assert drawn is not None and "polygon" in plugin.dock.area_label.text(), bar_texts(iface.bar)
    plugin.dock.gsd.setValue(3.0)

    task = run_to_end(plugin)
    assert task.error is None, task.error
    layer = check_result_layer(plugin, project)
    assert_lies_on(layer, drawn, crs, project)


def test_canvas_extent_in_geographic_crs_and_empty_selection(plugin, project):
    iface = plugin.iface
    crs = QgsCoordinateReferenceSystem("EPSG:4326")
    show_area(iface, project, crs)
    plugin.dock.extent_button.click()
    assert plugin.controller.area is not None
    extent = QgsRectangle(iface.canvas.extent())
    assert plugin.controller.area.boundingBox() == extent

    # "Selected feature" with nothing selected: a clear warning, the area is kept
    footprints = QgsVectorLayer(os.path.join(DATA, "banepa_buildings.geojson"), "buildings", "ogr")
    project.addMapLayer(footprints)
    iface.canvas.setCurrentLayer(footprints)
    plugin.dock.selection_button.click()
    assert any("no selected feature" in t for t in bar_texts(iface.bar))
    assert plugin.controller.area.boundingBox() == extent
    # with a selection, the area is that feature
    fid = next(footprints.getFeatures()).id()
    footprints.selectByIds([fid])
    plugin.dock.selection_button.click()
    assert plugin.controller.area.boundingBox() == footprints.getFeature(fid).geometry().boundingBox()
    assert "selection of buildings" in plugin.dock.area_label.text()


def test_settings_persist_in_qgssettings(plugin):
    from satgeo_qgis.settings import PluginSettings

    d = plugin.dock
    d.prompt.setText("a fmow satellite image of a residential area in Nepal")
    d.seed.setValue(1234)
    d.gsd.setValue(0.5)
    d.use_date.setChecked(True)
    from qgis.PyQt.QtCore import QDate

    d.date.setDate(QDate(2021, 3, 14))
    d.cloud.setValue(0.25)
    d.apply()
    again = PluginSettings.load()
    assert again.prompt == "a fmow satellite image of a residential area in Nepal"
    assert (again.seed, again.gsd, again.date, again.cloud_cover) == (1234, 0.5, "2021-03-14", 0.25)
    assert again.server_url == plugin.controller.settings.server_url
