"""Fixtures for the batch tests: a tiny random pix2pix model, a small footprint layer and
one uninterrupted reference run that the resume and Ray tests compare against."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import BOULDER, JOB, SUBSET, build_tiny_pix2pix

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_pix2pix(tmp_path_factory.mktemp("model") / "tiny-pix2pix"))


@pytest.fixture()
def subset_layer() -> str:
    return str(SUBSET)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, tiny_model):
    """An uninterrupted local run of the subset."""
    from satgeo.batch import BatchOptions, run_batch

    out = tmp_path_factory.mktemp("reference") / "out"
    summary = run_batch(BatchOptions([str(SUBSET)], out, model=tiny_model, progress=False, **JOB))
    return out, summary


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).parents and "shared_data" in item.keywords and not BOULDER.exists():
            item.add_marker(pytest.mark.skip(reason=f"needs the shared data set ({BOULDER} is absent)"))
