"""Jobs on a real uvicorn: a COG that validates, its STAC sidecar, cancel, and kill -9 mid-job."""

from __future__ import annotations

import json
import time

import rasterio
from rio_cogeo.cogeo import cog_validate
from server_support import FOOTPRINTS, LiveServer, wait_job

BBOX = [85.5196, 27.6308, 85.5222, 27.6328]


def _download(server: LiveServer, job: dict, path) -> None:
    status, body = server.get(job["links"]["result"])
    assert status == 200
    path.write_bytes(body)


def test_job_makes_a_valid_cog_with_stac(tile_server, tmp_path):
    server, _ = tile_server
    fc = json.loads(FOOTPRINTS.read_text())
    status, created = server.json("/v1/jobs", {"bbox": BBOX, "footprints": fc, "model": "models/tiny", "seed": 2})
    assert status == 202, created
    job = wait_job(server, created["id"])
    assert job["status"] == "succeeded" and job["progress"] == 1.0, job
    out = tmp_path / "result.tif"
    _download(server, job, out)
    valid, errors, _ = cog_validate(out)
    assert valid, errors
    with rasterio.open(out) as src:
        assert src.count == 3 and src.crs.to_epsg() == 32645  # UTM 45N, Banepa's zone
        assert src.tags()["SYNTHETIC"] == "TRUE"
        west, south, east, north = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        # covers the bbox, and not much more (UTM's envelope of a lon/lat box is a few metres wider)
        assert west <= BBOX[0] + 1e-6 and south <= BBOX[1] + 1e-6 and east >= BBOX[2] - 1e-6 and north >= BBOX[3] - 1e-6
        assert max(BBOX[0] - west, BBOX[1] - south, east - BBOX[2], north - BBOX[3]) < 1e-4
    status, stac = server.get(job["links"]["stac"])
    assert status == 200 and json.loads(stac)["properties"]["satgeo:synthetic"] is True


def test_cancel_a_running_job(tile_server):
    server, _ = tile_server
    status, created = server.json("/v1/jobs", {"bbox": [85.50, 27.62, 85.53, 27.64], "model": "models/tiny"})
    assert status == 202, created
    wait_job(server, created["id"], until=("running", "succeeded", "failed"))
    status, job = server.json(f"/v1/jobs/{created['id']}", method="DELETE")
    assert status == 200
    job = wait_job(server, created["id"])
    assert job["status"] == "cancelled", job
    assert server.get(job["links"]["result"])[0] == 409
    assert not (server.data_dir / "jobs" / created["id"] / "result.tif").exists()


def test_kill9_mid_job_then_restart_completes(data_dir, tmp_path):
    server = LiveServer(data_dir).start()
    try:
        # ~1 km x 1 km of background at 0.53 m: long enough to be killed in the middle
        status, created = server.json("/v1/jobs", {"bbox": [85.515, 27.628, 85.525, 27.637], "model": "models/tiny"},
                                      timeout=300)
        assert status == 202, created
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = server.json(f"/v1/jobs/{created['id']}")[1]
            if job["status"] == "running" and job["progress"] > 0.05:
                break
            time.sleep(0.1)
        assert job["status"] == "running" and job["progress"] < 0.9, job
        server.kill9()
        folder = data_dir / "jobs" / created["id"]
        assert not (folder / "result.tif").exists()  # nothing half-written under the final name
        assert [p for p in folder.iterdir() if p.name.startswith(".")]  # the killed run's temp output
        server = LiveServer(data_dir).start()
        job = wait_job(server, created["id"], timeout=300)
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
        out = tmp_path / "r.tif"
        _download(server, job, out)
        valid, errors, _ = cog_validate(out)
        assert valid, errors
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # temp files cleaned up
    finally:
        server.stop()
