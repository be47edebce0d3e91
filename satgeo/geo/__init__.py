"""GIS core: areas, work grids, DiffusionSat metadata and captions, masks, XYZ math, COG writing.

This package never imports torch.
"""
