"""Helpers shared by the batch tests (a uniquely named module: ``conftest`` names collide)."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent
SUBSET = HERE / "data" / "boulder_subset.gpkg"
SHARED = Path(os.environ.get("SATGEO_SHARED_DATA", HERE.parents[1].parent / "shared" / "data"))
BOULDER = SHARED / "opengeos_boulder_mtbf33" / "boulder_buildings.zip"

#: Small, fast job settings shared by the tests: 32 px tiles of 4 m, one tile per chunk.
NATIVE_GSD = 4.0
JOB = dict(gsd=4.0, tile_px=32, chunk_tiles=1, seed=3, threads=1)
JOB_ARGS = ["--gsd", "4", "--tile-px", "32", "--chunk-tiles", "1", "--seed", "3", "--threads", "1"]


def build_tiny_pix2pix(folder: Path, native_gsd: float = NATIVE_GSD) -> Path:
    """A tiny random pix2pix checkpoint (64 px windows) saved like a real one."""
    from satgeo.models.pix2pix import Pix2PixConfig, save_pix2pix
    from satgeo.models.pix2pix_nets import init_weights

    cfg = Pix2PixConfig(
        name="tiny-batch-test", num_downs=6, ngf=4, native_gsd=native_gsd, tile_size=64, overlap=16,
        description="random weights for tests",
    )
    net = init_weights(cfg.build(), seed=7)
    return save_pix2pix(net, cfg, folder)


def imagery_bytes(out: Path) -> dict[str, bytes]:
    """Every chunk COG and the mosaic VRT of a job folder, by relative path."""
    files = sorted((out / "chunks").glob("*.tif")) + [out / "mosaic.vrt"]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def journal_rows(journal: Path, table: str) -> int:
    """Rows of ``table`` in a running batch's journal, read-only (0 before the journal or table exists)."""
    import sqlite3

    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.Error:
        return 0  # tables not created yet


def sigkill_at(cmd: list[str], journal: Path, table: str, rows: int, within_s: float) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``table`` of its journal holds ``rows`` rows."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + within_s
    try:
        while journal_rows(journal, table) < rows:
            assert proc.poll() is None, f"batch exited early: {proc.stderr.read().decode()[-500:]}"
            assert time.monotonic() < deadline, f"the journal got no {rows} {table} rows in {within_s:.0f} s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
