"""GIS core: one module for each concern, used by the CLI, the render engine, batch and the server.

``crs`` (CRS parsing), ``area`` (areas of interest), ``grid`` (pixel grids), ``layers`` (reading
vector layers, one CRS policy), ``classes`` (feature classes), ``masks`` (class masks), ``xyz``
(Web Mercator tile maths), ``metadata`` and ``caption`` (DiffusionSat conditioning), ``cog``
(COG writing) and ``stac`` (STAC Items).

This package never imports torch, and its modules import each other without cycles.
"""
