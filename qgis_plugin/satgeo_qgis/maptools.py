"""Map tools that draw the area to synthesize: a dragged rectangle or a clicked polygon."""

from __future__ import annotations

from qgis.core import QgsGeometry, QgsPointXY, QgsRectangle
from qgis.gui import QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

from .compat import geometry_type

_FILL = QColor(255, 127, 0, 50)
_EDGE = QColor(255, 127, 0, 220)


def _band(canvas) -> QgsRubberBand:
    band = QgsRubberBand(canvas, geometry_type("Polygon"))
    band.setFillColor(_FILL)
    band.setStrokeColor(_EDGE)
    band.setWidth(2)
    return band


class RectangleMapTool(QgsMapTool):
    """Press, drag, release: emits ``rectangleDrawn(QgsRectangle)`` in the canvas CRS."""

    rectangleDrawn = pyqtSignal(QgsRectangle)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.band = _band(canvas)
        self.start = None
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasPressEvent(self, event):  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self.start = QgsPointXY(event.mapPoint())
            self._show(self.start)

    def canvasMoveEvent(self, event):  # noqa: N802
        if self.start is not None:
            self._show(QgsPointXY(event.mapPoint()))

    def canvasReleaseEvent(self, event):  # noqa: N802
        if self.start is None or event.button() != Qt.MouseButton.LeftButton:
            return
        rect = QgsRectangle(self.start, QgsPointXY(event.mapPoint()))
        rect.normalize()
        self.start = None
        if rect.width() <= 0 or rect.height() <= 0:
            self.band.reset(geometry_type("Polygon"))
            return  # a click without a drag: nothing drawn
        self.band.setToGeometry(QgsGeometry.fromRect(rect), None)
        self.rectangleDrawn.emit(rect)

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.start = None
            self.band.reset(geometry_type("Polygon"))

    def _show(self, corner: QgsPointXY) -> None:
        rect = QgsRectangle(self.start, corner)
        self.band.setToGeometry(QgsGeometry.fromRect(rect), None)

    def clear(self) -> None:
        self.band.reset(geometry_type("Polygon"))

    def deactivate(self):
        self.start = None
        super().deactivate()


class PolygonMapTool(QgsMapTool):
    """Left click adds a vertex, right click (or Enter) closes the polygon: ``polygonDrawn(QgsGeometry)``."""

    polygonDrawn = pyqtSignal(QgsGeometry)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.band = _band(canvas)
        self.points: list = []
        self.setCursor(Qt.CursorShape.CrossCursor)

    def canvasReleaseEvent(self, event):  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.points.append(QgsPointXY(event.mapPoint()))
            self._show()
        elif event.button() == Qt.MouseButton.RightButton:
            self.finish()

    def canvasMoveEvent(self, event):  # noqa: N802
        if self.points:
            self._show(QgsPointXY(event.mapPoint()))

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish()
        elif event.key() == Qt.Key.Key_Escape:
            self.clear()
        elif event.key() == Qt.Key.Key_Backspace and self.points:
            self.points.pop()
            self._show()

    def finish(self) -> None:
        if len(self.points) < 3:
            return  # keep drawing; a polygon needs three vertices
        geom = QgsGeometry.fromPolygonXY([self.points + [self.points[0]]])
        if not geom.isGeosValid():
            geom = geom.makeValid()
        self.points = []
        self.band.setToGeometry(geom, None)
        if not geom.isEmpty() and geom.area() > 0:
            self.polygonDrawn.emit(geom)

    def _show(self, floating=None) -> None:
        pts = self.points + ([floating] if floating is not None else [])
        self.band.reset(geometry_type("Polygon"))
        for i, pt in enumerate(pts):
            self.band.addPoint(pt, i == len(pts) - 1)

    def clear(self) -> None:
        self.points = []
        self.band.reset(geometry_type("Polygon"))

    def deactivate(self):
        super().deactivate()
