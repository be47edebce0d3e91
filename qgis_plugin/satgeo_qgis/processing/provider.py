"""The "satgeo" Processing provider (toolbox, graphical models, qgis_process)."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import SynthesizeExtent, SynthesizeVectorLayer

ICON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "icon.svg")


class SatgeoProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "satgeo"

    def name(self) -> str:
        return "satgeo"

    def longName(self) -> str:  # noqa: N802
        return "satgeo synthetic imagery"

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def loadAlgorithms(self) -> None:  # noqa: N802
        self.addAlgorithm(SynthesizeExtent())
        self.addAlgorithm(SynthesizeVectorLayer())
