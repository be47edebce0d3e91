"""The web map in Debian's headless Chromium, driven over the DevTools protocol."""

from __future__ import annotations

import io
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from chromium_support import CHROMIUM, chromium_session
from PIL import Image
from server_support import SCENE_ZOOM

websocket = pytest.importorskip("websocket", reason="websocket-client drives Chromium's DevTools protocol")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
MAP_BG = (0x1D, 0x23, 0x30)  # #map background in app.css: what shows where no tile was drawn


@pytest.fixture
def chromium(tmp_path):
    yield from chromium_session(tmp_path / "profile")


def test_map_draws_tiles_and_runs_a_job_from_a_rectangle(tile_server, chromium):
    server, scene = tile_server
    cdp = chromium
    cdp.open_page(f"{server.url}/?scene={scene['id']}&zoom={SCENE_ZOOM}", 900, 700)
    cdp.wait("document.body.dataset.tilesDone === '1'", timeout=300)
    cdp.wait("window.satgeo.footprints !== null")
    time.sleep(0.5)  # let Leaflet's fade-in finish
    img = np.asarray(Image.open(io.BytesIO(cdp.screenshot())).convert("RGB")).astype(int)
    # where the scene is on screen (Leaflet's own projection), minus the settings panel on the right
    x0, y0, x1, y1 = cdp.js(
        "(() => { const b = L.latLngBounds(window.satgeo.tiles.options.bounds); const m = window.satgeo.tiles._map;"
        " const a = m.latLngToContainerPoint(b.getNorthWest()), c = m.latLngToContainerPoint(b.getSouthEast());"
        " return [a.x, a.y, c.x, c.y].map(Math.round); })()")
    x1 = min(x1, 900 - 260)
    assert x1 - x0 > 150 and y1 - y0 > 150, (x0, y0, x1, y1)
    area = img[max(y0, 0) + 4:min(y1, 700) - 4, max(x0, 0) + 4:x1 - 4]
    background = (np.abs(area - np.array(MAP_BG)).sum(axis=2) < 6).mean()
    assert background < 0.02, f"{background:.0%} of the scene's area on the map shows no tile"
    assert area.std() > 10  # imagery, not a flat fill
    # Left of the left-most loaded tile nothing was drawn: the map background must show there.
    left = cdp.js("Math.min(...Array.from(document.querySelectorAll('#map .leaflet-tile-loaded'))"
                  ".map(t => t.getBoundingClientRect().left))")
    assert 20 < left < x0, (left, x0)
    outside = img[100:600, 5:int(left) - 5]
    assert (np.abs(outside - np.array(MAP_BG)).sum(axis=2) < 6).mean() > 0.9

    # The rectangle tool: press "Draw", drag over the middle of the scene, release.
    cdp.js("document.getElementById('draw').click()")
    cdp.mouse("mousePressed", 380, 300)
    for x, y in ((400, 320), (430, 340), (440, 350)):
        cdp.mouse("mouseMoved", x, y)
    cdp.mouse("mouseReleased", 440, 350, buttons=0)
    job_id = cdp.wait("document.body.dataset.jobId")
    status = cdp.wait("['succeeded','failed','cancelled'].includes(document.body.dataset.jobStatus) && "
                      "document.body.dataset.jobStatus", timeout=240)
    assert status == "succeeded", server.json(f"/v1/jobs/{job_id}")
    href = cdp.js("document.getElementById('job-download').href")
    assert href.endswith(f"/v1/jobs/{job_id}/result.tif") and not cdp.js("document.getElementById('job-download').hidden")
    assert cdp.js("document.getElementById('job-progress').value") == 1
    with urllib.request.urlopen(href, timeout=60) as res:
        assert res.status == 200 and res.read(4) in (b"II*\x00", b"MM\x00*")
