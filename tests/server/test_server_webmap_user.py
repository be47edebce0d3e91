"""The web map as a new user meets it: 1400x900, an empty server, a scene at the default model's
native zoom, upload -> scene -> draw -> job -> result on the map, cancel, and a page that never freezes."""

from __future__ import annotations

import io
import json
import shutil
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from chromium_support import CHROMIUM, HEIGHT, WIDTH, chromium_session
from PIL import Image
from server_support import FOOTPRINTS, LiveServer, build_tiny_pix2pix

websocket = pytest.importorskip("websocket", reason="websocket-client drives Chromium's DevTools protocol")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

#: Bounds asserted here. The first tile follows the server's first metatile within AFTER_METATILE_S
#: or half the metatile's render time on a loaded machine (FIRST_TILE_S only catches a hang);
#: the page itself must never block for BLOCK_S.
FIRST_TILE_S = 600.0
AFTER_METATILE_S = 5.0
LOADING_BLOCK_S = 3.0
BLOCK_S = 1.0


@pytest.fixture
def empty_server(tmp_path):
    """A real server whose only model is a tiny pix2pix at the default model's native GSD."""
    from satgeo.render.engine import get_generator

    data = tmp_path / "data"
    native_gsd = get_generator(None).card.native_gsd
    build_tiny_pix2pix(data / "models" / "tiny", native_gsd=native_gsd)
    server = LiveServer(data).start()
    try:
        yield server, native_gsd
    finally:
        server.stop()


@pytest.fixture
def cdp(tmp_path):
    yield from chromium_session(tmp_path / "profile")


def _max_block(cdp) -> float:
    tasks = cdp.js("window.__longtasks")
    assert tasks is not None, "Chromium has no Long Tasks API"
    return max(tasks, default=0.0) / 1000


def _screen_box(cdp, bounds_expr: str) -> tuple[int, int, int, int]:
    return tuple(cdp.js(
        f"(() => {{ const b = {bounds_expr}; const m = window.satgeo.map;"
        " const a = m.latLngToContainerPoint(b.getNorthWest()), c = m.latLngToContainerPoint(b.getSouthEast());"
        " return [a.x, a.y, c.x, c.y].map(Math.round); })()"))


