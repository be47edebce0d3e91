"""pix2pix render path vs plain eager fp32 per-tile inference, and peak RSS of a big render.

    python3 bench/pix2pix.py [--model NAME|PATH] [--tiles 16] [--rss-size 8192] [--rss-model tiny|default]

Prints one JSON object:
* ``eager_fp32_tiles_per_s``: the same weights, fp32, contiguous memory, one tile per forward,
  ``torch.no_grad`` (what a straightforward script does);
* ``render_path_tiles_per_s``: ``Pix2PixGenerator.generate_batch`` as the engine calls it
  (bf16 on AMX/CUDA, channels_last, fixed batches, inference_mode, the noise field; windows read
  with the model's context);
* ``speedup``: their ratio (target >= 2 where a faster native precision exists: AMX bf16, CUDA);
* ``render_path_gflops``: FLOPs of the network per tile (``torch.utils.flop_counter``) x tiles/s;
* ``matmul_gflops``: a 2048^3 matmul at the render path's dtype on the same device and threads,
  timed in the same run right before and after the render path (best of each);
* ``fraction_of_matmul``: their ratio, how close the render path gets to the machine's GEMM bound
  (target >= 0.8 on fp32-only CPUs);
* ``cpu``: ATen's kernel level (``ATEN_CPU_CAPABILITY`` can lower it) and oneDNN's ISA cap, if any;
* ``rss``: peak resident memory of ``render_to_cog`` of an ``rss-size`` x ``rss-size`` px COG, run in
  a fresh subprocess (``resource.getrusage``), with the model named by ``--rss-model``
  (``tiny``: a 256 px / 64 px-overlap generator of ngf 4, the same pipeline at a fraction of the
  compute, for slow shared CPUs; ``default``: the shipped model).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RSS_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from satgeo.geo.area import Area
from satgeo.render.engine import render_to_cog
from satgeo.render.request import RenderRequest
model, size, out, layer = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
from satgeo.render.engine import get_generator
gen = get_generator(model)
g = gen.card.native_gsd
# a square of size px at the native GSD around the Banepa demo block (UTM 45N)
x0, y0 = 354000.0, 3057400.0
area = Area.from_bbox((x0, y0 - size * g, x0 + size * g, y0), "EPSG:32645")
t = time.time()
res = render_to_cog(RenderRequest(area=area, layers=[layer], model=model, seed=0), out)
print(json.dumps({"width": res.grid.width, "height": res.grid.height, "seconds": round(time.time() - t, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def tiles_per_s(fn, n_tiles: int, repeat: int = 2) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n_tiles / best


def matmul_gflops(dtype, device, n: int = 2048, repeat: int = 3) -> float:
    """Best-of GFLOP/s of an n x n x n matmul: the GEMM bound the render path is measured against."""
    import torch

    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def flops_per_tile(gen, masks, seeds, origins) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = gen.model_input(masks[:1], origins[:1]).to(gen.device, gen.dtype).contiguous(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        gen.run_net(x, seeds[:1])
    return float(counter.get_total_flops())


def seams(gen, lat, layers, n: int) -> dict:
    """Seam ratio (docs/architecture.md) of the engine's feathered render vs naive independent tiles."""
    import numpy as np

    from satgeo.eval.seams import lattice_borders, seam_ratio
    from satgeo.geo.area import Area
    from satgeo.render.engine import render_grid
    from satgeo.render.noise import window_seed
    from satgeo.render.request import RenderRequest

    s, t = lat.stride, lat.tile
    r0, c0 = lat.rect_for_bounds((354180.0, 3057150.0, 354181.0, 3057151.0))[:2]
    r0, c0 = (r0 // s) * s, (c0 // s) * s
    req = RenderRequest(area=Area.from_bbox((85.5220, 27.6300, 85.5226, 27.6306)),
                        layers=[str(REPO / "data" / "banepa" / "footprints.geojson")], model=None, seed=0)
    req.model = str(gen.weights_path.parent) if gen.weights_path else None
    grid = lat.grid(r0, c0, n * s + lat.overlap, n * s + lat.overlap)  # n x n whole windows and more
    img = render_grid(req, grid).transpose(1, 2, 0)
    feathered = seam_ratio(img, lattice_borders(r0, grid.height, s, extra=t), lattice_borders(c0, grid.width, s, extra=t))
    naive = np.zeros((n * t, n * t, 3), np.uint8)
    c = gen.card.context  # naive tiles see no ground outside themselves: their mask is edge-padded
    for i in range(n):
        for j in range(n):
            m = np.pad(layers.rasterize(lat.grid(r0 + i * t, c0 + j * t, t, t)), c, mode="edge")
            naive[i * t:(i + 1) * t, j * t:(j + 1) * t] = gen.generate_batch(
                m[None], [window_seed(0, lat, r0 + i * t, c0 + j * t)], origins=[(r0 + i * t - c, c0 + j * t - c)])[0]
    return {"windows": f"{n}x{n}", "feathered": round(feathered, 4),
            "naive": round(seam_ratio(naive, range(t, n * t, t), range(t, n * t, t)), 4), "target": 1.10}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--rss-size", type=int, default=8192)
    ap.add_argument("--rss-model", choices=["tiny", "default"], default="tiny")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--seams", type=int, default=4, help="seam ratios over N x N windows (0: skip)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from satgeo.geo.masks import cached_layers
    from satgeo.models.pix2pix import Pix2PixGenerator
    from satgeo.render.engine import _fixed_batch, batch_size, get_generator
    from satgeo.render.plan import Lattice

    gen = get_generator(args.model)
    if not isinstance(gen, Pix2PixGenerator):
        raise SystemExit("bench/pix2pix.py needs a pix2pix model")
    card = gen.card
    t = card.tile_size
    # real masks: windows over the Banepa demo footprints
    layer = str(REPO / "data" / "banepa" / "footprints.geojson")
    lat = Lattice(__import__("rasterio").crs.CRS.from_epsg(32645), card.native_gsd, t, card.overlap)
    layers = cached_layers([layer], lat.crs)
    r0, c0 = lat.rect_for_bounds((354160.0, 3057100.0, 354161.0, 3057101.0))[:2]
    side = int(np.ceil(np.sqrt(args.tiles)))
    c = card.context  # windows are read with this much mask around them, as the engine reads them
    origins = [(r0 + (k // side) * t - c, c0 + (k % side) * t - c) for k in range(args.tiles)]
    masks = np.stack([layers.rasterize(lat.grid(r, q, t + 2 * c, t + 2 * c)) for r, q in origins])
    seeds = list(range(args.tiles))
    size = batch_size(card)

    eager = Pix2PixGenerator(gen.config.build(), gen.config, device="cpu", dtype=torch.float32)
    eager.net.load_state_dict({k: v.float() for k, v in gen.net.state_dict().items()})
    eager.net = eager.net.to(memory_format=torch.contiguous_format)
    eager_net = eager.net

    def run_eager() -> None:
        with torch.no_grad():
            for k in range(len(masks)):
                eager.run_net(eager.model_input(masks[k:k + 1], origins[k:k + 1]), seeds[k:k + 1], eager_net)

    def run_path() -> None:
        for k in range(0, len(masks), size):
            _fixed_batch(gen, size, masks[k:k + size], seeds[k:k + size], origins[k:k + size], gsd=lat.gsd)

    if args.seams:
        out_seams = seams(gen, lat, layers, args.seams)
    threads = torch.get_num_threads()
    eager_tps = tiles_per_s(run_eager, len(masks))
    mm_before = matmul_gflops(gen.dtype, gen.device)
    path_tps = tiles_per_s(run_path, len(masks))
    mm_after = matmul_gflops(gen.dtype, gen.device)
    mm = max(mm_before, mm_after)
    gflops = flops_per_tile(gen, masks, seeds, origins) * path_tps / 1e9
    out = {
        "model": card.name, "tile": t, "tiles": len(masks), "threads": threads,
        "render_dtype": str(gen.dtype).replace("torch.", ""), "device": str(gen.device),
        "cpu": {"aten": torch.backends.cpu.get_cpu_capability(),
                "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "")},
        "eager_fp32_tiles_per_s": round(eager_tps, 3), "render_path_tiles_per_s": round(path_tps, 3),
        "speedup": round(path_tps / eager_tps, 2),
        "render_path_gflops": round(gflops, 2), "matmul_gflops": round(mm, 2),
        "matmul_gflops_before_after": [round(mm_before, 2), round(mm_after, 2)],
        "fraction_of_matmul": round(gflops / mm, 3),
    }
    if args.seams:
        out["seams"] = out_seams
    if not args.skip_rss:
        with tempfile.TemporaryDirectory() as tmp:
            model = args.model or "pix2pix-banepa"
            if args.rss_model == "tiny":
                from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix
                from satgeo.models.pix2pix_nets import init_weights

                cfg = Pix2PixConfig(name="bench-tiny", ngf=4, native_gsd=card.native_gsd, tile_size=t,
                                    overlap=card.overlap)
                model = str(save_pix2pix(init_weights(cfg.build(), seed=0), cfg, Path(tmp) / "tiny"))
            proc = subprocess.run(
                [sys.executable, "-c", RSS_CHILD, model, str(args.rss_size), str(Path(tmp) / "big.tif"), layer],
                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            if proc.returncode:
                raise SystemExit(f"RSS run failed: {proc.stderr.strip().splitlines()[-1:]}")
            rss = json.loads(proc.stdout.strip().splitlines()[-1])
        out["rss"] = {"model": args.rss_model, **rss, "limit_mb": 2048,
                      "ratio_to_limit": round(rss["peak_rss_mb"] / 2048, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
