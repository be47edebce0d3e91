"""Processing algorithms: the same server job as the panel, with parameters instead of widgets."""

from __future__ import annotations

import datetime as _dt
import os

from qgis.core import (
    QgsGeometry,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsSettings,
)

from .. import geometry as geo
from ..client import DEFAULT_URL, SatgeoClient, ServerError
from ..compat import number_type, source_type
from ..jobs import JobCancelled, run_job

HELP = (
    "Sends the area to a satgeo server (see `satgeo serve`), waits for the job and saves the synthetic, "
    "georeferenced COG it returns. The area is sent in EPSG:4326 whatever its CRS; the image comes back "
    "in the area's local UTM zone at the requested ground GSD. SERVER defaults to the panel's URL "
    "(or $SATGEO_SERVER_URL)."
)


def default_server() -> str:
    return os.environ.get("SATGEO_SERVER_URL") or QgsSettings().value("satgeo/server_url", DEFAULT_URL) or DEFAULT_URL


class _Synthesize(QgsProcessingAlgorithm):
    SERVER, TOKEN, MODEL, PROMPT, DATE, CLOUD, SEED, GSD, STEPS, OUTPUT = (
        "SERVER", "TOKEN", "MODEL", "PROMPT", "DATE", "CLOUD_COVER", "SEED", "GSD", "STEPS", "OUTPUT",
    )

    def group(self) -> str:
        return "Synthetic imagery"

    def groupId(self) -> str:  # noqa: N802
        return "synthetic"

    def shortHelpString(self) -> str:  # noqa: N802
        return HELP

    def createInstance(self):  # noqa: N802
        return type(self)()

    def add_common(self) -> None:
        self.addParameter(QgsProcessingParameterString(self.SERVER, "satgeo server URL", default_server()))
        self.addParameter(QgsProcessingParameterString(self.TOKEN, "Bearer token (non-loopback servers)", "", optional=True))
        self.addParameter(QgsProcessingParameterString(self.MODEL, "Model (empty: the server's default)", "", optional=True))
        self.addParameter(QgsProcessingParameterString(self.PROMPT, "Prompt (empty: caption from the area)", "", optional=True))
        self.addParameter(QgsProcessingParameterString(self.DATE, "Date (YYYY-MM-DD)", "", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.CLOUD, "Cloud cover (0..1)", number_type("Double"), None, True, 0.0, 1.0))
        self.addParameter(QgsProcessingParameterNumber(self.SEED, "Seed", number_type("Integer"), 0, False, 0, 2**31 - 1))
        self.addParameter(QgsProcessingParameterNumber(
            self.GSD, "Ground sample distance (m/px; empty: the model's native)", number_type("Double"), None, True, 0.001, 100.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEPS, "Sampling steps (diffusion models)", number_type("Integer"), None, True, 1, 1000))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Synthetic image"))

    def _options(self, parameters, context) -> dict:
        date = self.parameterAsString(parameters, self.DATE, context).strip()
        if date:
            try:
                _dt.date.fromisoformat(date)
            except ValueError:
                raise QgsProcessingException(f"DATE {date!r} is not YYYY-MM-DD") from None
        opts = {
            "model": self.parameterAsString(parameters, self.MODEL, context).strip(),
            "prompt": self.parameterAsString(parameters, self.PROMPT, context).strip(),
            "date": date,
            "seed": self.parameterAsInt(parameters, self.SEED, context),
        }
        for key, name, conv in (("cloud_cover", self.CLOUD, self.parameterAsDouble), ("gsd", self.GSD, self.parameterAsDouble),
                                ("steps", self.STEPS, self.parameterAsInt)):
            if parameters.get(name) not in (None, ""):
                opts[key] = conv(parameters, name, context)
        return opts

    def area(self, parameters, context):
        """(geometry, crs, footprints FeatureCollection or None)."""
        raise NotImplementedError

    #: optional layers of every class the server draws: (parameter, class, label)
    CLASS_LAYERS = (
        ("ROADS", "road", "Roads (optional; lines)"),
        ("WATER", "water", "Water (optional; polygons or waterway lines)"),
        ("VEGETATION", "vegetation", "Vegetation (optional; parks, forest, grass polygons)"),
    )

    def add_class_layers(self) -> None:
        for name, _kind, label in self.CLASS_LAYERS:
            self.addParameter(QgsProcessingParameterFeatureSource(
                name, label, [source_type("VectorAnyGeometry")], optional=True))

    def class_layers(self, parameters, context) -> list:
        """(memory layer, class) of the optional road/water/vegetation layers that were given."""
        out = []
        for name, kind, _label in self.CLASS_LAYERS:
            layer = _source_layer(self, parameters, name, context)
            if layer is not None:
                out.append((layer, kind))
        return out

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        try:
            geom, crs, footprints = self.area(parameters, context)
            aoi = geo.to_wgs84(geom, crs, context.project())
            body = geo.job_body(aoi, footprints=footprints, **self._options(parameters, context))
        except geo.AreaError as exc:
            raise QgsProcessingException(str(exc)) from None
        dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not dest.lower().endswith((".tif", ".tiff")):
            raise QgsProcessingException(f"OUTPUT must be a GeoTIFF (.tif); got {dest}")
        try:
            client = SatgeoClient(
                self.parameterAsString(parameters, self.SERVER, context),
                token=self.parameterAsString(parameters, self.TOKEN, context),
                feedback=feedback,
            )
            run_job(client, body, dest, progress=feedback.setProgress, is_cancelled=feedback.isCanceled,
                    log=feedback.pushInfo)
        except JobCancelled:
            raise QgsProcessingException("cancelled; the server job was cancelled too") from None
        except ServerError as exc:
            raise QgsProcessingException(str(exc)) from None
        return {self.OUTPUT: dest}