def test_new_user_goes_from_an_empty_server_to_imagery_on_the_map(empty_server, cdp, tmp_path):
    server, native_gsd = empty_server
    from satgeo_server.scenes import native_zoom_for

    cdp.open_page(f"{server.url}/")
    cdp.wait("document.body.dataset.ready === '1'", timeout=60)
    # An empty server says how to start and offers nothing that cannot work yet.
    assert "no scenes yet" in cdp.js("document.getElementById('message').textContent")
    assert cdp.js("document.getElementById('draw').disabled") is True
    assert cdp.js("document.getElementById('new-scene').open") is True
    cdp.wait("window.satgeo.models.length > 0", timeout=120)
    options = cdp.js("Array.from(document.querySelectorAll('#scene-model option')).map(o => [o.value, o.textContent, o.disabled])")
    assert any("(pix2pix" in text for _, text, _ in options), options

    # Upload the footprints and create a scene with the tiny model, seed 5, default (auto) native zoom.
    gpkg = tmp_path / "banepa.geojson"
    shutil.copy(FOOTPRINTS, gpkg)
    tiny = str(server.data_dir / "models" / "tiny")
    cdp.set_file("#scene-file", gpkg)
    cdp.js("document.getElementById('scene-file').dispatchEvent(new Event('change'))")
    assert cdp.js("document.getElementById('scene-name').value") == "banepa"
    # the tiny model is a checkpoint path, not a registry entry: add it to the list as a user of a custom model would
    cdp.js(f"(() => {{ const o = document.createElement('option'); o.value = {json.dumps(tiny)}; o.textContent = 'tiny';"
           " const s = document.getElementById('scene-model'); s.appendChild(o); s.value = o.value; })()")
    cdp.js("document.getElementById('scene-seed').value = '5'")
    cdp.js("document.getElementById('scene-create').click()")
    scene_id = cdp.wait("document.body.dataset.sceneId", timeout=300)
    status, scene = server.json(f"/v1/scenes/{scene_id}")
    assert status == 200 and scene["seed"] == 5 and scene["name"] == "banepa"
    lat = (scene["bounds"][1] + scene["bounds"][3]) / 2
    assert scene["native_zoom"] == native_zoom_for(native_gsd, lat) == 20  # the default model's real native zoom
    assert cdp.js("document.querySelector('#scene option:checked').textContent") == "banepa · tiny-test"
    assert "tiny-test" in cdp.js("document.querySelector('.leaflet-control-attribution').textContent")

    # The view fits the scene; the first tile shows as soon as the server has rendered the metatile
    # it needs (not after all ~9 metatiles of the view), and the page answers all the while.
    t_shown = time.monotonic()
    zoom = cdp.js("window.satgeo.map.getZoom()")
    assert scene["minzoom"] <= zoom <= scene["native_zoom"] + 1
    x0, y0, x1, y1 = _screen_box(cdp, "L.latLngBounds(window.satgeo.tiles.options.bounds)")
    assert 0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT, (x0, y0, x1, y1)
    t_meta = None
    while not cdp.js("window.satgeo.firstTileAt !== null"):
        _, rtt = cdp.timed_js("1")
        assert rtt < BLOCK_S, f"the page took {rtt:.2f} s to answer while tiles render"
        if t_meta is None and server.json("/health")[1]["stats"].get("metatiles_generated", 0) >= 1:
            t_meta = time.monotonic()
        assert time.monotonic() - t_shown < FIRST_TILE_S, "no tile at all (is the server stuck?)"
        time.sleep(0.1)
    first_tile = time.monotonic() - t_shown
    t_meta = t_meta or time.monotonic()
    # encoding, caching and sending tiles costs a fraction of rendering them, on a loaded machine too
    lag, render = time.monotonic() - t_meta, t_meta - t_shown
    assert lag < max(AFTER_METATILE_S, render / 2), \
        f"the first tile showed {lag:.1f} s after the server rendered its first metatile (which took {render:.1f} s)"
    while cdp.js("document.body.dataset.tilesDone") != "1":
        _, rtt = cdp.timed_js("1")
        assert rtt < BLOCK_S and time.monotonic() - t_shown < 900
        time.sleep(0.2)
    all_tiles = time.monotonic() - t_shown
    metatiles = server.json("/health")[1]["stats"]["metatiles_generated"]
    assert metatiles >= 2  # the view needed several metatiles, and the first tile came after the first of them
    # The round trips above are the user-facing bound (< 1 s). Long tasks while tiles decode are 0 ms on
    # an idle machine but stretch when the CPU is starved (1.9 s seen at load 15 on 2 cores): a looser bound.
    assert _max_block(cdp) < LOADING_BLOCK_S

    # Zoom out to 2 and back: no tile enumeration, no block.
    for z in (2, scene["native_zoom"]):
        _, took = cdp.timed_js(f"window.satgeo.map.setZoom({z}, {{animate: false}}), 0")
        assert took < BLOCK_S, f"setZoom({z}) blocked the page {took:.2f} s"
        if z == 2:
            time.sleep(0.3)
            assert cdp.js("window.satgeo.map.getZoom()") == 2
            assert cdp.js("window.satgeo.tiles._container ? window.satgeo.tiles._container.querySelectorAll('img').length : 0") == 0
            assert "zoom in" in cdp.js("document.getElementById('tile-status').textContent")
    assert _max_block(cdp) < LOADING_BLOCK_S

    # Reopen the page: it answers at once, fitted to the newest scene, its (cached) tiles drawn.
    t_nav = time.monotonic()
    cdp.open_page(f"{server.url}/")
    cdp.wait("document.body && document.body.dataset.sceneId", timeout=30)
    shown = time.monotonic() - t_nav
    assert shown < 5, f"the scene took {shown:.1f} s to show on a reload"
    while cdp.js("document.body.dataset.tilesDone") != "1":
        _, rtt = cdp.timed_js("1")
        assert rtt < BLOCK_S and time.monotonic() - t_nav < 60
        time.sleep(0.1)
    assert cdp.js("window.satgeo.map.getZoom()") == zoom and _max_block(cdp) < LOADING_BLOCK_S

    # A click without a drag says what to do and leaves nothing on the map.
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    cdp.js("document.getElementById('draw').click()")
    cdp.mouse("mousePressed", cx, cy)
    cdp.mouse("mouseReleased", cx, cy, buttons=0)
    assert "drag" in cdp.js("document.getElementById('message').textContent")
    assert cdp.js("window.satgeo.rect") is None
    # A rectangle above the server's limit: refused with the fix in the message, drawing cleared.
    cdp.js("window.satgeoSubmitJob(84.5, 27.0, 86.5, 28.0)")
    cdp.wait("document.getElementById('message').textContent.includes('refused')", timeout=30)
    assert "smaller area" in cdp.js("document.getElementById('message').textContent")
    assert cdp.js("window.satgeo.rect") is None

    # Cancel: a job over the whole scene, cancelled from the panel right away.
    cdp.js("document.getElementById('draw').click()")
    cdp.drag(x0 + 2, y0 + 2, x1 - 2, y1 - 2)
    big_job = cdp.wait("document.body.dataset.jobId", timeout=60)
    cdp.js("document.getElementById('job-cancel').click()")
    assert cdp.wait("document.body.dataset.jobStatus === 'cancelled'", timeout=120)
    assert server.json(f"/v1/jobs/{big_job}")[1]["status"] == "cancelled"
    assert cdp.js("document.getElementById('job-cancel').hidden") is True

    # Draw -> job with the scene's parameters -> the COG on the map and downloadable.
    cdp.js("document.getElementById('draw').click()")
    w = (x1 - x0) // 4
    cdp.drag(cx - w, cy - w, cx + w, cy + w)
    cdp.wait(f"document.body.dataset.jobId && document.body.dataset.jobId !== '{big_job}'", timeout=60)
    status = cdp.wait("['succeeded','failed','cancelled'].includes(document.body.dataset.jobStatus) && "
                      "document.body.dataset.jobStatus", timeout=300)
    job_id = cdp.js("document.body.dataset.jobId")
    assert status == "succeeded", server.json(f"/v1/jobs/{job_id}")
    cdp.wait("document.body.dataset.overlayLoaded === '1'", timeout=60)
    job = server.json(f"/v1/jobs/{job_id}")[1]
    with urllib.request.urlopen(server.url + job["links"]["result"], timeout=60) as res:
        assert res.read(4) in (b"II*\x00", b"MM\x00*")
    # the overlay sits where the job's bounds are and shows the result's pixels
    ox0, oy0, ox1, oy1 = _screen_box(cdp, "window.satgeo.overlay.getBounds()")
    assert abs(ox0 - (cx - w)) < 12 and abs(oy1 - (cy + w)) < 12, (ox0, oy0, ox1, oy1, cx, cy, w)
    cdp.js("window.satgeo.map.removeLayer(window.satgeo.tiles), 0")  # so what shows is the overlay alone
    time.sleep(0.5)
    img = np.asarray(Image.open(io.BytesIO(cdp.screenshot())).convert("RGB")).astype(int)
    (tmp_path / "webmap-result.png").write_bytes(cdp.screenshot())
    inside = img[oy0 + 4:oy1 - 4, ox0 + 4:ox1 - 4]
    assert inside.std() > 10 and (np.abs(inside - np.array([0x1D, 0x23, 0x30])).sum(axis=2) < 6).mean() < 0.05
    assert cdp.js("document.querySelector('.leaflet-image-layer').complete") is True
    assert _max_block(cdp) < LOADING_BLOCK_S

    # A link to the job opens fitted to its result, shown on the map.
    cdp.open_page(f"{server.url}/?job={job_id}")
    cdp.wait("document.body && document.body.dataset.overlayLoaded === '1'", timeout=60)
    view = cdp.js("(() => { const b = window.satgeo.map.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")
    jw, js_, je, jn = job["bounds"]
    assert view[0] <= jw and view[1] <= js_ and view[2] >= je and view[3] >= jn, (view, job["bounds"])
    assert (je - jw) > 0.3 * (view[2] - view[0])  # fitted, not a world view
    print(f"first metatile rendered {render:.2f} s after the scene showed, first tile {lag:.2f} s later; "
          f"first tile {first_tile:.2f} s after the scene showed, all {all_tiles:.2f} s ({metatiles} metatiles); longest main-thread task {_max_block(cdp) * 1000:.0f} ms")
