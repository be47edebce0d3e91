"""Vector layers -> a uint8 multi-class mask on a grid.

Classes: 0 background, 1 building, 2 road, 3 water, 4 vegetation.
(First cut: every polygon burns as a building. The GIS-core issue replaces this with
tag-aware classification, road buffering and the documented class priority.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

import geopandas as gpd
import numpy as np
from rasterio.features import rasterize

from satgeo.geo.grid import Grid

BACKGROUND, BUILDING, ROAD, WATER, VEGETATION = 0, 1, 2, 3, 4
CLASS_NAMES = ("background", "building", "road", "water", "vegetation")

Layer = Union[str, Path, gpd.GeoDataFrame]


def read_layer(layer: Layer) -> gpd.GeoDataFrame:
    if isinstance(layer, gpd.GeoDataFrame):
        return layer
    return gpd.read_file(layer, on_invalid="ignore")


def rasterize_layers(layers: Sequence[Layer], grid: Grid, all_touched: bool = False) -> np.ndarray:
    """The class mask of ``layers`` on ``grid`` (GDAL pixel-centre rule unless all_touched)."""
    mask = np.zeros(grid.shape, dtype=np.uint8)
    for layer in layers:
        gdf = read_layer(layer)
        if gdf.empty:
            continue
        gdf = gdf.to_crs(grid.crs)
        geoms = [g for g in gdf.geometry if g is not None and not g.is_empty]
        if geoms:
            rasterize(
                [(g, BUILDING) for g in geoms], out=mask, transform=grid.transform, all_touched=all_touched
            )
    return mask
