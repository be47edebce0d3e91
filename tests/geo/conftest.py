"""Shared fixtures for the GIS-core tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
SHARED = Path(os.environ.get("SATGEO_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared(rel: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (see ../shared/data/SOURCES.md)")
    return p


@pytest.fixture
def satgeo_process(tmp_path):
    """Run the real ``satgeo`` entry point in a subprocess; returns CompletedProcess."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "from satgeo.cli import main; main()", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )

    return run


@pytest.fixture
def shared_file():
    """``shared_file("rel/path")`` -> Path under ../shared/data, skipping when absent."""
    return shared


@pytest.fixture
def data_dir() -> Path:
    return DATA
