"""What one huge landuse polygon adds to a render, against the same render without it, in one run.

A 3 km wavy meadow polygon (20,000 vertices) around a small area, rendered with the tiny
local model so the model's share of the time stays small: before layer sets were cut to the
area once per render, GDAL walked every vertex for every band and window. Prints one JSON
object: seconds with and without the polygon (best of N, interleaved) and their ratio.

    python3 bench/landuse.py [--repeat 3] [--size 1600]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import box

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "render"))

from satgeo.geo.area import Area  # noqa: E402
from satgeo.render.engine import render_to_cog  # noqa: E402
from satgeo.render.request import RenderRequest  # noqa: E402

CENTRE = (500000.0, 5200000.0)  # UTM 32N


def layers(with_meadow: bool) -> gpd.GeoDataFrame:
    x, y = CENTRE
    houses = [box(x + 30 * k, y, x + 30 * k + 12, y + 12) for k in range(-10, 10)]
    geoms, tags = list(houses), [{"building": "yes"}] * len(houses)
    if with_meadow:
        t = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
        r = 1500 + 40 * np.sin(37 * t)
        geoms.append(shapely.Polygon(np.c_[x + r * np.cos(t), y + r * np.sin(t)]))
        tags.append({"landuse": "meadow"})
    df = gpd.GeoDataFrame(tags, geometry=geoms, crs="EPSG:32632")
    return df.reindex(columns=["building", "landuse", "geometry"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=1600, help="output pixels per side at the model's GSD")
    args = ap.parse_args()
    from test_render_local import tiny_local

    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_local().save(Path(tmp) / "tiny-local", half=False)
        half = args.size * 0.5 / 2  # tiny model: 0.5 m native
        area = Area.from_bbox((CENTRE[0] - half, CENTRE[1] - half, CENTRE[0] + half, CENTRE[1] + half),
                              crs="EPSG:32632")
        paths = {}
        for name, meadow in (("plain", False), ("meadow", True)):
            paths[name] = Path(tmp) / f"{name}.gpkg"
            layers(meadow).to_file(paths[name])
        best = {"plain": float("inf"), "meadow": float("inf")}
        for _ in range(args.repeat):
            for name in best:
                req = RenderRequest(area=area, layers=[str(paths[name])], model=str(model), seed=0)
                t0 = time.perf_counter()
                render_to_cog(req, Path(tmp) / f"{name}.tif")
                best[name] = min(best[name], time.perf_counter() - t0)
    print(json.dumps({"seconds_plain": round(best["plain"], 2), "seconds_meadow": round(best["meadow"], 2),
                      "ratio": round(best["meadow"] / best["plain"], 3), "size_px": args.size}))


if __name__ == "__main__":
    main()
