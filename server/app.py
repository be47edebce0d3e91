"""The FastAPI app factory: builds the shared services once and mounts one router per resource.

The routes live in ``satgeo_server.routers`` and reach the services only through the dependencies in
``satgeo_server.deps``. A ``--device`` is checked here, before anything is served, so a bad one fails at
startup rather than in the first job or tile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI

from satgeo import __version__
from satgeo_server import handlers
from satgeo_server import store as st
from satgeo_server.deps import Services
from satgeo_server.middleware import BearerAuth, BodyLimit
from satgeo_server.routers import jobs, models, page, scenes, uploads
from satgeo_server.scenes import SceneRegistry
from satgeo_server.settings import Settings
from satgeo_server.tiles import TileService
from satgeo_server.worker import JobWorker

log = logging.getLogger("satgeo.server")


def create_app(settings: Settings, renderer: Any = None, run_jobs: bool = True) -> FastAPI:
    """The server app. ``renderer`` provides ``render_to_cog`` / ``render_grid`` (default: satgeo's engine).

    ``run_jobs=False`` queues jobs without running them (API tests, a front-end-only instance).
    """
    if settings.device is not None:
        from satgeo_server.device import check_device

        check_device(settings.device)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = st.Store(settings.db_path)
    scene_registry = SceneRegistry(settings, store)
    tiles = TileService(settings, scene_registry, renderer)
    worker = JobWorker(store, settings, renderer)
    services = Services(settings=settings, store=store, scenes=scene_registry, tiles=tiles, worker=worker)

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
    app.state.services = services
    handlers.install(app)

    for router in (page.router, models.router, jobs.router, uploads.router, scenes.router):
        app.include_router(router)
    page.mount_static(app)

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])
    if settings.token:
        app.add_middleware(BearerAuth, token=settings.token)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    return app


def _warm_up() -> None:
    try:
        from satgeo.models import registry

        registry.entries()
    except Exception:  # reported again, properly, by the first request that needs it
        log.exception("importing the model families failed")
