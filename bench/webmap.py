"""Web map time to first tile: a cold scene of the real default model, opened at 1400x900 in headless Chromium.

One run: `satgeo serve` on 127.0.0.1 with an empty data dir, a scene of the 95 Banepa test
footprints with the default model (pix2pix-banepa, native zoom 20 there), then the page at
1400x900. Measures, from navigation: the page answering (DevTools round trip), the first
tile drawn, every visible tile drawn; the longest main-thread task (Long Tasks API); and
the time `setZoom(2)` and back takes. Prints JSON.

    python3 bench/webmap.py [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "server"))

from chromium_support import HEIGHT, WIDTH, chromium_session  # noqa: E402
from server_support import FOOTPRINTS, LiveServer  # noqa: E402


def one_run(tmp: Path) -> dict:
    data = tmp / "data"
    data.mkdir(parents=True)
    shutil.copy(FOOTPRINTS, data / "banepa.geojson")
    server = LiveServer(data).start()
    try:
        t0 = time.monotonic()
        status, scene = server.json("/v1/scenes", {"name": "banepa", "layers": [{"path": "banepa.geojson"}]}, timeout=600)
        assert status == 201, scene
        scene_s = time.monotonic() - t0
        gen = chromium_session(tmp / "profile")
        cdp = next(gen)
        try:
            t_nav = time.monotonic()
            cdp.open_page(server.url + "/")
            cdp.wait("document.body && document.body.dataset.sceneId", timeout=120)
            answered = time.monotonic() - t_nav
            worst_rtt = 0.0
            while not cdp.js("window.satgeo.firstTileAt !== null"):
                worst_rtt = max(worst_rtt, cdp.timed_js("1")[1])
                if time.monotonic() - t_nav > 900:
                    raise RuntimeError("no tile in 900 s")
                time.sleep(0.05)
            first_tile = time.monotonic() - t_nav
            while cdp.js("document.body.dataset.tilesDone") != "1":
                worst_rtt = max(worst_rtt, cdp.timed_js("1")[1])
                time.sleep(0.2)
            all_tiles = time.monotonic() - t_nav
            zoom_fit = cdp.js("window.satgeo.map.getZoom()")
            _, zoom_out = cdp.timed_js("window.satgeo.map.setZoom(2, {animate: false}), 0")
            time.sleep(0.3)
            _, zoom_back = cdp.timed_js(f"window.satgeo.map.setZoom({zoom_fit}, {{animate: false}}), 0")
            longest = max(cdp.js("window.__longtasks") or [0]) / 1000
            tiles = cdp.js("window.satgeo.tilesLoaded")
        finally:
            gen.close()
        _, health = server.json("/health")
    finally:
        server.stop()
    return {
        "viewport": f"{WIDTH}x{HEIGHT}", "model": scene["model_name"], "native_zoom": scene["native_zoom"],
        "fitted_zoom": zoom_fit, "scene_create_s": round(scene_s, 2), "page_answered_s": round(answered, 2),
        "first_tile_s": round(first_tile, 2), "all_visible_tiles_s": round(all_tiles, 2), "tiles": tiles,
        "metatiles_generated": health["stats"].get("metatiles_generated"),
        "worst_devtools_round_trip_s": round(worst_rtt, 3), "longest_main_thread_task_s": round(longest, 3),
        "set_zoom_2_s": round(zoom_out, 3), "set_zoom_back_s": round(zoom_back, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="satgeo-bench-webmap-") as tmp:
            runs.append(one_run(Path(tmp)))
    print(json.dumps({"bench": "webmap", "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
