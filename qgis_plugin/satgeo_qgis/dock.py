"""The satgeo dock panel (built in code: no .ui file, nothing Qt5/Qt6-specific)."""

from __future__ import annotations

import functools
import inspect
import traceback

from qgis.core import QgsMessageLog
from qgis.gui import QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QDate
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .compat import message_level, vector_layer_filter
from .controller import SatgeoController


def guarded(method):
    """A slot that reports a bug in the message bar instead of letting it reach Qt (which may abort)."""

    arity = len(inspect.signature(method).parameters) - 1  # Qt passes extras such as clicked(checked)

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args[:arity])
        except Exception as exc:  # noqa: BLE001 - last line of defence for GUI slots
            QgsMessageLog.logMessage(traceback.format_exc(), "satgeo", message_level("Critical"))
            self.controller.notify(f"internal error ({type(exc).__name__}: {exc}); details in the satgeo log", "Critical")

    return wrapper


class SatgeoDock(QgsDockWidget):
    def __init__(self, controller: SatgeoController, parent=None):
        super().__init__("satgeo", parent)
        self.setObjectName("SatgeoDock")
        self.controller = controller
        s = controller.settings
        body = QWidget()
        outer = QVBoxLayout(body)

        # server
        server_box = QGroupBox("Server")
        form = QFormLayout(server_box)
        self.url = QLineEdit(s.server_url)
        self.token = QLineEdit(s.token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("only for servers that print a bearer token")
        self.status = QLabel("not checked")
        self.status.setWordWrap(True)
        self.check_button = QPushButton("Check")
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.check_button)
        self.python = QgsFileWidget()
        self.python.setFilePath(s.python)
        self.python.setToolTip("A Python that has satgeo installed; used by 'Start local server'")
        self.start_button = QPushButton("Start local server")
        self.start_button.setEnabled(False)
        form.addRow("URL", self.url)
        form.addRow("Token", self.token)
        form.addRow("Status", row)
        form.addRow("Python", self.python)
        form.addRow("", self.start_button)
        outer.addWidget(server_box)

        # generation
        gen_box = QGroupBox("Generation")
        form = QFormLayout(gen_box)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip("Empty: the server's default model")
        if s.model:
            self.model.addItem(s.model)
        self.prompt = QLineEdit(s.prompt)
        self.prompt.setPlaceholderText("empty: caption from the area (DiffusionSat template)")
        self.use_date = QCheckBox()
        self.date = QDateEdit()
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.date.setDate(QDate.fromString(s.date, "yyyy-MM-dd") if s.date else QDate.currentDate())
        self.use_date.setChecked(bool(s.date))
        date_row = QHBoxLayout()
        date_row.addWidget(self.use_date)
        date_row.addWidget(self.date, 1)
        self.cloud = QDoubleSpinBox()
        self.cloud.setRange(-0.01, 1.0)
        self.cloud.setSingleStep(0.05)
        self.cloud.setDecimals(2)
        self.cloud.setSpecialValueText("server default")
        self.cloud.setValue(s.cloud_cover if s.cloud_cover >= 0 else -0.01)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(s.seed)
        self.gsd = QDoubleSpinBox()
        self.gsd.setRange(0.0, 10000.0)
        self.gsd.setDecimals(2)
        self.gsd.setSuffix(" m")
        self.gsd.setSpecialValueText("model's native")
        self.gsd.setValue(s.gsd)
        self.steps = QSpinBox()
        self.steps.setRange(0, 1000)
        self.steps.setSpecialValueText("model default")
        self.steps.setValue(s.steps)
        form.addRow("Model", self.model)
        form.addRow("Prompt", self.prompt)
        form.addRow("Date", date_row)
        form.addRow("Cloud cover", self.cloud)
        form.addRow("Seed", self.seed)
        form.addRow("GSD", self.gsd)
        form.addRow("Steps", self.steps)
        outer.addWidget(gen_box)

        # layers
        layer_box = QGroupBox("Map layers (optional)")
        form = QFormLayout(layer_box)
        self.layer_boxes = {}
        for kind, label in (("building", "Footprints"), ("road", "Roads"), ("water", "Water")):
            combo = QgsMapLayerComboBox()
            combo.setFilters(vector_layer_filter())
            combo.setAllowEmptyLayer(True)
            combo.setLayer(None)
            combo.layerChanged.connect(lambda layer, k=kind: self.controller.set_layer(k, layer))
            self.layer_boxes[kind] = combo
            form.addRow(label, combo)
        outer.addWidget(layer_box)

        # area
        area_box = QGroupBox("Area")
        grid = QVBoxLayout(area_box)
        buttons = QHBoxLayout()
        self.rect_button = QPushButton("Rectangle")
        self.poly_button = QPushButton("Polygon")
        self.extent_button = QPushButton("Canvas extent")
        self.selection_button = QPushButton("Selected feature")
        for b in (self.rect_button, self.poly_button, self.extent_button, self.selection_button):
            buttons.addWidget(b)
        self.area_label = QLabel("no area yet")
        self.area_label.setWordWrap(True)
        grid.addLayout(buttons)
        grid.addWidget(self.area_label)
        outer.addWidget(area_box)

        # output and actions
        out_box = QGroupBox("Output")
        form = QFormLayout(out_box)
        self.output = QgsFileWidget()
        self.output.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output.setFilePath(s.output_dir)
        self.run_button = QPushButton("Synthesize")
        self.live_button = QPushButton("Add live layer")
        form.addRow("Folder", self.output)
        actions = QHBoxLayout()
        actions.addWidget(self.run_button)
        actions.addWidget(self.live_button)
        form.addRow(actions)
        outer.addWidget(out_box)
        outer.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.setWidget(scroll)

        self.check_button.clicked.connect(self.check)
        self.start_button.clicked.connect(self.start_local)
        self.rect_button.clicked.connect(self.draw_rectangle)
        self.poly_button.clicked.connect(self.draw_polygon)
        self.extent_button.clicked.connect(self.use_extent)
        self.selection_button.clicked.connect(self.use_selection)
        self.run_button.clicked.connect(self.run)
        self.live_button.clicked.connect(self.live)
        controller.areaChanged.connect(self.area_label.setText)
        controller.serverChecked.connect(self.on_server)
        controller.modelsLoaded.connect(self.on_models)

    @guarded
    def apply(self) -> None:
        """Copy the widgets into the settings and persist them."""
        s = self.controller.settings
        s.server_url = self.url.text().strip()
        s.token = self.token.text().strip()
        s.python = self.python.filePath().strip() or "python3"
        s.model = self.model.currentText().strip()
        s.prompt = self.prompt.text().strip()
        s.date = self.date.date().toString("yyyy-MM-dd") if self.use_date.isChecked() else ""
        s.cloud_cover = self.cloud.value() if self.cloud.value() >= 0 else -1.0
        s.seed = self.seed.value()
        s.gsd = self.gsd.value()
        s.steps = self.steps.value()
        s.output_dir = self.output.filePath().strip()
        s.save()

    @guarded
    def check(self) -> None:
        self.apply()
        self.status.setText("checking…")
        self.controller.check_server()

    @guarded
    def on_server(self, ok: bool, text: str) -> None:
        self.status.setText(text)
        self.start_button.setEnabled(not ok)
        if not ok:
            self.start_button.setToolTip(f"No server answers; start one with {self.controller.settings.python} -m satgeo.cli serve")

    @guarded
    def on_models(self, names: list) -> None:
        current = self.model.currentText()
        self.model.clear()
        self.model.addItem("")  # the server's default
        self.model.addItems(names)
        self.model.setCurrentText(current)

    @guarded
    def start_local(self) -> None:
        self.apply()
        self.status.setText("starting a local server…")
        self.controller.start_local_server()

    @guarded
    def draw_rectangle(self) -> None:
        self.controller.draw_rectangle()

    @guarded
    def draw_polygon(self) -> None:
        self.controller.draw_polygon()

    @guarded
    def use_extent(self) -> None:
        self.controller.use_canvas_extent()

    @guarded
    def use_selection(self) -> None:
        layer = self.controller.canvas.currentLayer()  # the active layer in the Layers panel
        if layer is None or not hasattr(layer, "selectedFeatureCount"):
            layer = self.layer_boxes["building"].currentLayer()
        self.controller.use_selected_feature(layer)

    @guarded
    def run(self) -> None:
        self.apply()
        self.controller.run()

    @guarded
    def live(self) -> None:
        self.apply()
        self.controller.add_live_layer()
