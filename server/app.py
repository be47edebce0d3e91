"""The FastAPI app factory: jobs, scenes, XYZ tiles and the web map page."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from satgeo import __version__
from satgeo.errors import Cancelled, InputError, LimitError, ModelError, SatgeoError
from satgeo_server import inputs
from satgeo_server import store as st
from satgeo_server.middleware import BearerAuth, BodyLimit
from satgeo_server.scenes import SceneRegistry, model_card
from satgeo_server.schemas import (
    Basemap,
    Health,
    JobCreate,
    JobCreated,
    JobStatus,
    ModelInfo,
    Scene,
    SceneCreate,
    TileJSON,
    Upload,
    WebMapConfig,
)
from satgeo_server.settings import Settings
from satgeo_server.tiles import TileService
from satgeo_server.worker import RESULT_NAME, JobWorker, job_dir, stac_path

log = logging.getLogger("satgeo.server")
STATIC = Path(__file__).parent / "static"
PNG_HEADERS = {"Cache-Control": "public, max-age=86400"}
ERROR_STATUS = {InputError: 422, ModelError: 422, LimitError: 413, Cancelled: 409}


def _job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "result": f"{base}/result.tif", "stac": f"{base}/stac.json", "preview": f"{base}/preview.png"}


def _scene_links(scene_id: str) -> dict[str, str]:
    base = f"/v1/scenes/{scene_id}"
    return {"self": base, "tilejson": f"{base}/tilejson.json", "tiles": base + "/tiles/{z}/{x}/{y}.png",
            "footprints": f"{base}/footprints.geojson"}


def create_app(settings: Settings, renderer: Any = None, run_jobs: bool = True) -> FastAPI:
    """The server app. ``renderer`` provides ``render_to_cog`` / ``render_grid`` (default: satgeo's engine).

    ``run_jobs=False`` queues jobs without running them (API tests, a front-end-only instance).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = st.Store(settings.db_path)
    scenes = SceneRegistry(settings, store)
    tiles = TileService(settings, scenes, renderer)
    worker = JobWorker(store, settings, renderer)
    spec_cache: dict[str, dict] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        requeued = store.requeue_interrupted()
        if requeued:
            log.warning("re-running %d job(s) interrupted by the last shutdown", len(requeued))
        # import the model families (torch, diffusers) now rather than in the first request
        threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
        if run_jobs:
            worker.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(worker.stop)

    app = FastAPI(
        title="satgeo server",
        version=__version__,
        description="Synthetic, georeferenced satellite imagery: jobs (COG), live XYZ tiles, web map.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.store, app.state.tiles, app.state.worker = settings, store, tiles, worker

    @app.exception_handler(SatgeoError)
    async def _satgeo_error(request: Request, exc: SatgeoError) -> JSONResponse:
        status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 422)
        return JSONResponse({"detail": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid request")
        return JSONResponse({"detail": detail, "errors": _jsonable_errors(errors)}, 422)

    # -- service ------------------------------------------------------------------------------

    @app.get("/health", response_model=Health)
    def health() -> Health:
        return Health(status="ok", version=__version__, auth=settings.token is not None,
                      jobs_active=store.count_active(), stats=dict(tiles.stats))

    @app.get("/v1/models", response_model=list[ModelInfo])
    def models() -> list[ModelInfo]:
        from satgeo.models import registry

        out = []
        for name, entry in sorted(registry.entries().items()):
            try:
                registry.resolve(name)
                available = True
            except SatgeoError:
                available = False
            out.append(ModelInfo(name=name, family=entry.family, description=entry.description,
                                 available=available, default=name == registry.DEFAULT_MODEL))
        return out

    # -- jobs ---------------------------------------------------------------------------------

    @app.post("/v1/jobs", status_code=202, response_model=JobCreated)
    def create_job(body: JobCreate) -> JobCreated:
        area = inputs.area_from_job(body)
        model = inputs.resolve_model(body.model, settings)
        from satgeo.render.engine import check_gsd

        card = model_card(model)  # loads the model once (cached): a missing default fails here, not later
        if body.gsd is not None:
            check_gsd(body.gsd, card)
        inputs.check_area_limits(area, body.gsd or card.native_gsd, settings)
        job_id = st.new_job_id()
        folder = job_dir(settings, job_id)
        request = body.model_dump(mode="json", exclude={"footprints"})
        request["model"] = model
        try:
            if body.footprints is not None:
                inputs.write_feature_collection(body.footprints, folder / "footprints.geojson")
            job = store.add_job(request, max_active=settings.max_queued_jobs, job_id=job_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if job is None:
            shutil.rmtree(folder, ignore_errors=True)
            raise HTTPException(429, f"{settings.max_queued_jobs} jobs are already queued or running; retry later")
        worker.wake()
        return JobCreated(id=job.id, status=job.status, links=_job_links(job.id))

    def _job_or_404(job_id: str) -> st.Job:
        job = store.get_job(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    result_bounds: dict[str, list[float]] = {}

    def _bounds(job: st.Job) -> list[float] | None:
        if job.status != st.SUCCEEDED:
            return None
        if job.id not in result_bounds:
            path = job_dir(settings, job.id) / RESULT_NAME
            if not path.is_file():
                return None
            from satgeo_server.preview import cog_bounds_lonlat

            result_bounds[job.id] = cog_bounds_lonlat(path)
        return result_bounds[job.id]

    def _status(job: st.Job) -> JobStatus:
        return JobStatus(id=job.id, status=job.status, progress=job.progress, error=job.error,
                         attempts=job.attempts, created=job.created, updated=job.updated, links=_job_links(job.id),
                         bounds=_bounds(job))

    @app.get("/v1/jobs", response_model=list[JobStatus])
    def list_jobs() -> list[JobStatus]:
        return [_status(j) for j in store.jobs()]

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus)
    def get_job(job_id: str) -> JobStatus:
        return _status(_job_or_404(job_id))

    @app.delete("/v1/jobs/{job_id}", response_model=JobStatus)
    def cancel_job(job_id: str) -> JobStatus:
        _job_or_404(job_id)
        if store.cancel(job_id) == st.RUNNING:
            worker.cancel(job_id)
        return _status(_job_or_404(job_id))

    def _result(job_id: str) -> Path:
        job = _job_or_404(job_id)
        if job.status != st.SUCCEEDED:
            raise HTTPException(409, f"job is {job.status}; the result exists once it has succeeded")
        path = job_dir(settings, job_id) / RESULT_NAME
        if not path.is_file():
            raise HTTPException(410, "the job's result file is gone from the server's data directory")
        return path

    @app.get("/v1/jobs/{job_id}/result.tif", response_class=FileResponse,
             responses={200: {"content": {"image/tiff": {}}}})
    def job_result(job_id: str) -> FileResponse:
        return FileResponse(_result(job_id), media_type="image/tiff; application=geotiff; profile=cloud-optimized",
                            filename=f"satgeo-{job_id}.tif")

    @app.get("/v1/jobs/{job_id}/preview.png", response_class=FileResponse,
             responses={200: {"content": {"image/png": {}}}})
    def job_preview(job_id: str) -> FileResponse:
        """The result warped to Web Mercator, at most 1024 px a side (the job's ``bounds`` place it)."""
        from satgeo_server.preview import job_preview as make_preview

        png, _ = make_preview(_result(job_id))
        return FileResponse(png, media_type="image/png")

    @app.get("/v1/jobs/{job_id}/stac.json", responses={200: {"content": {"application/json": {}}}})
    def job_stac(job_id: str) -> FileResponse:
        sidecar = stac_path(_result(job_id))
        if sidecar is None:
            raise HTTPException(404, "this job's result has no STAC sidecar")
        return FileResponse(sidecar, media_type="application/geo+json")

    # -- uploads and scenes -------------------------------------------------------------------

    @app.post("/v1/uploads", response_model=Upload, status_code=201)
    def upload(file: Annotated[UploadFile, File()]) -> Upload:
        suffix = Path(file.filename or "").suffix.lower()
        if suffix not in inputs.LAYER_SUFFIXES:
            raise InputError(f"upload a GeoJSON or GeoPackage file ({', '.join(inputs.LAYER_SUFFIXES)}), got {suffix or 'no extension'!r}")
        folder = settings.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload.", suffix=suffix, delete=False) as tmp:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    Path(tmp.name).unlink(missing_ok=True)
                    raise LimitError(f"upload is above this server's limit of {settings.max_upload_bytes:,} bytes")
                digest.update(chunk)
                tmp.write(chunk)
        tmp_path = Path(tmp.name)
        try:
            import pyogrio

            layers = [str(name) for name, _ in pyogrio.list_layers(tmp_path)]
            inputs.read_layer_file(tmp_path)
        except SatgeoError:
            tmp_path.unlink(missing_ok=True)
            raise
        except Exception as exc:
            tmp_path.unlink(missing_ok=True)
            raise InputError(f"cannot read the upload as {suffix[1:]}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        final = folder / f"{digest.hexdigest()[:32]}{suffix}"
        tmp_path.replace(final)
        return Upload(path=str(final.relative_to(settings.data_dir)), layers=layers, bytes=size)

    def _scene_model(scene_id: str, spec: dict) -> Scene:
        lo, hi = tiles.zoom_range(spec)
        from satgeo.models.registry import DEFAULT_MODEL

        return Scene(id=scene_id, name=spec["name"], bounds=spec["bounds"], native_zoom=spec["native_zoom"],
                     minzoom=lo, maxzoom=hi, model=spec["model"] or DEFAULT_MODEL, model_name=_model_name(spec),
                     prompt=spec["prompt"], date=spec["date"], cloud_cover=spec["cloud_cover"], seed=spec["seed"],
                     steps=spec["steps"], links=_scene_links(scene_id))

    @app.post("/v1/scenes", response_model=Scene, status_code=201)
    def create_scene(body: SceneCreate) -> Scene:
        scene_id, spec = scenes.create(body)
        return _scene_model(scene_id, spec)

    @app.get("/v1/scenes", response_model=list[Scene])
    def list_scenes() -> list[Scene]:
        return [_scene_model(i, s) for i, s in store.scenes()]

    def _spec(scene_id: str) -> dict:
        spec = spec_cache.get(scene_id)
        if spec is None:
            spec = store.get_scene(scene_id)
            if spec is None:
                raise HTTPException(404, f"no scene {scene_id!r}")
            spec_cache[scene_id] = spec
        return spec

    @app.get("/v1/scenes/{scene_id}", response_model=Scene)
    def get_scene(scene_id: str) -> Scene:
        return _scene_model(scene_id, _spec(scene_id))

    @app.get("/v1/scenes/{scene_id}/tilejson.json", response_model=TileJSON)
    def tilejson(scene_id: str, request: Request) -> TileJSON:
        spec = _spec(scene_id)
        lo, hi = tiles.zoom_range(spec)
        west, south, east, north = spec["bounds"]
        url = str(request.base_url).rstrip("/") + f"/v1/scenes/{scene_id}/tiles/{{z}}/{{x}}/{{y}}.png"
        token = request.query_params.get("access_token")
        if token:
            url += f"?access_token={token}"
        model = _model_name(spec)
        return TileJSON(
            tilejson="3.0.0", name=spec["name"] or f"satgeo scene {scene_id}", tiles=[url],
            minzoom=lo, maxzoom=hi, bounds=[west, south, east, north],
            center=[(west + east) / 2, (south + north) / 2, spec["native_zoom"]],
            attribution=f"SYNTHETIC imagery generated by satgeo ({model}); not a real observation",
            scheme="xyz", format="png", tileSize=settings.tile_size,
        )

    @app.get("/v1/scenes/{scene_id}/footprints.geojson")
    def footprints(scene_id: str) -> JSONResponse:
        _spec(scene_id)
        return JSONResponse(scenes.footprints_geojson(scene_id), media_type="application/geo+json")

    @app.get("/v1/scenes/{scene_id}/tiles/{z}/{x}/{y}.png", response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    async def tile(scene_id: str, z: int, x: int, y: int) -> Response:
        spec = _spec(scene_id)
        tiles.check_tile(spec, z, x, y)
        if not tiles.in_scene(spec, z, x, y):
            return Response(tiles.empty_tile, media_type="image/png", headers=PNG_HEADERS)
        data = tiles.cached(scene_id, z, x, y)
        if data is None:
            data = await anyio.to_thread.run_sync(tiles.get_tile, scene_id, z, x, y)
        return Response(data, media_type="image/png", headers=PNG_HEADERS)

    # -- web map --------------------------------------------------------------------------------

    @app.get("/v1/webmap", response_model=WebMapConfig)
    def webmap_config() -> WebMapConfig:
        from satgeo.models.registry import DEFAULT_MODEL

        basemap = None
        if settings.basemap_url:
            basemap = Basemap(url=settings.basemap_url, attribution=settings.basemap_attribution or "",
                              max_zoom=settings.basemap_max_zoom)
        return WebMapConfig(basemap=basemap, max_area_km2=settings.max_area_km2, default_model=DEFAULT_MODEL)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])
    if settings.token:
        app.add_middleware(BearerAuth, token=settings.token)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    return app


def _model_name(spec: dict) -> str:
    """The name a scene's model goes by: its card's name, else the checkpoint folder's name."""
    from satgeo.models.registry import DEFAULT_MODEL

    model = spec["model"] or DEFAULT_MODEL
    try:
        return model_card(model).name or Path(model).name
    except Exception:  # noqa: BLE001 - a model that no longer loads still has a name to show
        return Path(model).name


def _warm_up() -> None:
    try:
        from satgeo.models import registry

        registry.entries()
    except Exception:  # reported again, properly, by the first request that needs it
        log.exception("importing the model families failed")


def _jsonable_errors(errors: Any) -> list[dict]:
    out = []
    for e in errors[:20]:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out
