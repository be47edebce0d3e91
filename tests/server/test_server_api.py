"""The HTTP API in-process (no worker running): validation, limits, auth, uploads, scenes, store."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from server_support import FOOTPRINTS

from satgeo_server import Settings, create_app
from satgeo_server.store import RUNNING, Store

BBOX = [85.5196, 27.6308, 85.5222, 27.6328]


@pytest.fixture
def client(data_dir):
    return TestClient(create_app(Settings(data_dir, max_queued_jobs=3, max_upload_bytes=400_000)))


def _fc() -> dict:
    return json.loads(FOOTPRINTS.read_text())


def test_health_models_openapi(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["auth"] is False
    models = client.get("/v1/models").json()
    assert any(m["name"] == "pix2pix-banepa" and m["default"] for m in models)
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result.tif", "/v1/scenes",
              "/v1/scenes/{scene_id}/tilejson.json", "/v1/scenes/{scene_id}/tiles/{z}/{x}/{y}.png", "/health",
              "/v1/models"):
        assert p in paths
    assert "delete" in paths["/v1/jobs/{job_id}"]


def test_job_is_queued_with_links_and_can_be_cancelled(client, data_dir):
    r = client.post("/v1/jobs", json={"bbox": BBOX, "model": "models/tiny", "footprints": _fc(), "seed": 3})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert (data_dir / "jobs" / job_id / "footprints.geojson").is_file()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "queued" and job["progress"] == 0 and job["links"]["result"].endswith("/result.tif")
    assert client.get(f"/v1/jobs/{job_id}/result.tif").status_code == 409
    assert client.delete(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert client.get("/v1/jobs/nope").status_code == 404


@pytest.mark.parametrize("body, status, words", [
    ({"bbox": BBOX, "aoi": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}, 422, "exactly one"),
    ({}, 422, "exactly one"),
    ({"bbox": [1, 1, 0, 0]}, 422, "bbox must be"),
    ({"bbox": BBOX, "crs": "EPSG:999999"}, 422, "crs"),
    ({"bbox": [0, 0, 1, 1]}, 413, "km²"),
    ({"bbox": BBOX, "gsd": 0.001, "model": "models/tiny"}, 422, "native"),
    ({"bbox": [85.50, 27.60, 85.54, 27.636], "model": "models/tiny"}, 413, "px"),
    ({"bbox": BBOX, "model": "../../etc/passwd"}, 422, "outside"),
    ({"bbox": BBOX, "model": "no-such-model"}, 422, "unknown model"),
    ({"aoi": {"type": "Polygon", "coordinates": [[[0, 0], [1]]]}}, 422, "aoi"),
    ({"aoi": {"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]}}, 422, "lon/lat"),
    ({"bbox": BBOX, "cloud_cover": 2}, 422, "cloud_cover"),
    ({"bbox": BBOX, "guidance": -1}, 422, "guidance"),
    ({"bbox": BBOX, "scheduler": "euler"}, 422, "scheduler"),
    ({"bbox": BBOX, "footprints": {"type": "FeatureCollection", "features": [{"geometry": 5}]}}, 422, "footprints"),
])
def test_bad_jobs_get_one_line_4xx(client, data_dir, body, status, words):
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words.lower() in detail.lower() and "\n" not in detail
    assert not (data_dir / "jobs").exists() or not any((data_dir / "jobs").iterdir())


def test_queue_limit_answers_429(client):
    for _ in range(3):
        assert client.post("/v1/jobs", json={"bbox": BBOX, "model": "models/tiny"}).status_code == 202
    r = client.post("/v1/jobs", json={"bbox": BBOX, "model": "models/tiny"})
    assert r.status_code == 429 and "queued" in r.json()["detail"]


def test_body_limit_413(client):
    r = client.post("/v1/jobs", content=b"{" + b" " * 500_000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit is counted while reading
        for _ in range(10):
            yield b" " * 100_000

    r = client.post("/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_uploads_and_scene_tilejson(client, data_dir):
    with open(FOOTPRINTS.with_suffix(".gpkg"), "rb") as f:
        r = client.post("/v1/uploads", files={"file": ("b.gpkg", f, "application/geopackage+sqlite3")})
    assert r.status_code == 201, r.text
    up = r.json()
    assert (data_dir / up["path"]).is_file() and up["layers"]
    r = client.post("/v1/scenes", json={"name": "banepa", "layers": [{"path": up["path"]}], "model": "models/tiny"})
    assert r.status_code == 201, r.text
    scene = r.json()
    # 0.5 m/px at 27.6° N is closest to zoom 18
    assert scene["native_zoom"] == 18 and scene["minzoom"] < 18 < scene["maxzoom"]
    # same layers + params -> same id (content-addressed); inline GeoJSON of other data -> another id
    assert client.post("/v1/scenes", json={"layers": [{"path": up["path"]}], "model": "models/tiny"}).json()["id"] == scene["id"]
    guided = client.post("/v1/scenes", json={"layers": [{"path": up["path"]}], "model": "models/tiny", "guidance": 3.0,
                                             "scheduler": "dpm++"}).json()
    assert guided["id"] != scene["id"] and (guided["guidance"], guided["scheduler"]) == (3.0, "dpm++")
    assert scene["guidance"] is None and scene["scheduler"] is None
    loaded = client.app.state.services.scenes.load(guided["id"]).request  # what its tiles render with
    assert (loaded.guidance, loaded.scheduler) == (3.0, "dpm++")
    tj = client.get(scene["links"]["tilejson"]).json()
    assert tj["tiles"][0].endswith(f"/v1/scenes/{scene['id']}/tiles/{{z}}/{{x}}/{{y}}.png")
    west, south, east, north = tj["bounds"]
    assert 85.519 < west < east < 85.523 and 27.630 < south < north < 27.633
    assert "SYNTHETIC" in tj["attribution"]
    fp = client.get(scene["links"]["footprints"]).json()
    assert len(fp["features"]) == 347
    # a tile far outside the scene is transparent and costs no generation
    r = client.get(f"/v1/scenes/{scene['id']}/tiles/18/0/0.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))[..., 3].max() == 0
    assert client.get("/health").json()["stats"].get("metatiles_generated", 0) == 0
    assert client.get(f"/v1/scenes/{scene['id']}/tiles/30/0/0.png").status_code == 422
    assert client.get(f"/v1/scenes/{scene['id']}/tiles/18/999999999/0.png").status_code == 422
    assert client.get("/v1/scenes/nope/tilejson.json").status_code == 404


def test_bad_uploads_and_layer_paths(client, data_dir):
    r = client.post("/v1/uploads", files={"file": ("x.gpkg", b"not a geopackage", "application/octet-stream")})
    assert r.status_code == 422 and "cannot read" in r.json()["detail"]
    r = client.post("/v1/uploads", files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 422
    r = client.post("/v1/uploads", files={"file": ("big.geojson", b" " * 500_000, "application/json")})
    assert r.status_code == 413
    assert not [p for p in (data_dir / "uploads").iterdir()] if (data_dir / "uploads").exists() else True
    (data_dir.parent / "outside.geojson").write_text(FOOTPRINTS.read_text())
    r = client.post("/v1/scenes", json={"layers": [{"path": "../outside.geojson"}], "model": "models/tiny"})
    assert r.status_code == 422 and "outside" in r.json()["detail"]
    r = client.post("/v1/scenes", json={"layers": [{"path": "/etc/passwd"}]})
    assert r.status_code == 422
    r = client.post("/v1/scenes", json={"layers": [{"geojson": {"type": "FeatureCollection", "features": []}}],
                                        "model": "models/tiny"})
    assert r.status_code == 422 and "no features" in r.json()["detail"]


def test_token_required_off_loopback(data_dir):
    settings = Settings(data_dir, host="0.0.0.0")
    assert settings.token and len(settings.token) >= 32
    client = TestClient(create_app(settings))
    assert client.get("/health").status_code == 200
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {settings.token}"}).status_code == 200
    assert client.get(f"/v1/models?access_token={settings.token}").status_code == 200
    assert Settings(data_dir, host="127.0.0.1").token is None


def test_cors_off_unless_configured(data_dir):
    origin = {"Origin": "http://example.org"}
    off = TestClient(create_app(Settings(data_dir)))
    assert "access-control-allow-origin" not in off.get("/health", headers=origin).headers
    on = TestClient(create_app(Settings(data_dir, cors_origins=["http://example.org"])))
    assert on.get("/health", headers=origin).headers["access-control-allow-origin"] == "http://example.org"


def test_store_requeues_interrupted_and_honours_cancel(tmp_path):
    store = Store(tmp_path / "s.db")
    a = store.add_job({"n": 1})
    b = store.add_job({"n": 2})
    assert store.claim_next().id == a.id
    assert store.get_job(a.id).status == RUNNING
    assert store.claim_next().id == b.id
    store.cancel(b.id)  # flagged while running; the process dies before the worker sees it
    store2 = Store(tmp_path / "s.db")  # a restart
    assert store2.requeue_interrupted() == [a.id]
    assert store2.get_job(a.id).status == "queued" and store2.get_job(a.id).attempts == 1
    assert store2.get_job(b.id).status == "cancelled"


def test_index_page_and_vendored_leaflet(client):
    page = client.get("/")
    assert page.status_code == 200 and "leaflet.js" in page.text and "http" not in page.text.split("<body>")[1].split("satgeo")[0]
    assert "cdn" not in page.text.lower() and "unpkg" not in page.text.lower()
    js = client.get("/static/vendor/leaflet/leaflet.js")
    assert js.status_code == 200 and "Leaflet" in js.text[:500]


def test_upload_without_crs_in_projected_coordinates_is_refused_by_the_one_policy(client, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from satgeo.geo.layers import NO_CRS

    path = tmp_path / "utm.gpkg"
    gpd.GeoDataFrame(geometry=[box(500000, 5200000, 500100, 5200100)]).to_file(path)  # no SRS
    with open(path, "rb") as f:
        r = client.post("/v1/uploads", files={"file": ("utm.gpkg", f, "application/geopackage+sqlite3")})
    detail = r.json()["detail"]
    assert r.status_code == 422 and NO_CRS in detail and "\n" not in detail
    assert detail.startswith("utm.gpkg"), detail  # the user's file name, not the temporary one


@pytest.mark.parametrize("aoi, words", [
    # 350 degrees of longitude: Area.from_geometry refuses it (the server used to take it)
    ({"type": "Polygon", "coordinates": [[[-175, 0], [175, 0], [175, 1], [-175, 1], [-175, 0]]]}, "180 degrees"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}, "no area"),
])
def test_jobs_build_areas_through_the_validating_constructor(client, aoi, words):
    r = client.post("/v1/jobs", json={"aoi": aoi, "model": "models/tiny"})
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"] and r.json()["detail"].startswith("aoi")


def test_a_bow_tie_aoi_keeps_both_halves_and_the_worker_validates_stored_requests(tmp_path):
    from satgeo.errors import InputError
    from satgeo_server.inputs import area_from_request
    from satgeo_server.worker import build_render_request

    bow_tie = {"type": "Polygon", "coordinates": [[[85.52, 27.63], [85.522, 27.632], [85.522, 27.63], [85.52, 27.632],
                                                   [85.52, 27.63]]]}
    area = area_from_request(bow_tie, None, None)
    assert area.geometry.geom_type == "MultiPolygon"  # make_valid, as the CLI repairs it (buffer(0) lost a half)
    with pytest.raises(InputError, match="bbox must be"):
        build_render_request({"bbox": [1, 1, 0, 0]}, tmp_path)


def test_sampling_options_travel_from_the_job_to_the_render_request(client, data_dir):
    from satgeo_server.worker import build_render_request

    r = client.post("/v1/jobs", json={"bbox": BBOX, "model": "models/tiny", "guidance": 4.5, "scheduler": "ddim"})
    assert r.status_code == 202, r.text
    job = Store(data_dir / "satgeo-server.db").get_job(r.json()["id"])
    req = build_render_request(job.request, data_dir / "jobs" / job.id)
    assert (req.guidance, req.scheduler) == (4.5, "ddim")
    assert build_render_request({"bbox": BBOX}, data_dir).guidance is None


def test_listing_scenes_and_their_tilejson_loads_no_model(client, monkeypatch):
    r = client.post("/v1/scenes", json={"layers": [{"geojson": _fc()}], "model": "models/tiny"})
    assert r.status_code == 201, r.text
    scene = r.json()
    import satgeo.render.engine as engine

    monkeypatch.setattr(engine, "get_generator", lambda *a, **k: pytest.fail("a listing loaded a model"))
    assert [s["model_name"] for s in client.get("/v1/scenes").json()] == [scene["model_name"]]
    assert scene["model_name"] in client.get(scene["links"]["tilejson"]).json()["attribution"]
