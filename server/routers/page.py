"""The service and the web map page: ``/health``, ``/v1/webmap`` (the page's configuration), ``/`` and its static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from satgeo import __version__
from satgeo_server.deps import SettingsDep, StoreDep, TilesDep
from satgeo_server.schemas import Basemap, Health, WebMapConfig

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/health", response_model=Health)
def health(settings: SettingsDep, store: StoreDep, tiles: TilesDep) -> Health:
    return Health(status="ok", version=__version__, auth=settings.token is not None, device=settings.device,
                  jobs_active=store.count_active(), stats=dict(tiles.stats))


@router.get("/v1/webmap", response_model=WebMapConfig)
def webmap_config(settings: SettingsDep) -> WebMapConfig:
    from satgeo.models.registry import DEFAULT_MODEL

    basemap = None
    if settings.basemap_url:
        basemap = Basemap(url=settings.basemap_url, attribution=settings.basemap_attribution or "",
                          max_zoom=settings.basemap_max_zoom)
    return WebMapConfig(basemap=basemap, max_area_km2=settings.max_area_km2, default_model=DEFAULT_MODEL)


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def mount_static(app: FastAPI) -> None:
    """Serve ``static/`` (the page's script, styles and vendored Leaflet) under ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
