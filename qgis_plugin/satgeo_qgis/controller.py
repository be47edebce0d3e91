"""What the dock panel drives: the area, the server, runs and results (GUI thread)."""

from __future__ import annotations

import datetime as _dt
import os

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsGeometry,
    QgsMessageLog,
    QgsProject,
    QgsRectangle,
    QgsTask,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QObject, pyqtSignal

from . import geometry as geo
from .client import AsyncGets, SatgeoClient, ServerError, model_entries
from .compat import message_level
from .layers import LayerError, add_live_layer, add_result_layer
from .local_server import LocalServer
from .maptools import PolygonMapTool, RectangleMapTool
from .settings import PluginSettings
from .task import LOG_TAG, SynthesisTask

MESSAGE_SECONDS = 10


class SatgeoController(QObject):
    areaChanged = pyqtSignal(str)  # a one-line description of the current area
    serverChecked = pyqtSignal(bool, str)  # (reachable, status text)
    modelsLoaded = pyqtSignal(list)  # dicts: name, family, available, default (the default first)
    resultAdded = pyqtSignal(object)  # the QgsRasterLayer
    runFinished = pyqtSignal(object)  # the SynthesisTask, whatever the outcome
    liveLayerAdded = pyqtSignal(object)
    liveStatus = pyqtSignal(str)  # what the live layers are doing (rendering cold metatiles, up to date)

    def __init__(self, canvas, message_bar, project: QgsProject | None = None, settings: PluginSettings | None = None):
        super().__init__()
        self.canvas = canvas
        self.bar = message_bar
        self.project = project or QgsProject.instance()
        self.settings = settings or PluginSettings.load()
        self.area: QgsGeometry | None = None
        self.area_crs: QgsCoordinateReferenceSystem | None = None
        self.layers: dict = {kind: None for kind in geo.LAYER_KINDS}
        self.tasks: list = []
        self.local_server: LocalServer | None = None
        self.requests = AsyncGets()
        self.live_watch = LiveWatch(self)
        self.rect_tool = RectangleMapTool(canvas)
        self.rect_tool.rectangleDrawn.connect(self.on_rectangle)
        self.poly_tool = PolygonMapTool(canvas)
        self.poly_tool.polygonDrawn.connect(self.on_polygon)

    # -- messages -------------------------------------------------------------------------------
    def notify(self, text: str, level: str = "Info") -> None:
        QgsMessageLog.logMessage(text, LOG_TAG, message_level(level))
        if self.bar is not None:
            try:
                self.bar.pushMessage("satgeo", text, message_level(level), MESSAGE_SECONDS)
            except RuntimeError:  # the message bar is gone (QGIS closing)
                self.bar = None

    def client(self) -> SatgeoClient:
        return SatgeoClient(**self.settings.server())

    # -- area -------------------------------------------------------------------------------------
    def draw_rectangle(self) -> None:
        self.canvas.setMapTool(self.rect_tool)

    def draw_polygon(self) -> None:
        self.canvas.setMapTool(self.poly_tool)

    def canvas_crs(self) -> QgsCoordinateReferenceSystem:
        return self.canvas.mapSettings().destinationCrs()

    def on_rectangle(self, rect: QgsRectangle) -> None:
        self.set_area(QgsGeometry.fromRect(rect), self.canvas_crs(), "rectangle")

    def on_polygon(self, geom: QgsGeometry) -> None:
        self.set_area(geom, self.canvas_crs(), "polygon")

    def use_canvas_extent(self) -> None:
        self.set_area(QgsGeometry.fromRect(self.canvas.extent()), self.canvas_crs(), "canvas extent")

    def use_selected_feature(self, layer: QgsVectorLayer | None) -> bool:
        try:
            geom, crs = geo.layer_area(layer, selected_only=True)
        except geo.AreaError as exc:
            self.notify(str(exc), "Warning")
            return False
        self.set_area(geom, crs, f"selection of {layer.name()}")
        return True

    def set_area(self, geom: QgsGeometry, crs: QgsCoordinateReferenceSystem, what: str) -> bool:
        try:
            wgs84 = geo.to_wgs84(geom, crs, self.project)
        except geo.AreaError as exc:
            self.notify(str(exc), "Warning")
            return False
        self.area, self.area_crs = QgsGeometry(geom), crs
        box = wgs84.boundingBox()
        self.areaChanged.emit(
            f"{what}: lon {box.xMinimum():.5f}..{box.xMaximum():.5f}, lat {box.yMinimum():.5f}..{box.yMaximum():.5f}"
        )
        return True

    def area_wgs84(self) -> QgsGeometry:
        if self.area is None:
            raise geo.AreaError("no area yet; draw a rectangle or polygon, or use the canvas extent or a selected feature")
        return geo.to_wgs84(self.area, self.area_crs, self.project)

    # -- server -----------------------------------------------------------------------------------
    def check_server(self) -> None:
        """Asynchronous /health then /v1/models; results arrive as serverChecked / modelsLoaded.

        A new check supersedes one still in flight (its replies are dropped, its callbacks never run)."""
        self.requests.abort_all()
        try:
            client = self.client()
        except ServerError as exc:
            self.serverChecked.emit(False, str(exc))
            return

        def on_health(data, error):
            if error:
                self.serverChecked.emit(False, error)
                return
            data = data if isinstance(data, dict) else {}
            self.serverChecked.emit(True, f"{data.get('status', 'ok')} (satgeo {data.get('version', '?')}, {data.get('jobs_active', 0)} active jobs)")
            self.requests.get(client, "/v1/models", on_models)

        def on_models(data, error):
            if error:
                self.notify(error, "Warning")
                return
            self.modelsLoaded.emit(model_entries(data))

        self.requests.get(client, "/health", on_health)

    def start_local_server(self) -> LocalServer:
        if self.local_server is not None and self.local_server.is_running():
            return self.local_server
        s = self.settings
        data_dir = s.local_data_dir or os.path.join(os.path.expanduser("~"), ".cache", "satgeo", "server")
        server = LocalServer(s.python, s.local_port, data_dir)
        server.started.connect(self._local_started)
        server.failed.connect(lambda msg: self.notify(msg, "Critical"))
        self.local_server = server
        self.notify(f"starting a local satgeo server: {s.python} {' '.join(server.arguments())}")
        server.start()
        return server

    def _local_started(self, url: str) -> None:
        self.settings.server_url = url
        self.settings.save()
        self.notify(f"local satgeo server listening on {url}", "Success")
        self.check_server()

    # -- run --------------------------------------------------------------------------------------
    def set_layer(self, kind: str, layer: QgsVectorLayer | None) -> None:
        self.layers[kind] = layer

    def _footprints(self, aoi: QgsGeometry) -> dict | None:
        chosen = [(layer, kind) for kind, layer in self.layers.items() if layer is not None]
        for layer, kind in chosen:
            if not layer.isValid():
                raise geo.AreaError(f"the {kind} layer '{layer.name()}' is not valid")
            if layer.featureCount() == 0:
                raise geo.AreaError(f"the {kind} layer '{layer.name()}' has no features; pick another or none")
        return geo.feature_collection(chosen, self.project, within=aoi)

    def job_body(self) -> dict:
        s = self.settings
        aoi = self.area_wgs84()
        if s.date:
            try:
                _dt.date.fromisoformat(s.date)
            except ValueError:
                raise geo.AreaError(f"date {s.date!r} is not YYYY-MM-DD") from None
        return geo.job_body(
            aoi, model=s.model, prompt=s.prompt, date=s.date,
            cloud_cover=s.cloud_cover if s.cloud_cover >= 0 else None,
            seed=s.seed, gsd=s.gsd or None, steps=s.steps or None, footprints=self._footprints(aoi),
        )

    def output_path(self) -> str:
        folder = self.settings.output_dir or os.path.join(os.path.expanduser("~"), "satgeo")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return os.path.join(folder, f"satgeo-{stamp}.tif")

    def run(self) -> SynthesisTask | None:
        """Submit the current area as a job in a QgsTask; None (and a message) when something is missing."""
        try:
            body = self.job_body()
            dest = self.output_path()
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            self.client()  # validates the URL
        except (geo.AreaError, ServerError, OSError) as exc:
            self.notify(str(exc), "Critical")
            return None
        task = SynthesisTask(self.settings.server(), body, dest, on_done=self.on_task_done)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def on_task_done(self, task: SynthesisTask) -> None:  # main thread (QgsTask.finished)
        if task in self.tasks:
            self.tasks.remove(task)
        try:
            if task.result_path:
                layer = add_result_layer(task.result_path, project=self.project)
                self.notify(f"synthetic image added: {task.result_path}", "Success")
                self.resultAdded.emit(layer)
            elif task.cancelled:
                self.notify("synthesis cancelled (the server job was cancelled too)", "Info")
            else:
                self.notify(task.error or "synthesis failed", "Critical")
        except LayerError as exc:
            self.notify(str(exc), "Critical")
        finally:
            self.runFinished.emit(task)

    # -- live layer -------------------------------------------------------------------------------
    def scene_body(self) -> dict:
        s = self.settings
        aoi = self.area_wgs84() if self.area is not None else None
        fc = self._footprints(aoi) if aoi is not None else geo.feature_collection(
            [(layer, kind) for kind, layer in self.layers.items() if layer is not None], self.project)
        if fc is None:
            raise geo.AreaError("a live layer needs a footprint, road or water layer; pick one in the panel")
        if not fc["features"]:
            raise geo.AreaError("the chosen layers have no features in the area; move the area or pick other layers")
        body = {"layers": [{"geojson": fc}], "seed": int(s.seed)}
        for key, value in (("model", s.model), ("prompt", s.prompt), ("date", s.date)):
            if value:
                body[key] = value
        if s.cloud_cover >= 0:
            body["cloud_cover"] = s.cloud_cover
        if s.steps:
            body["steps"] = s.steps
        return body

    def add_live_layer(self) -> QgsTask | None:
        """Register a scene (in a background task) and add its XYZ layer on the main thread."""
        try:
            body = self.scene_body()
            client = self.client()
        except (geo.AreaError, ServerError) as exc:
            self.notify(str(exc), "Critical")
            return None
        state: dict = {}

        def work(task):
            scene_id = client.create_scene(body)
            state["tilejson"] = client.tilejson(scene_id)
            state["id"] = scene_id
            return True

        def done(exception, result=None):
            if task in self.tasks:
                self.tasks.remove(task)
            if exception is not None:
                self.notify(str(exception) if isinstance(exception, ServerError) else f"live layer failed: {exception}", "Critical")
                return
            try:
                layer = add_live_layer(state["tilejson"], name=f"satgeo live {state['id'][:8]}", project=self.project)
            except LayerError as exc:
                self.notify(str(exc), "Critical")
                return
            self.notify(f"live layer added (zoom {state['tilejson'].get('minzoom')}–{state['tilejson'].get('maxzoom')}); "
                        "the server generates its tiles on first view, which can take a while", "Success")
            self.live_watch.watch(client)
            self.liveLayerAdded.emit(layer)

        task = QgsTask.fromFunction("satgeo: register live scene", work, on_finished=done)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def unload(self) -> None:
        self.requests.abort_all()
        self.live_watch.stop()
        self.bar = None
        for tool in (self.rect_tool, self.poly_tool):
            if self.canvas.mapTool() is tool:
                self.canvas.unsetMapTool(tool)
            tool.clear()
        for task in list(self.tasks):
            try:
                task.cancel()
            except RuntimeError:  # already deleted by the task manager
                pass
        if self.local_server is not None:
            self.local_server.stop()


