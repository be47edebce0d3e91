"""Plugin entry: the dock panel, its menu action and the Processing provider."""

from __future__ import annotations

import os

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

ICON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.svg")
MENU = "&satgeo"


class SatgeoPlugin:
    """``iface`` is None under qgis_process: only the Processing provider is loaded then."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.controller = None
        self.dock = None
        self.action = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS calls it for hasProcessingProvider=yes
        if self.provider is None:
            from .processing.provider import SatgeoProvider

            self.provider = SatgeoProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        from .controller import SatgeoController
        from .dock import SatgeoDock

        self.initProcessing()
        self.controller = SatgeoController(self.iface.mapCanvas(), self.iface.messageBar())
        self.dock = SatgeoDock(self.controller, self.iface.mainWindow())
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.action = QAction(QIcon(ICON), "satgeo synthetic imagery", self.iface.mainWindow())
        self.action.setCheckable(True)
        self.action.toggled.connect(self._toggle)
        self.dock.visibilityChanged.connect(self.action.setChecked)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        self.iface.addRasterToolBarIcon(self.action)

    def _toggle(self, on: bool) -> None:
        if self.dock is None:
            return
        self.dock.setVisible(on)
        if on:
            self.dock.check()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.controller is not None:
            self.controller.unload()
            self.controller = None
        if self.action is not None:
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.iface.removeRasterToolBarIcon(self.action)
            self.action = None
        if self.dock is not None:
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
