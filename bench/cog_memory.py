"""Peak memory of CogWriter on a large RGB mosaic, written tile by tile (one run, JSON out).

    python3 bench/cog_memory.py [--size 20000]

Prints peak RSS of a child process that only imports satgeo (baseline) and of one that writes a
SIZE x SIZE x 3 uint8 COG in 512 px tiles; ``ratio`` = extra peak RSS / image bytes. The image
never has to fit in memory: the target is ratio << 1 (it would be >= 1 if it were held).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys, numpy as np
sys.path.insert(0, {repo!r})
from satgeo.geo.grid import Grid
from satgeo.geo.cog import CogWriter
n = int(sys.argv[1]); out = sys.argv[2]
if n:
    g = Grid.from_bounds("EPSG:32633", (500000, 5000000, 500000 + n, 5000000 + n), 1.0)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (3, 512, 512), dtype=np.uint8)
    with CogWriter(out, g, 3, "uint8") as w:
        for r in range(0, n, 512):
            for c in range(0, n, 512):
                tile = noise // 4 + np.uint8((r // 512 * 7 + c // 512 * 13) % 190)
                w.write(tile, r, c)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def peak(n: int, out: Path) -> tuple[int, float]:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO)), str(n), str(out)],
                         capture_output=True, text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1]), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "big.tif"
        base, _ = peak(0, out)
        big, secs = peak(args.size, out)
        size = out.stat().st_size
    image = 3 * args.size**2
    print(json.dumps({
        "size_px": args.size, "image_bytes": image, "cog_bytes": size,
        "baseline_peak_rss": base, "writer_peak_rss": big, "extra_rss": big - base,
        "ratio": round((big - base) / image, 4), "seconds": round(secs, 1),
        "pixels_per_s": round(args.size**2 / secs),
    }))


if __name__ == "__main__":
    main()