class SynthesizeExtent(_Synthesize):
    EXTENT, FOOTPRINTS = "EXTENT", "FOOTPRINTS"

    def name(self) -> str:
        return "synthesizeextent"

    def displayName(self) -> str:  # noqa: N802
        return "Synthesize imagery for extent"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Extent"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.FOOTPRINTS, "Footprints (optional; buildings to draw)", [source_type("VectorAnyGeometry")], optional=True))
        self.add_class_layers()
        self.add_common()

    def area(self, parameters, context):
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        if not crs.isValid():
            crs = context.project().crs()
        rect = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
        if rect.isEmpty() or rect.width() <= 0 or rect.height() <= 0:
            raise geo.AreaError("EXTENT is empty; give xmin,xmax,ymin,ymax [CRS] with some width and height")
        layers = [(_source_layer(self, parameters, self.FOOTPRINTS, context), "building")]
        layers += self.class_layers(parameters, context)
        footprints = None
        if any(layer is not None for layer, _ in layers):
            aoi = geo.to_wgs84(QgsGeometry.fromRect(rect), crs, context.project())
            footprints = geo.feature_collection(layers, context.project(), within=aoi)
        return QgsGeometry.fromRect(rect), crs, footprints


class SynthesizeVectorLayer(_Synthesize):
    INPUT = "INPUT"

    def name(self) -> str:
        return "synthesizevectorlayer"

    def displayName(self) -> str:  # noqa: N802
        return "Vector layer to synthetic imagery"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Synthesizes imagery over the extent of a footprint layer, drawing its features and those of the "
                "optional road, water and vegetation layers inside it. " + HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, "Footprint layer", [source_type("VectorAnyGeometry")]))
        self.add_class_layers()
        self.add_common()

    def area(self, parameters, context):
        layer = _source_layer(self, parameters, self.INPUT, context)
        if layer is None:
            raise geo.AreaError("INPUT is not a readable vector layer")
        geom, crs = geo.layer_area(layer)
        aoi = geo.to_wgs84(geom, crs, context.project())
        layers = [(layer, "building")] + self.class_layers(parameters, context)
        return geom, crs, geo.feature_collection(layers, context.project(), within=aoi)


def _source_layer(alg, parameters, name, context):
    """The feature source as a memory layer (so the geometry helpers can read it), or None when not given."""
    if parameters.get(name) in (None, ""):
        return None
    source = alg.parameterAsSource(parameters, name, context)
    if source is None:
        raise geo.AreaError(f"{name} cannot be read as a vector layer")
    from qgis.core import QgsFeatureSink, QgsVectorLayer, QgsWkbTypes

    uri = f"{QgsWkbTypes.displayString(source.wkbType())}?crs={source.sourceCrs().authid() or 'EPSG:4326'}"
    layer = QgsVectorLayer(uri, name.lower(), "memory")
    if not source.sourceCrs().authid():
        layer.setCrs(source.sourceCrs())
    layer.dataProvider().addAttributes(source.fields().toList())
    layer.updateFields()
    layer.dataProvider().addFeatures(list(source.getFeatures()), QgsFeatureSink.Flag.FastInsert)
    layer.updateExtents()
    return layer
