"""One writer, one provenance: a `satgeo render` COG, a server job's COG (real uvicorn) and a
batch chunk (and the batch's mosaic COG) of the same model carry the same MODEL and MODEL_HASH, and all
pass cog_validate."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import rasterio
from rio_cogeo.cogeo import cog_validate

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
from cli_support import run_cli  # noqa: E402
from server_support import FOOTPRINTS, LiveServer, build_tiny_pix2pix, wait_job  # noqa: E402

BBOX = [85.5196, 27.6308, 85.5222, 27.6328]
PROVENANCE = ("MODEL", "MODEL_HASH", "FAMILY", "NATIVE_GSD", "LICENSE", "ATTRIBUTION", "SYNTHETIC", "SATGEO_VERSION")


def _cli(*args: str) -> None:
    code, _, err = run_cli(*args)
    assert code == 0, err


def _tags(path: Path) -> dict[str, str]:
    valid, errors, _ = cog_validate(str(path), quiet=True)
    assert valid, (path, errors)
    with rasterio.open(path) as src:
        return src.tags()


def test_render_server_job_and_batch_chunk_share_model_name_and_hash(tmp_path):
    model = build_tiny_pix2pix(tmp_path / "tiny")
    seed, gsd = "5", "0.53"

    render_out = tmp_path / "render.tif"
    _cli("render", "--bbox", *map(str, BBOX), "--footprints", str(FOOTPRINTS), "--model", str(model),
         "--seed", seed, "--gsd", gsd, "-o", str(render_out))

    batch_out = tmp_path / "batch"
    _cli("batch", str(FOOTPRINTS), "-o", str(batch_out), "--model", str(model), "--seed", seed,
         "--gsd", gsd, "--tile-px", "128", "--chunk-tiles", "2", "--threads", "1", "--no-progress", "--mosaic-cog")

    data = tmp_path / "data"
    shutil.copytree(model, data / "models" / "tiny")
    server = LiveServer(data).start()
    try:
        status, created = server.json("/v1/jobs", {"bbox": BBOX, "footprints": json.loads(FOOTPRINTS.read_text()),
                                                   "model": "models/tiny", "seed": int(seed), "gsd": float(gsd)},
                                      timeout=300)
        assert status == 202, created
        job = wait_job(server, created["id"], timeout=300)
        assert job["status"] == "succeeded", job
        status, body = server.get(job["links"]["result"])
        assert status == 200
    finally:
        server.stop()
    job_out = tmp_path / "job.tif"
    job_out.write_bytes(body)

    chunks = sorted((batch_out / "chunks").glob("*.tif"))
    assert len(chunks) >= 2
    render_tags, job_tags = _tags(render_out), _tags(job_out)
    chunk_tags = [_tags(c) for c in chunks] + [_tags(batch_out / "mosaic.tif")]
    assert render_tags["MODEL"] == "tiny-test" and len(render_tags["MODEL_HASH"]) == 64
    for tags in (job_tags, *chunk_tags):
        assert {k: tags.get(k) for k in PROVENANCE} == {k: render_tags.get(k) for k in PROVENANCE}
        assert tags["SEED"] == seed and float(tags["GSD"]) == float(gsd)
    # The mosaic and the STAC items say the same.
    with rasterio.open(batch_out / "mosaic.vrt") as vrt:
        assert vrt.tags()["MODEL_HASH"] == render_tags["MODEL_HASH"]
    item = json.loads(next((batch_out / "stac").glob("*/*.json")).read_text())
    assert item["properties"]["satgeo:model"] == "tiny-test"
    assert item["properties"]["satgeo:model_hash"] == render_tags["MODEL_HASH"]
