"""Paths and chip splits of the tests/eval fixtures (a module of its own, so tests import it by a unique name)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHIPS = Path(__file__).resolve().parent / "data" / "chips"
FOOTPRINTS = REPO / "data" / "banepa" / "footprints.geojson"
SHARED = Path(os.environ.get("SATGEO_SHARED_DATA", REPO.parent / "shared" / "data"))
#: held-out / layer-pool / real-pool split of the fixture chips (columns 3 / 2 / 0-1)
HOLDOUT, LAYER_CHIPS = "Q-3-.*", "Q-2-.*"
