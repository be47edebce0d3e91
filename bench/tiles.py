"""Cached-tile serving: satgeo's server against TiTiler serving a COG of the same imagery.

One run, same machine, same client: 32 concurrent keep-alive clients request the same set
of 256 px PNG tiles from (a) `satgeo serve` (tiles already in its MBTiles cache) and (b)
TiTiler reading a COG made of exactly those pixels. Prints JSON with p50/p99 latency,
requests/s and the satgeo / TiTiler ratio.

TiTiler lives in its own venv (it needs no torch):
    python3 -m venv /tmp/titiler-venv && /tmp/titiler-venv/bin/pip install titiler.application uvicorn
    python3 bench/tiles.py --titiler-venv /tmp/titiler-venv
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FOOTPRINTS = REPO / "tests" / "server" / "data" / "banepa_footprints.geojson"
ZOOM = 18


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            u = urlparse(url)
            con = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
            con.request("GET", u.path or "/")
            if con.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def load(base: str, paths: list[str], total: int, clients: int) -> dict:
    """``total`` GETs spread over ``clients`` keep-alive connections; latency stats and rate."""
    u = urlparse(base)
    local = threading.local()
    latencies = np.zeros(total)
    errors = [0]

    def one(i: int) -> None:
        con = getattr(local, "con", None)
        if con is None:
            con = local.con = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        t = time.perf_counter()
        con.request("GET", paths[i % len(paths)])
        res = con.getresponse()
        body = res.read()
        latencies[i] = time.perf_counter() - t
        if res.status != 200 or not body.startswith(b"\x89PNG"):
            errors[0] += 1

    with ThreadPoolExecutor(clients) as pool:  # warm the connections and any per-tile caches
        list(pool.map(one, range(min(total, len(paths) * 2))))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(total)))
    wall = time.perf_counter() - t0
    return {"requests": total, "errors": errors[0], "seconds": round(wall, 3), "rps": round(total / wall, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
            "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--titiler-venv", default="/tmp/titiler-venv", type=Path)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    uvicorn_bin = args.titiler_venv / "bin" / "uvicorn"
    if not uvicorn_bin.exists():
        sys.exit(f"error: no TiTiler venv at {args.titiler_venv}; see this file's docstring to make one")

    sys.path.insert(0, str(REPO / "tests" / "server"))
    from conftest import LiveServer, build_tiny_pix2pix  # the same tiny model and launcher the tests use
    from PIL import Image

    from satgeo.geo.cog import write_cog
    from satgeo.geo.grid import Grid
    from satgeo.geo.xyz import tile_bounds

    work = Path(tempfile.mkdtemp(prefix="satgeo-bench-tiles-"))
    procs = []
    try:
        data = work / "data"
        build_tiny_pix2pix(data / "models" / "tiny")
        shutil.copy(FOOTPRINTS, data / "footprints.geojson")
        server = LiveServer(data, "--metatile", "4").start()
        procs.append(server)
        status, scene = server.json("/v1/scenes", {"layers": [{"path": "footprints.geojson"}], "model": "models/tiny",
                                                    "native_zoom": ZOOM}, timeout=600)
        assert status == 201, scene
        import mercantile

        west, south, east, north = scene["bounds"]
        tiles = [(t.x, t.y) for t in mercantile.tiles(west, south, east, north, zooms=ZOOM)]
        xs = sorted({x for x, _ in tiles})
        ys = sorted({y for _, y in tiles})
        block = {}
        for x in xs:
            for y in ys:
                status, body = server.get(f"/v1/scenes/{scene['id']}/tiles/{ZOOM}/{x}/{y}.png", timeout=600)
                assert status == 200
                block[(x, y)] = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        mosaic = np.concatenate([np.concatenate([block[(x, y)] for x in xs], axis=1) for y in ys], axis=0)
        w0, _, _, n0 = tile_bounds(xs[0], ys[0], ZOOM)
        res = (tile_bounds(xs[0], ys[0], ZOOM)[2] - w0) / 256
        grid = Grid.from_bounds("EPSG:3857", (w0, n0 - res * mosaic.shape[0], w0 + res * mosaic.shape[1], n0), res)
        cog = write_cog(work / "same_imagery.tif", mosaic.transpose(2, 0, 1), grid)

        port = free_port()
        env = dict(os.environ, GDAL_CACHEMAX="200", GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR")
        env.pop("PYTHONPATH", None)
        titiler = subprocess.Popen([str(uvicorn_bin), "titiler.application.main:app", "--host", "127.0.0.1",
                                    "--port", str(port), "--log-level", "warning", "--no-access-log"],
                                   env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=open(work / "titiler.log", "w"))
        procs.append(titiler)
        titiler_url = f"http://127.0.0.1:{port}"
        wait_http(titiler_url + "/healthz")

        satgeo_paths = [f"/v1/scenes/{scene['id']}/tiles/{ZOOM}/{x}/{y}.png" for x in xs for y in ys]
        titiler_paths = [f"/cog/tiles/WebMercatorQuad/{ZOOM}/{x}/{y}.png?url={cog}" for x in xs for y in ys]
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        first.request("GET", titiler_paths[0])
        r = first.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"TiTiler answered {r.status}: {body[:300]!r}")
        same = np.array_equal(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), block[(xs[0], ys[0])])

        results = {
            "satgeo": load(server.url, satgeo_paths, args.requests, args.clients),
            "titiler": load(titiler_url, titiler_paths, args.requests, args.clients),
        }
        results["ratio_rps"] = round(results["satgeo"]["rps"] / results["titiler"]["rps"], 2)
        results["ratio_p50"] = round(results["titiler"]["p50_ms"] / results["satgeo"]["p50_ms"], 2)
        results["setup"] = {"tiles": len(satgeo_paths), "clients": args.clients, "zoom": ZOOM,
                            "titiler_pixels_equal_satgeo": bool(same), "cpu_count": os.cpu_count(),
                            "loadavg_1min": round(os.getloadavg()[0], 2)}
        print(json.dumps(results, indent=2))
    finally:
        for p in procs:
            if isinstance(p, subprocess.Popen):
                p.terminate()
                p.wait(10)
            else:
                p.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
