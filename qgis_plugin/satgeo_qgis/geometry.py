"""Areas and layers -> the GeoJSON the server wants (always EPSG:4326, whatever the project CRS)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

from .compat import geometry_type, reverse_transform

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
# Edges are densified before reprojection so that what is sent is what was drawn, in any CRS.
DENSIFY_PER_EDGE = 16
MAX_FEATURES = 200_000
#: Layer classes the server draws (satgeo's mask classes), in the panel's and Processing's order.
LAYER_KINDS = ("building", "road", "water", "vegetation")
# The server classifies features by OSM-style tags; a feature without one gets its layer's class
# this way, so a plain water or park polygon layer is not drawn as buildings.
_DEFAULT_TAGS = {
    ("building", "polygon"): ("building", "yes"),
    ("road", "line"): ("highway", "road"),
    ("water", "polygon"): ("natural", "water"),
    ("water", "line"): ("waterway", "stream"),
    ("vegetation", "polygon"): ("landuse", "grass"),
}
_CLASS_KEYS = {"building": ("building",), "road": ("highway",), "water": ("natural", "water", "waterway", "landuse"),
               "vegetation": ("landuse", "natural", "leisure")}


class AreaError(ValueError):
    """A one-line, user-facing reason why an area or layer cannot be used."""


def _check_crs(crs: QgsCoordinateReferenceSystem, what: str) -> None:
    if crs is None or not crs.isValid():
        raise AreaError(f"{what} has no valid CRS; set one (Project > Properties > CRS or the layer's Properties)")


def to_wgs84(geom: QgsGeometry, crs: QgsCoordinateReferenceSystem, project: QgsProject | None = None) -> QgsGeometry:
    """A copy of ``geom`` (in ``crs``) in EPSG:4326, with edges densified first."""
    if geom is None or geom.isNull() or geom.isEmpty():
        raise AreaError("the area is empty; draw a rectangle or polygon, or pick a feature")
    _check_crs(crs, "the area")
    out = QgsGeometry(geom)
    if out.type() == geometry_type("Polygon"):
        out = out.densifyByCount(DENSIFY_PER_EDGE)
    if crs != WGS84:
        xform = QgsCoordinateTransform(crs, WGS84, project or QgsProject.instance())
        try:
            out.transform(xform)
        except QgsCsException as exc:
            raise AreaError(f"the area cannot be transformed from {crs.authid() or crs.description()} to EPSG:4326: {exc}") from exc
    box = out.boundingBox()
    if not (-180.0 <= box.xMinimum() <= box.xMaximum() <= 180.0 and -90.0 <= box.yMinimum() <= box.yMaximum() <= 90.0):
        raise AreaError(f"the area falls outside the world in EPSG:4326 ({box.toString(6)}); check the project CRS")
    if box.width() <= 0 or box.height() <= 0:
        raise AreaError("the area has no extent; draw a larger rectangle or polygon")
    return out


def rectangle_geometry(rect: QgsRectangle) -> QgsGeometry:
    if rect is None or rect.isEmpty() or rect.width() <= 0 or rect.height() <= 0:
        raise AreaError("the rectangle is empty; drag a rectangle with some width and height")
    return QgsGeometry.fromRect(rect)


def geojson_geometry(geom: QgsGeometry) -> dict:
    return json.loads(geom.asJson(9))


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isNull") and value.isNull():  # QVariant NULL
        return None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    for conv in ("toPyDateTime", "toPyDate"):
        if hasattr(value, conv):
            return getattr(value, conv)().isoformat()
    return str(value)


def layer_features(
    layer: QgsVectorLayer,
    kind: str,
    project: QgsProject | None = None,
    within: QgsGeometry | None = None,
) -> list:
    """GeoJSON features (EPSG:4326) of ``layer``, tagged ``satgeo_class=kind``.

    ``within`` (EPSG:4326) keeps only the features that touch the area.
    """
    if layer is None or not layer.isValid():
        raise AreaError(f"the {kind} layer is not valid (missing file or provider?)")
    _check_crs(layer.crs(), f"layer '{layer.name()}'")
    xform = QgsCoordinateTransform(layer.crs(), WGS84, project or QgsProject.instance())
    request = QgsFeatureRequest()
    if within is not None:
        try:
            request.setFilterRect(xform.transformBoundingBox(within.boundingBox(), reverse_transform()))
        except QgsCsException:
            pass
    features = []
    names = layer.fields().names()
    for feature in layer.getFeatures(request):
        geom = feature.geometry()
        if geom is None or geom.isNull() or geom.isEmpty():
            continue
        geom = QgsGeometry(geom)
        try:
            geom.transform(xform)
        except QgsCsException:
            continue
        if within is not None and not geom.intersects(within):
            continue
        props = {name: _jsonable(feature[name]) for name in names}
        props["satgeo_class"] = kind
        _tag_class(props, kind, geom)
        features.append({"type": "Feature", "geometry": geojson_geometry(geom), "properties": props})
        if len(features) > MAX_FEATURES:
            raise AreaError(f"layer '{layer.name()}' has more than {MAX_FEATURES} features in the area; use a smaller area")
    return features


def _tag_class(props: dict, kind: str, geom: QgsGeometry) -> None:
    """Give an untagged feature the tag that makes the server draw it as ``kind``."""
    shape = "polygon" if geom.type() == geometry_type("Polygon") else "line" if geom.type() == geometry_type("Line") else ""
    default = _DEFAULT_TAGS.get((kind, shape))
    if default is None or any(props.get(k) not in (None, "", "no") for k in _CLASS_KEYS[kind]):
        return
    props[default[0]] = default[1]


def feature_collection(layers: Iterable[tuple], project=None, within=None) -> dict | None:
    """One FeatureCollection from (layer, kind) pairs; None when no layer was given."""
    layers = [(layer, kind) for layer, kind in layers if layer is not None]
    if not layers:
        return None
    feats = []
    for layer, kind in layers:
        feats.extend(layer_features(layer, kind, project, within))
    return {"type": "FeatureCollection", "features": feats}


def layer_area(layer: QgsVectorLayer, selected_only: bool = False) -> tuple:
    """(geometry, crs) of a layer's extent (or of its selected features' union of bounds)."""
    if layer is None or not layer.isValid():
        raise AreaError("pick a valid vector layer")
    if selected_only:
        if layer.selectedFeatureCount() == 0:
            raise AreaError(f"layer '{layer.name()}' has no selected feature; select one with the Select tool")
        geoms = [f.geometry() for f in layer.getSelectedFeatures() if f.hasGeometry()]
        if not geoms:
            raise AreaError(f"the selected features of '{layer.name()}' have no geometry")
        geom = QgsGeometry.unaryUnion(geoms)
        if geom.type() != geometry_type("Polygon"):
            geom = QgsGeometry.fromRect(geom.boundingBox())
        return geom, layer.crs()
    if layer.featureCount() == 0:
        raise AreaError(f"layer '{layer.name()}' has no features; add some or pick another layer")
    layer.updateExtents()
    extent = layer.extent()
    if extent.isEmpty() or extent.width() <= 0 or extent.height() <= 0:
        raise AreaError(f"layer '{layer.name()}' has an empty extent (a single point?); draw an area instead")
    return QgsGeometry.fromRect(extent), layer.crs()


def job_body(
    aoi_wgs84: QgsGeometry,
    *,
    model: str = "",
    prompt: str = "",
    date: str = "",
    cloud_cover: float | None = None,
    seed: int | None = None,
    gsd: float | None = None,
    steps: int | None = None,
    footprints: dict | None = None,
) -> dict:
    """The POST /v1/jobs (and /v1/scenes) body; unset options are left out so the server's defaults apply."""
    body: dict = {"aoi": geojson_geometry(aoi_wgs84)}
    if model:
        body["model"] = model
    if prompt:
        body["prompt"] = prompt
    if date:
        body["date"] = date
    if cloud_cover is not None:
        body["cloud_cover"] = float(cloud_cover)
    if seed is not None:
        body["seed"] = int(seed)
    if gsd:
        body["gsd"] = float(gsd)
    if steps:
        body["steps"] = int(steps)
    if footprints is not None:
        body["footprints"] = footprints
    return body
