"""FastAPI dependencies: the app's shared services, and path parameters resolved to records or a 404.

``create_app`` puts one :class:`Services` on ``app.state.services``; routers never build their own. The
getters are ``async`` because they only read memory: a sync dependency would cost a thread hop per request
(tiles are requested by the hundred). ``job_or_404`` reads the database, so it stays sync and runs in the
threadpool like the routes that use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from satgeo_server import store as st
from satgeo_server.scenes import SceneRegistry
from satgeo_server.settings import Settings
from satgeo_server.tiles import TileService
from satgeo_server.worker import RESULT_NAME, JobWorker, job_dir

SceneSpec = dict[str, Any]


@dataclass
class Services:
    """Everything the routes share, built once per app."""

    settings: Settings
    store: st.Store
    scenes: SceneRegistry
    tiles: TileService
    worker: JobWorker
    #: scene specs by id (a scene never changes once stored)
    scene_specs: dict[str, SceneSpec] = field(default_factory=dict)
    #: W S E N (EPSG:4326) of succeeded jobs' results, by job id
    result_bounds: dict[str, list[float]] = field(default_factory=dict)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_store(services: ServicesDep) -> st.Store:
    return services.store


async def get_scenes(services: ServicesDep) -> SceneRegistry:
    return services.scenes


async def get_tiles(services: ServicesDep) -> TileService:
    return services.tiles


async def get_worker(services: ServicesDep) -> JobWorker:
    return services.worker


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[st.Store, Depends(get_store)]
ScenesDep = Annotated[SceneRegistry, Depends(get_scenes)]
TilesDep = Annotated[TileService, Depends(get_tiles)]
WorkerDep = Annotated[JobWorker, Depends(get_worker)]


def job_or_404(job_id: str, store: StoreDep) -> st.Job:
    job = store.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


JobDep = Annotated[st.Job, Depends(job_or_404)]


def result_file(job: JobDep, settings: SettingsDep) -> Path:
    """The result file of a succeeded job; 409 while it is not done, 410 when the file is gone."""
    if job.status != st.SUCCEEDED:
        raise HTTPException(409, f"job is {job.status}; the result exists once it has succeeded")
    path = job_dir(settings, job.id) / RESULT_NAME
    if not path.is_file():
        raise HTTPException(410, "the job's result file is gone from the server's data directory")
    return path


ResultDep = Annotated[Path, Depends(result_file)]


async def scene_spec_or_404(scene_id: str, services: ServicesDep) -> SceneSpec:
    # async: the tile route awaits it on every request, and a cached spec is a dict lookup
    spec = services.scene_specs.get(scene_id)
    if spec is None:
        spec = services.store.get_scene(scene_id)
        if spec is None:
            raise HTTPException(404, f"no scene {scene_id!r}")
        services.scene_specs[scene_id] = spec
    return spec


SceneSpecDep = Annotated[SceneSpec, Depends(scene_spec_or_404)]
