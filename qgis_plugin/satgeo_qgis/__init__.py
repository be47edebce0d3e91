"""satgeo QGIS plugin: a thin HTTP client of a satgeo server (never imports torch or satgeo)."""


def classFactory(iface):  # noqa: N802 - QGIS's plugin entry point name
    from .plugin import SatgeoPlugin

    return SatgeoPlugin(iface)
