"""Adding results to the project (main thread only): styled COGs and live XYZ layers."""

from __future__ import annotations

import os

from qgis.core import QgsDataSourceUri, QgsLayerTreeGroup, QgsProject, QgsRasterLayer

GROUP_NAME = "satgeo"
SYNTHETIC_STYLE = "synthetic.qml"
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))


class LayerError(ValueError):
    """A one-line reason why a result could not be added."""


def style_path(name: str) -> str | None:
    """A style shipped in the plugin zip (``styles/``), or the repository's ``styles/`` in a checkout."""
    for folder in (os.path.join(PLUGIN_DIR, "styles"), os.path.join(PLUGIN_DIR, "..", "..", "styles")):
        path = os.path.normpath(os.path.join(folder, name))
        if os.path.isfile(path):
            return path
    return None


def _holds_vector(node) -> bool:
    from qgis.core import QgsLayerTree, QgsVectorLayer

    if QgsLayerTree.isLayer(node):
        return isinstance(node.layer(), QgsVectorLayer)
    return any(isinstance(n.layer(), QgsVectorLayer) for n in node.findLayers())


def satgeo_group(project: QgsProject | None = None) -> QgsLayerTreeGroup:
    """The top-level 'satgeo' group, kept just below the last top-level node holding vector layers:
    imagery goes under the footprints, roads and areas it was made from."""
    root = (project or QgsProject.instance()).layerTreeRoot()
    group = root.findGroup(GROUP_NAME)
    children = root.children()
    below = max((i + 1 for i, node in enumerate(children) if node is not group and _holds_vector(node)), default=0)
    if group is None:
        return root.insertGroup(below, GROUP_NAME)
    here = children.index(group)
    if here < below - 1:  # a vector layer sits below the group: move the group under it
        moved = group.clone()
        root.insertChildNode(below, moved)
        root.removeChildNode(group)
        group = moved
    return group


def add_to_group(layer, project: QgsProject | None = None):
    project = project or QgsProject.instance()
    project.addMapLayer(layer, False)
    satgeo_group(project).insertLayer(0, layer)
    return layer


def add_result_layer(path: str, name: str | None = None, project: QgsProject | None = None) -> QgsRasterLayer:
    """Open the downloaded COG, style it from ``synthetic.qml`` and put it on top of the satgeo group."""
    layer = QgsRasterLayer(path, name or os.path.splitext(os.path.basename(path))[0], "gdal")
    if not layer.isValid():
        raise LayerError(f"QGIS cannot open the downloaded image {path}: {layer.error().summary() or 'invalid raster'}")
    style = style_path(SYNTHETIC_STYLE)
    if style is not None:
        message, ok = layer.loadNamedStyle(style)
        if not ok:
            raise LayerError(f"the style {style} could not be applied: {message}")
    layer.setCustomProperty("satgeo/synthetic", True)
    return add_to_group(layer, project)


def xyz_uri(tilejson: dict) -> str:
    """The ``wms`` provider URI of an XYZ layer described by a TileJSON document."""
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", str(tilejson["tiles"][0]))
    uri.setParam("zmin", str(int(tilejson.get("minzoom", 0))))
    uri.setParam("zmax", str(int(tilejson.get("maxzoom", 22))))
    return bytes(uri.encodedUri()).decode("utf-8")


def add_live_layer(tilejson: dict, name: str = "satgeo live", project: QgsProject | None = None) -> QgsRasterLayer:
    layer = QgsRasterLayer(xyz_uri(tilejson), name, "wms")
    if not layer.isValid():
        raise LayerError(f"QGIS rejected the live layer: {layer.error().summary() or 'invalid XYZ source'}")
    layer.setCustomProperty("satgeo/live", True)
    return add_to_group(layer, project)
