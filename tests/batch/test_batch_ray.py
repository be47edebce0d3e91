"""The Ray engine on a local Ray cluster started by the test: same bytes as the local engine."""

from __future__ import annotations

import pytest
from batch_helpers import JOB, SUBSET, imagery_bytes

from satgeo.batch import BatchOptions, run_batch

ray = pytest.importorskip("ray", reason="the Ray engine needs the satgeo[ray] extra")


def test_ray_engine_with_two_actors_writes_the_local_engines_bytes(reference_run, tiny_model, tmp_path, monkeypatch):
    ref, ref_summary = reference_run
    # Ray starts workers niced; on a busy shared 2-core machine they would starve.
    monkeypatch.setenv("RAY_worker_niceness", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        summary = run_batch(BatchOptions([str(SUBSET)], out, model=tiny_model, engine="ray", workers=2, progress=False, **JOB))
    finally:
        ray.shutdown()
    assert summary.engine == "ray" and summary.tiles_rendered == ref_summary.tiles
    assert imagery_bytes(out) == imagery_bytes(ref)
    assert (out / "stac" / "catalog.json").exists()
