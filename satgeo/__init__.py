"""satgeo: synthetic, georeferenced satellite imagery from map areas and vector layers."""

__version__ = "0.1.0"
