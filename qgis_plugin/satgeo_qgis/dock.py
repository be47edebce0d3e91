"""The satgeo dock panel (built in code: no .ui file, nothing Qt5/Qt6-specific)."""

from __future__ import annotations

import functools
import inspect
import traceback

from qgis.core import QgsMessageLog
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
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


#: GSD limits of the panel (m/px): 4 decimals reach every model's native GSD (pix2pix-banepa: 0.1318).
GSD_DECIMALS, GSD_MAX = 4, 100.0


def _group(title: str, collapsed: bool = False) -> QgsCollapsibleGroupBox:
    box = QgsCollapsibleGroupBox(title)
    box.setCollapsed(collapsed)
    return box


def _form(box) -> QFormLayout:
    form = QFormLayout(box)
    # labels above fields when the dock is narrow, never a row wider than the dock
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _add_rows(form: QFormLayout, *rows) -> None:
    """``form.addRow(label, field)`` for each (label, field); a label may be text or a widget."""
    for label, field in rows:
        form.addRow(label, field)


def _shrinkable(widget):
    widget.setMinimumWidth(60)
    widget.setSizePolicy(QSizePolicy.Policy.Ignored, widget.sizePolicy().verticalPolicy())
    return widget


class _PanelScroll(QScrollArea):
    """Vertical-only scrolling; asks for a width where labels and fields sit side by side unclipped."""

    DEFAULT_WIDTH = 340

    def sizeHint(self):  # noqa: N802 - Qt API
        hint = super().sizeHint()
        hint.setWidth(self.DEFAULT_WIDTH)
        return hint


