"""Per-tile masks vs one whole-extent rasterize (the lower bound), in one run.

Masks for every z18 Web Mercator tile touching the Boulder footprints (MTBF-33, 13,491
buildings, ../shared/data) against a single rasterize of the tiles' whole extent at the same
pixel size. Prints one JSON object; target: ratio <= 2 (wall clock, best of N, interleaved;
``ratio_cpu`` uses process CPU time, which is steadier on a busy machine).

    python3 bench/masks.py [--zoom 18] [--layer PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from affine import Affine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from satgeo.geo.grid import Grid  # noqa: E402
from satgeo.geo.masks import BUILDING, load_layers  # noqa: E402
from satgeo.geo.xyz import ORIGIN_SHIFT, WEB_MERCATOR, mercator_pixel_size, tile_grid  # noqa: E402

DEFAULT_LAYER = REPO.parent / "shared" / "data" / "opengeos_boulder_mtbf33" / "boulder_buildings.zip"


def touching_tiles(layers, zoom: int) -> list[tuple[int, int]]:
    """(x, y) of every ``zoom`` tile whose square intersects at least one footprint (EPSG:3857)."""
    w, s, e, n = layers.bounds
    size = 2 * ORIGIN_SHIFT / 2**zoom
    x0, x1 = int((w + ORIGIN_SHIFT) // size), int((e + ORIGIN_SHIFT) // size)
    y0, y1 = int((ORIGIN_SHIFT - n) // size), int((ORIGIN_SHIFT - s) // size)
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
    xs, ys = xs.ravel(), ys.ravel()
    boxes = shapely.box(-ORIGIN_SHIFT + xs * size, ORIGIN_SHIFT - (ys + 1) * size,
                        -ORIGIN_SHIFT + (xs + 1) * size, ORIGIN_SHIFT - ys * size)
    hit, _ = layers.tree.query(boxes, predicate="intersects")
    hit = np.unique(hit)
    return list(zip(xs[hit].tolist(), ys[hit].tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default=os.environ.get("SATGEO_BENCH_LAYER", str(DEFAULT_LAYER)))
    ap.add_argument("--zoom", type=int, default=18)
    ap.add_argument("--repeat", type=int, default=5, help="best of N for both sides")
    args = ap.parse_args()
    if not Path(args.layer).exists():
        print(json.dumps({"skipped": f"layer not found: {args.layer}"}))
        return

    t = time.perf_counter()
    layers = load_layers([args.layer], WEB_MERCATOR)
    load_s = time.perf_counter() - t
    tiles = touching_tiles(layers, args.zoom)
    grids = [tile_grid(x, y, args.zoom) for x, y in tiles]

    # the lower bound: one grid over all those tiles at the same pixel size
    px = mercator_pixel_size(args.zoom)
    xs = [x for x, _ in tiles]
    ys = [y for _, y in tiles]
    west = -ORIGIN_SHIFT + min(xs) * 256 * px
    north = ORIGIN_SHIFT - min(ys) * 256 * px
    whole = Grid(WEB_MERCATOR, Affine(px, 0, west, 0, -px, north),
                 (max(xs) - min(xs) + 1) * 256, (max(ys) - min(ys) + 1) * 256)

    tile_times, whole_times, tile_cpu, whole_cpu = [], [], [], []
    for _ in range(args.repeat):  # interleaved so machine load hits both sides alike
        t, c = time.perf_counter(), time.process_time()
        burned = 0
        for g in grids:
            burned += int((layers.rasterize(g) == BUILDING).sum())
        tile_times.append(time.perf_counter() - t)
        tile_cpu.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        big = layers.rasterize(whole)
        whole_burned = int((big == BUILDING).sum())
        whole_times.append(time.perf_counter() - t)
        whole_cpu.append(time.process_time() - c)
        del big

    tiles_s, whole_s = min(tile_times), min(whole_times)
    print(json.dumps({
        "layer": Path(args.layer).name,
        "features": len(layers),
        "zoom": args.zoom,
        "tiles": len(tiles),
        "tile_pixels": len(tiles) * 256 * 256,
        "whole_grid": [whole.width, whole.height],
        "whole_pixels": whole.width * whole.height,
        "load_s": round(load_s, 3),
        "tiles_s": round(tiles_s, 3),
        "tiles_per_s": round(len(tiles) / tiles_s, 1),
        "whole_s": round(whole_s, 3),
        "ratio": round(tiles_s / whole_s, 3),
        "tiles_cpu_s": round(min(tile_cpu), 3),
        "whole_cpu_s": round(min(whole_cpu), 3),
        "ratio_cpu": round(min(tile_cpu) / min(whole_cpu), 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "target_ratio": 2.0,
        "building_pixels_tiles": burned,
        "building_pixels_whole": whole_burned,
    }))


if __name__ == "__main__":
    main()
