"""Map layers -> the conditioning image each ControlNet checkpoint expects.

The input is the core's class mask (satgeo.geo.masks: 0 background, 1 building, 2 road,
3 water, 4 vegetation). Each *style* is a palette documented here and in docs/diffusion.md:

``geosynth-osm``  GeoSynth-OSM was trained on OpenStreetMap Carto raster tiles, so classes
                  are drawn in Carto's fill colours: land #f2efe9, building #d9d0c9, road
                  #ffffff (minor-road white), water #aad3df, vegetation #add19e (wood).
``satgeo-mask``   satgeo's own ControlNets (``satgeo train controlnet``): saturated, well
                  separated colours: background black, building red, road white, water
                  blue, vegetation green.
``diffusionsat-mask``  the same palette, for DiffusionSat-variant ControlNets trained by satgeo.

Unknown class values (> 4) are drawn as background. A ``satgeo.json`` may give its own palette
instead of a style name: ``"conditioning": {"background": "#f2efe9", "building": "#d9d0c9", ...}``
(GeoSynth's Mapbox style file is not public, so the ``geosynth-osm`` colours are an approximation;
see docs/diffusion.md).
"""

from __future__ import annotations

import numpy as np

from satgeo.errors import InputError

PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "geosynth-osm": ((242, 239, 233), (217, 208, 201), (255, 255, 255), (170, 211, 223), (173, 209, 158)),
    "satgeo-mask": ((0, 0, 0), (255, 0, 0), (255, 255, 255), (0, 0, 255), (0, 255, 0)),
}
PALETTES["diffusionsat-mask"] = PALETTES["satgeo-mask"]


CLASS_NAMES = ("background", "building", "road", "water", "vegetation")


def _palette_from(colours: dict) -> tuple[tuple[int, int, int], ...]:
    out = []
    for i, name in enumerate(CLASS_NAMES):
        c = str(colours.get(name, "#" + "".join(f"{v:02x}" for v in PALETTES["geosynth-osm"][i]))).lstrip("#")
        if len(c) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in c):
            raise InputError(f"conditioning colour for {name} must be #rrggbb, got {colours.get(name)!r}")
        out.append((int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)))
    return tuple(out)


def render_conditioning(mask: np.ndarray, style: str | dict = "satgeo-mask") -> np.ndarray:
    """(H, W) uint8 class mask -> (H, W, 3) uint8 RGB conditioning image in ``style`` (a name or a palette)."""
    palette = _palette_from(style) if isinstance(style, dict) else PALETTES.get(style)
    if palette is None:
        raise InputError(f"unknown conditioning style {style!r}; use one of {', '.join(sorted(PALETTES))}")
    if mask.ndim != 2:
        raise InputError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:] = palette[0]
    lut[: len(palette)] = palette
    return lut[mask.astype(np.uint8)]
