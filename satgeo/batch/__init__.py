"""Batch jobs: whole vector layers to chunked COGs, a VRT mosaic and a STAC catalog.

``run_batch(BatchOptions(...))`` plans lattice-aligned chunks over the tiles that touch
features, renders them locally or on Ray, journals finished chunks in SQLite (so a killed
job resumes to byte-identical output) and writes the mosaic, STAC catalog and summary.
"""

from satgeo.batch.job import BatchOptions, PreparedJob, prepare, run_batch
from satgeo.batch.summary import BatchSummary

__all__ = ["BatchOptions", "BatchSummary", "PreparedJob", "prepare", "run_batch"]