class LiveWatch(QObject):
    """While the canvas draws a live layer, polls the server's /health for its generated-metatile count
    and reports it (``liveStatus``): cold metatiles can take tens of seconds and QGIS shows nothing meanwhile."""

    POLL_MS = 1000

    def __init__(self, controller: SatgeoController):
        super().__init__()
        from qgis.PyQt.QtCore import QTimer

        self.controller = controller
        self.client: SatgeoClient | None = None
        self.requests = AsyncGets()
        self.timer = QTimer(self)
        self.timer.setInterval(self.POLL_MS)
        self.timer.timeout.connect(self._poll)
        self._start_count: int | None = None
        self._started = 0.0
        self._connected = False

    def watch(self, client: SatgeoClient) -> None:
        self.client = client
        if not self._connected:
            canvas = self.controller.canvas
            canvas.renderStarting.connect(self._render_starting)
            canvas.mapCanvasRefreshed.connect(self._render_done)
            self._connected = True
        self._render_starting()

    def _render_starting(self) -> None:
        import time

        if self.client is None:
            return
        self._started = time.monotonic()
        self._start_count = None
        self.controller.liveStatus.emit("live layer: rendering… the server generates tiles it has not made yet")
        self._poll()
        self.timer.start()

    def _render_done(self) -> None:
        if self.client is None or not self.timer.isActive():
            return
        self.timer.stop()
        self.requests.abort_all()
        self.controller.liveStatus.emit("live layer: up to date")

    def _poll(self) -> None:
        import time

        if self.client is None or len(self.requests):
            return

        def on_health(data, error):
            if error or not isinstance(data, dict) or not self.timer.isActive():
                return
            count = int((data.get("stats") or {}).get("metatiles_generated", 0))
            if self._start_count is None:
                self._start_count = count
            made = count - self._start_count
            self.controller.liveStatus.emit(
                f"live layer: rendering… {made} new metatile(s) generated, {time.monotonic() - self._started:.0f} s"
            )

        self.requests.get(self.client, "/health", on_health)

    def stop(self) -> None:
        self.timer.stop()
        self.requests.abort_all()
        if self._connected:
            try:
                self.controller.canvas.renderStarting.disconnect(self._render_starting)
                self.controller.canvas.mapCanvasRefreshed.disconnect(self._render_done)
            except (RuntimeError, TypeError):
                pass
            self._connected = False
        self.client = None
