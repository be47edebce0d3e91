"""The routes behind the web map: its config (basemap), scenes by name and model, job previews, serve's flags."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from server_support import FOOTPRINTS, REPO, wait_job

from satgeo_server import Settings, create_app

BBOX = [85.5196, 27.6308, 85.5222, 27.6328]


def test_webmap_config_has_no_basemap_unless_asked(data_dir):
    plain = TestClient(create_app(Settings(data_dir), run_jobs=False)).get("/v1/webmap").json()
    assert plain["basemap"] is None and plain["max_area_km2"] == 25 and plain["default_model"] == "pix2pix-banepa"
    settings = Settings(data_dir, basemap_url="https://tiles.example/{z}/{x}/{y}.png", basemap_attribution="© Example")
    cfg = TestClient(create_app(settings, run_jobs=False)).get("/v1/webmap").json()
    assert cfg["basemap"] == {"url": "https://tiles.example/{z}/{x}/{y}.png", "attribution": "© Example", "max_zoom": 19}


def test_scenes_carry_name_model_name_and_parameters(data_dir):
    client = TestClient(create_app(Settings(data_dir), run_jobs=False))
    body = {"name": "banepa", "layers": [{"geojson": json.loads(FOOTPRINTS.read_text())}], "model": "models/tiny",
            "seed": 9, "date": "2024-03-01"}
    r = client.post("/v1/scenes", json=body)
    assert r.status_code == 201, r.text
    scene = r.json()
    assert (scene["name"], scene["model_name"], scene["seed"], scene["date"]) == ("banepa", "tiny-test", 9, "2024-03-01")
    tj = client.get(scene["links"]["tilejson"]).json()
    assert "tiny-test" in tj["attribution"] and "default" not in tj["attribution"]


def test_job_preview_is_web_mercator_png_at_the_result_bounds(tile_server):
    server, _ = tile_server
    fc = json.loads(FOOTPRINTS.read_text())
    status, created = server.json("/v1/jobs", {"bbox": BBOX, "footprints": fc, "model": "models/tiny", "seed": 4})
    assert status == 202, created
    queued = server.json(f"/v1/jobs/{created['id']}")[1]
    job = wait_job(server, created["id"])
    assert job["status"] == "succeeded", job
    assert queued["bounds"] is None or queued["status"] == "succeeded"
    west, south, east, north = job["bounds"]
    assert west <= BBOX[0] and south <= BBOX[1] and east >= BBOX[2] and north >= BBOX[3]
    assert max(BBOX[0] - west, BBOX[1] - south, east - BBOX[2], north - BBOX[3]) < 1e-4
    status, png = server.get(job["links"]["preview"])
    assert status == 200
    img = np.asarray(Image.open(io.BytesIO(png)))
    assert img.shape[2] == 4 and max(img.shape[:2]) <= 1024
    h, w = img.shape[:2]
    assert img[h // 2, w // 2, 3] == 255 and img[h // 4: 3 * h // 4, w // 4: 3 * w // 4, :3].std() > 5
    # Web Mercator: the PNG's aspect is the bounds' aspect in EPSG:3857 metres
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (x0, x1), (y0, y1) = t.transform([west, east], [south, north])
    assert w / h == pytest.approx((x1 - x0) / (y1 - y0), rel=0.01)
    assert server.get(job["links"]["preview"])[1] == png  # cached, same bytes


@pytest.mark.parametrize("args, words", [
    (["--basemap", "not-a-url"], "XYZ URL template"),
    (["--basemap", "https://tiles.example/{z}/{x}/{y}.png"], "--basemap-attribution"),
    (["--basemap-attribution", "x"], "needs --basemap"),
])
def test_serve_refuses_a_basemap_without_template_or_attribution(tmp_path, args, words):
    proc = subprocess.run([sys.executable, "-m", "satgeo.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
                           *args], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                          timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("bbox, crs, words", [
    ([27.6294, 85.5217, 27.6318, 85.5231], "EPSG:4326", "swapped"),
    ([85.5217, 27.6294, 85.5231, 27.6318], "EPSG:32645", "look like degrees"),
    ([85.5217, 27.6294, 85.52170001, 27.6318], "EPSG:4326", "under 2 px"),
])
def test_jobs_refuse_the_bbox_typos_the_cli_refuses(data_dir, bbox, crs, words):
    client = TestClient(create_app(Settings(data_dir), run_jobs=False))
    r = client.post("/v1/jobs", json={"bbox": bbox, "crs": crs, "model": "models/tiny"})
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert client.get("/v1/jobs").json() == []
