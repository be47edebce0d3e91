"""Enum look-ups that work on QGIS 3.22 (Qt5) through QGIS 3.4x (Qt6).

Newer QGIS moved many enums to ``Qgis.*``; older releases only have the class-scoped
names. Every look-up uses fully scoped names so that Qt6's strict enums accept them.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProcessing, QgsProcessingParameterNumber, QgsWkbTypes


def _first(*candidates):
    for owner, path in candidates:
        obj = owner
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj
    raise AttributeError(f"none of {[p for _, p in candidates]} exists in this QGIS")


def source_type(name: str):
    """``name`` is one of VectorAnyGeometry, VectorPolygon, VectorLine, VectorPoint."""
    return _first((Qgis, f"ProcessingSourceType.{name}"), (QgsProcessing, f"SourceType.Type{name}"))


def number_type(name: str):
    """``name`` is Integer or Double."""
    return _first((Qgis, f"ProcessingNumberParameterType.{name}"), (QgsProcessingParameterNumber, f"Type.{name}"))


def geometry_type(name: str):
    """``name`` is Point, Line or Polygon."""
    return _first((Qgis, f"GeometryType.{name}"), (QgsWkbTypes, f"GeometryType.{name}Geometry"))


def vector_layer_filter():
    return _first((Qgis, "LayerFilter.VectorLayer"), (QgsMapLayerProxyModel, "Filter.VectorLayer"))


def message_level(name: str):
    """``name`` is Info, Warning, Critical or Success."""
    return getattr(Qgis.MessageLevel, name)


def exec_loop(obj) -> int:
    """``obj.exec()`` on Qt6 and Qt5 (PyQt5 also spells it ``exec_``)."""
    runner = getattr(obj, "exec", None) or obj.exec_
    return runner()


def reverse_transform():
    from qgis.core import QgsCoordinateTransform

    return _first((Qgis, "TransformDirection.Reverse"), (QgsCoordinateTransform, "TransformDirection.ReverseTransform"))
