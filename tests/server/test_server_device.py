"""`satgeo serve --device`: checked at startup, shown by /health, and used by every job and tile render."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from server_support import FOOTPRINTS, REPO, LiveServer, wait_job

from satgeo_server import Settings, create_app

BBOX = [85.5196, 27.6308, 85.5222, 27.6328]


def _serve(tmp_path, device: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "satgeo.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
         "--device", device], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_unknown_device_fails_at_startup_with_one_line(tmp_path):
    done = _serve(tmp_path, "foo")
    assert done.returncode == 2, done
    assert "listening on" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device 'foo'"), done.stderr


def test_cuda_without_cuda_fails_at_startup(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = _serve(tmp_path, "cuda")
    assert done.returncode == 2 and "listening on" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable CUDA device" in lines[0], done.stderr


def test_device_cpu_end_to_end(data_dir):
    server = LiveServer(data_dir, "--device", "cpu").start()
    try:
        assert server.json("/health")[1]["device"] == "cpu"
        fc = json.loads(FOOTPRINTS.read_text())
        status, created = server.json("/v1/jobs", {"bbox": BBOX, "footprints": fc, "model": "models/tiny"},
                                      timeout=300)
        assert status == 202, created
        job = wait_job(server, created["id"], timeout=300)
        assert job["status"] == "succeeded", job
    finally:
        server.stop()


def _tile_at(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_jobs_and_tiles_render_on_the_servers_device(data_dir, monkeypatch):
    from satgeo.render import engine

    seen: list[str | None] = []
    real = engine.get_generator

    def spy(model, device=None):
        seen.append(device)
        return real(model, device)

    monkeypatch.setattr(engine, "get_generator", spy)
    app = create_app(Settings(data_dir, device="cpu", metatile=1))
    with TestClient(app) as client:  # the lifespan starts the job worker
        assert client.get("/health").json()["device"] == "cpu"
        r = client.post("/v1/jobs", json={"bbox": BBOX, "model": "models/tiny", "footprints": json.loads(FOOTPRINTS.read_text())})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 300
        while (job := client.get(f"/v1/jobs/{r.json()['id']}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        jobs_seen = len(seen)
        scene = client.post("/v1/scenes", json={"layers": [{"geojson": json.loads(FOOTPRINTS.read_text())}],
                                                "model": "models/tiny", "native_zoom": 18}).json()
        west, south, east, north = scene["bounds"]
        x, y = _tile_at((west + east) / 2, (south + north) / 2, 18)
        tile = client.get(f"/v1/scenes/{scene['id']}/tiles/18/{x}/{y}.png")
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
        assert client.get("/health").json()["stats"]["metatiles_generated"] == 1
    assert len(seen) > jobs_seen > 0  # the job and the tile both loaded their model through the engine
    assert set(seen) == {"cpu"}, seen