class SatgeoDock(QgsDockWidget):
    def __init__(self, controller: SatgeoController, parent=None):
        super().__init__("satgeo", parent)
        self.setObjectName("SatgeoDock")
        self.controller = controller
        s = controller.settings
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(4, 4, 4, 4)

        # server
        server_box = _group("Server")
        form = _form(server_box)
        self.url = _shrinkable(QLineEdit(s.server_url))
        self.url.setPlaceholderText("http://127.0.0.1:8000")
        self.token = _shrinkable(QLineEdit(s.token))
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("only if the server printed one")
        self.status = QLabel("not checked")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.check_button = QPushButton("Check")
        self.python = _shrinkable(QgsFileWidget())
        self.python.setFilePath(s.python)
        self.python.setToolTip("A Python that has satgeo installed; used by 'Start local server'")
        self.start_button = QPushButton("Start local server")
        self.start_button.setEnabled(False)
        _add_rows(form, ("URL", self.url), ("Token", self.token), ("Status", self.status), ("", self.check_button),
                  ("Python", self.python), ("", self.start_button))
        outer.addWidget(server_box)

        # generation
        gen_box = _group("Generation")
        form = _form(gen_box)
        self.model = _shrinkable(QComboBox())
        self.model.setEditable(True)
        self.model.setToolTip("Empty: the server's default model. A checkpoint path inside the server's --data-dir works too.")
        if s.model:
            self.model.addItem(s.model, s.model)
        self.prompt = _shrinkable(QLineEdit(s.prompt))
        self.prompt.setPlaceholderText("empty: caption from the area")
        self.use_date = QCheckBox("Date")
        self.use_date.setToolTip("Send an acquisition date (diffusion models use it)")
        self.date = _shrinkable(QDateEdit())
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.date.setDate(QDate.fromString(s.date, "yyyy-MM-dd") if s.date else QDate.currentDate())
        self.use_date.setChecked(bool(s.date))
        self.date.setEnabled(self.use_date.isChecked())
        self.use_date.toggled.connect(self.date.setEnabled)
        self.cloud = _shrinkable(QDoubleSpinBox())
        self.cloud.setRange(-0.01, 1.0)
        self.cloud.setSingleStep(0.05)
        self.cloud.setDecimals(2)
        self.cloud.setSpecialValueText("server default")
        self.cloud.setValue(s.cloud_cover if s.cloud_cover >= 0 else -0.01)
        self.seed = _shrinkable(QSpinBox())
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(s.seed)
        self.gsd = _shrinkable(QDoubleSpinBox())
        self.gsd.setDecimals(GSD_DECIMALS)
        self.gsd.setRange(0.0, GSD_MAX)
        self.gsd.setSingleStep(0.01)
        self.gsd.setSuffix(" m")
        self.gsd.setSpecialValueText("model's native")
        self.gsd.setToolTip(f"Ground metres per pixel, up to {GSD_MAX:g}; 0: the model's native GSD")
        self.gsd.setValue(s.gsd)
        self.steps = _shrinkable(QSpinBox())
        self.steps.setRange(0, 1000)
        self.steps.setSpecialValueText("model default")
        self.steps.setValue(s.steps)
        _add_rows(form, ("Model", self.model), ("Prompt", self.prompt), (self.use_date, self.date),
                  ("Cloud cover", self.cloud), ("Seed", self.seed), ("GSD", self.gsd), ("Steps", self.steps))
        outer.addWidget(gen_box)

        # layers
        layer_box = _group("Map layers (optional)")
        form = _form(layer_box)
        self.layer_boxes = {}
        for kind, label in (("building", "Footprints"), ("road", "Roads"), ("water", "Water"), ("vegetation", "Vegetation")):
            combo = _shrinkable(QgsMapLayerComboBox())
            combo.setFilters(vector_layer_filter())
            combo.setAllowEmptyLayer(True)
            combo.setLayer(None)
            combo.layerChanged.connect(lambda layer, k=kind: self.controller.set_layer(k, layer))
            self.layer_boxes[kind] = combo
            form.addRow(label, combo)
        outer.addWidget(layer_box)

        # area
        area_box = _group("Area")
        grid = QGridLayout(area_box)
        self.rect_button = QPushButton("Rectangle")
        self.poly_button = QPushButton("Polygon")
        self.extent_button = QPushButton("Canvas extent")
        self.selection_button = QPushButton("Selected feature")
        for i, b in enumerate((self.rect_button, self.poly_button, self.extent_button, self.selection_button)):
            _shrinkable(b)
            grid.addWidget(b, i // 2, i % 2)
        self.area_label = QLabel("no area yet")
        self.area_label.setWordWrap(True)
        self.area_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        grid.addWidget(self.area_label, 2, 0, 1, 2)
        outer.addWidget(area_box)

        # output and actions
        out_box = _group("Output")
        form = _form(out_box)
        self.output = _shrinkable(QgsFileWidget())
        self.output.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output.setFilePath(s.output_dir)
        self.run_button = _shrinkable(QPushButton("Synthesize"))
        self.live_button = _shrinkable(QPushButton("Add live layer"))
        self.live_status = QLabel("")
        self.live_status.setWordWrap(True)
        self.live_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        form.addRow("Folder", self.output)
        actions = QHBoxLayout()
        actions.addWidget(self.run_button)
        actions.addWidget(self.live_button)
        form.addRow(actions)
        form.addRow(self.live_status)
        outer.addWidget(out_box)
        outer.addStretch(1)

        scroll = _PanelScroll()
        scroll.setWidgetResizable(True)
        # the panel reflows to the dock's width and scrolls vertically only
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.scroll = scroll
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
        controller.liveStatus.connect(self.live_status.setText)

    def model_name(self) -> str:
        """The model to send: an entry's name (its text also shows family and availability) or what was typed."""
        text = self.model.currentText().strip()
        index = self.model.findText(text)
        if index >= 0 and self.model.itemData(index):
            return str(self.model.itemData(index))
        return text

    @guarded
    def apply(self) -> None:
        """Copy the widgets into the settings and persist them."""
        s = self.controller.settings
        s.server_url = self.url.text().strip()
        s.token = self.token.text().strip()
        s.python = self.python.filePath().strip() or "python3"
        s.model = self.model_name()
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
    def on_models(self, models: list) -> None:
        """Fill the model list: 'name (family)', unavailable models greyed out with how to get them."""
        current = self.model_name()
        self.model.clear()
        self.model.addItem("", "")  # the server's default
        for m in models:
            family = f"{m['family']}, " if m.get("family") else ""
            text = f"{m['name']} ({family}{'default' if m.get('default') else 'available'})" if m.get("available", True) \
                else f"{m['name']} ({family}not downloaded: satgeo models pull {m['name']})"
            self.model.addItem(text, m["name"])
            if not m.get("available", True):
                item = self.model.model().item(self.model.count() - 1)
                item.setEnabled(False)
        index = self.model.findData(current) if current else 0
        if index >= 0:
            self.model.setCurrentIndex(index)
        else:
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
