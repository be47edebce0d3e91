"""kill -9 a real `satgeo batch` mid-run, then --resume: byte-identical to an uninterrupted run,
and no partial COG ever under a final name."""

from __future__ import annotations

import subprocess
import sys

import rasterio
from batch_helpers import JOB_ARGS, SUBSET, imagery_bytes, journal_rows, sigkill_at


def test_sigkill_mid_run_then_resume_gives_identical_bytes(reference_run, tiny_model, tmp_path):
    ref, ref_summary = reference_run
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "satgeo.cli", "batch", str(SUBSET), "-o", str(out), "--model", tiny_model,
           "--no-progress", *JOB_ARGS]
    journal = out / "satgeo-batch.sqlite"
    sigkill_at(cmd, journal, "chunks", 2, within_s=180)
    done = journal_rows(journal, "chunks")
    assert 2 <= done < ref_summary.chunks, "the kill should land mid-run"
    # Every COG under a final name is complete (temporaries are hidden '.…satgeo-tmp' files).
    finals = sorted((out / "chunks").glob("*.tif"))
    assert done <= len(finals) <= done + 1
    for path in finals:
        with rasterio.open(path) as src:
            src.read()
    assert not (out / "mosaic.vrt").exists()

    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming" in r.stderr
    assert imagery_bytes(out) == imagery_bytes(ref)
    assert not [p for p in (out / "chunks").iterdir() if p.name.startswith(".")]
