"""One generator shared by the job worker and the tile service: same bytes as one thing at a time.

A real uvicorn runs a job while a burst of tile requests comes in from several threads; a
second server does the same work one request at a time. Every tile and the job's COG must
be identical, byte for byte.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import rasterio
from server_support import FOOTPRINTS, SCENE_ZOOM, LiveServer, wait_job
from test_server_tiles import scene_tiles

pytestmark = pytest.mark.determinism

#: ~2 km x 2 km around the footprints: a job of about a thousand windows, long enough to overlap the burst
JOB = {"bbox": [85.510, 27.623, 85.530, 27.641], "model": "models/tiny", "seed": 5}
SCENE = {"name": "banepa", "layers": [{"path": "footprints.geojson"}], "model": "models/tiny", "seed": 7,
         "native_zoom": SCENE_ZOOM}


@pytest.fixture(scope="module")
def noisy_model_dir(tmp_path_factory):
    """A tiny generator with one level of seeded dropout noise (the shared tiny model has none)."""
    import torch

    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix

    torch.manual_seed(3)
    config = Pix2PixConfig(name="tiny-noisy", num_downs=6, ngf=4, native_gsd=0.53, tile_size=128, overlap=32)
    return save_pix2pix(config.build(), config, tmp_path_factory.mktemp("noisy") / "tiny", half=False)


def _server(tmp_path, model_dir, name: str) -> LiveServer:
    data = tmp_path / name / "data"
    shutil.copytree(model_dir, data / "models" / "tiny")
    shutil.copy(FOOTPRINTS, data / "footprints.geojson")
    return LiveServer(data, "--metatile", "2").start()


def _tile_paths(server: LiveServer) -> tuple[str, list[str]]:
    status, scene = server.json("/v1/scenes", SCENE, timeout=300)
    assert status == 201, scene
    base = scene["links"]["self"]
    paths = [f"{base}/tiles/{z}/{x}/{y}.png" for z in (SCENE_ZOOM, SCENE_ZOOM + 1) for x, y in scene_tiles(scene, z)]
    return scene["id"], paths


def _job_body() -> dict:
    return {**JOB, "footprints": json.loads(FOOTPRINTS.read_text())}


def _result(server: LiveServer, job: dict, path) -> tuple[bytes, np.ndarray, dict]:
    assert job["status"] == "succeeded", job
    status, body = server.get(job["links"]["result"])
    assert status == 200
    path.write_bytes(body)
    with rasterio.open(path) as src:
        return body, src.read(), src.tags()


def test_job_and_tile_burst_at_once_give_the_bytes_of_one_at_a_time(tmp_path, noisy_model_dir):
    # one thing at a time
    calm = _server(tmp_path, noisy_model_dir, "calm")
    try:
        scene_id, paths = _tile_paths(calm)
        alone = {}
        for p in paths:
            status, alone[p] = calm.get(p)
            assert status == 200
        status, created = calm.json("/v1/jobs", _job_body(), timeout=300)
        assert status == 202, created
        job_alone = _result(calm, wait_job(calm, created["id"], timeout=600), tmp_path / "alone.tif")
    finally:
        calm.stop()

    busy = _server(tmp_path, noisy_model_dir, "busy")
    try:
        busy_scene, busy_paths = _tile_paths(busy)
        assert busy_scene == scene_id and busy_paths == paths  # content-addressed scenes
        status, created = busy.json("/v1/jobs", _job_body(), timeout=300)
        assert status == 202, created
        job_id = created["id"]
        deadline = time.monotonic() + 300
        while True:
            job = busy.json(f"/v1/jobs/{job_id}")[1]
            if job["status"] == "running" and job["progress"] > 0.02 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert job["status"] == "running" and job["progress"] < 0.5, f"the job should be early in its run: {job}"
        start = threading.Barrier(8)

        def fetch(p: str) -> tuple[str, int, bytes]:
            if paths.index(p) < 8:
                start.wait(60)  # the first 8 requests leave together
            return (p, *busy.get(p, timeout=300))

        burst_start = time.time()
        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(fetch, paths))
        done = wait_job(busy, job_id, timeout=600)
        # the job was running before the burst began; it must also have ended after it began
        assert done["updated"] > burst_start, f"the job ended before the tile burst began, no overlap: {done}"
        job_busy = _result(busy, done, tmp_path / "busy.tif")
    finally:
        busy.stop()

    assert all(status == 200 for _, status, _ in burst)
    differ = [p for p, _, body in burst if body != alone[p]]
    assert not differ, f"{len(differ)} of {len(paths)} tiles differ from the one-at-a-time server: {differ[:3]}"
    np.testing.assert_array_equal(job_busy[1], job_alone[1])
    assert job_busy[2] == job_alone[2]
    assert job_busy[0] == job_alone[0], "same pixels and tags, but the COG files differ"


def test_one_generator_called_from_two_threads(noisy_model_dir):
    """The issue's failure, in process: two threads on one generator, every output as if alone."""
    from satgeo.models.pix2pix import load_pix2pix

    gen = load_pix2pix(noisy_model_dir)
    rng = np.random.default_rng(0)
    masks = (rng.random((8, 64, 64)) < 0.3).astype(np.uint8)  # 64 px: the smallest input 6 halvings take
    calls = [(masks[k % 7:k % 7 + 2], [1000 + k, 2000 + k]) for k in range(16)]
    want = [gen.generate_batch(m, s) for m, s in calls]
    got: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(ks: range) -> None:
        start.wait(30)
        for k in ks:
            try:
                got[k] = gen.generate_batch(*calls[k])
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    half = len(calls) // 2
    threads = [threading.Thread(target=worker, args=(r,)) for r in (range(half), range(half, len(calls)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    wrong = [k for k in range(len(calls)) if not np.array_equal(got[k], want[k])]
    assert not wrong, f"{len(wrong)} of {len(calls)} outputs differ from the same call made alone"
