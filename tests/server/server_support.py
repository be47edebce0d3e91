"""Fixtures for the server tests: temp data dirs, tiny pix2pix models, real uvicorn servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
#: 95 OSM building footprints of central Banepa (see data/ATTRIBUTION.md)
FOOTPRINTS = DATA / "banepa_footprints.geojson"


def build_tiny_pix2pix(folder: Path, native_gsd: float = 0.53, seed: int = 0) -> Path:
    """A random ~30k-parameter pix2pix generator saved as a satgeo checkpoint folder."""
    import torch

    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix

    torch.manual_seed(seed)
    config = Pix2PixConfig(name="tiny-test", num_downs=5, ngf=4, native_gsd=native_gsd, tile_size=128, overlap=32,
                           description="random weights for tests")
    net = config.build()
    return save_pix2pix(net, config, folder, half=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_pix2pix(tmp_path_factory.mktemp("tiny-model") / "tiny")


@pytest.fixture
def data_dir(tmp_path, tiny_model_dir) -> Path:
    d = tmp_path / "data"
    (d / "models").mkdir(parents=True)
    shutil.copytree(tiny_model_dir, d / "models" / "tiny")  # a symlink out of --data-dir is refused
    return d


class LiveServer:
    """A real ``satgeo serve`` on 127.0.0.1 in a subprocess."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.token: str | None = None
        self.log = data_dir.parent / "server.log"

    def start(self, timeout: float = 180) -> LiveServer:
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "satgeo.cli", "serve", "--port", "0", "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE, stderr=open(self.log, "ab"), cwd=REPO, env=env, text=True,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                self.stop()
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            if m := re.match(r"bearer token: (\S+)", line):
                self.token = m.group(1)
            if m := re.search(r"listening on (http://\S+)", line):
                self.url = m.group(1)
                return self
        self.stop()
        raise RuntimeError("server did not start in time")

    def get(self, path: str, timeout: float = 120) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str, body: dict | None = None, method: str | None = None, timeout: float = 120):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method or ("POST" if data else "GET"))
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()


def wait_job(server: LiveServer, job_id: str, timeout: float = 120, until=("succeeded", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, job = server.json(f"/v1/jobs/{job_id}")
        assert status == 200, job
        if job["status"] in until:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")


SCENE_ZOOM = 18  # native zoom of the shared test scene (z18 is ~0.53 m ground here, the tiny model's GSD)


@pytest.fixture(scope="session")
def tile_server(tmp_path_factory, tiny_model_dir):
    """One real server (metatiles of 2x2) with the Banepa scene, shared by the live tests."""
    data = tmp_path_factory.mktemp("tile-server") / "data"
    shutil.copytree(tiny_model_dir, data / "models" / "tiny")
    shutil.copy(FOOTPRINTS, data / "footprints.geojson")
    server = LiveServer(data, "--metatile", "2")
    try:
        server.start()
        status, scene = server.json("/v1/scenes", {"name": "banepa", "layers": [{"path": "footprints.geojson"}],
                                                    "model": "models/tiny", "seed": 7, "native_zoom": SCENE_ZOOM},
                                    timeout=300)  # the first call loads torch and the model
        assert status == 201, scene
        yield server, scene
    finally:
        server.stop()
