"""Pydantic models of the HTTP API (they make /openapi.json)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from satgeo.models.ds_config import Scheduler

Finite = Field(allow_inf_nan=False)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def exactly_one(first: object, second: object, message: str) -> None:
    """For "give exactly one of these two fields" validators: a ValueError (a 422) unless just one is set."""
    if (first is None) == (second is None):
        raise ValueError(message)


class Geometry(Strict):
    """A GeoJSON Polygon or MultiPolygon in EPSG:4326 (lon, lat)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(min_length=1, max_length=10_000)


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection in EPSG:4326 (footprints, roads, water, landuse)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(max_length=500_000)


class GenerationParams(Strict):
    model: str | None = Field(None, max_length=500, description="registry name, or a path inside --data-dir")
    prompt: str | None = Field(None, max_length=2000)
    date: dt.date | None = None
    cloud_cover: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    steps: int | None = Field(None, ge=1, le=1000)
    guidance: float | None = Field(None, ge=0, le=100, allow_inf_nan=False,
                                   description="classifier-free guidance scale (diffusion models)")
    scheduler: Scheduler | None = Field(None, description="sampler (diffusion models)")


class JobCreate(GenerationParams):
    """An area to render into a COG: ``aoi`` (EPSG:4326) or ``bbox`` + ``crs``."""

    aoi: Geometry | None = None
    bbox: list[float] | None = Field(None, min_length=4, max_length=4, description="W S E N in crs")
    crs: str = Field("EPSG:4326", max_length=200)
    footprints: FeatureCollection | None = None
    gsd: float | None = Field(None, gt=0, le=10_000, allow_inf_nan=False, description="ground m/px")

    @model_validator(mode="after")
    def _one_area(self) -> JobCreate:
        exactly_one(self.aoi, self.bbox, "give exactly one of aoi (GeoJSON geometry) or bbox (W S E N)")
        return self


class JobCreated(BaseModel):
    id: str
    status: str
    links: dict[str, str]


class JobStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    error: str | None = None
    attempts: int
    created: float
    updated: float
    links: dict[str, str]
    bounds: list[float] | None = Field(None, description="W S E N (EPSG:4326) of the result, once it exists")


class LayerRef(Strict):
    """A layer of a scene: a path inside --data-dir (or an upload), or inline GeoJSON."""

    path: str | None = Field(None, max_length=1000)
    geojson: FeatureCollection | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LayerRef:
        exactly_one(self.path, self.geojson, "a layer needs exactly one of path or geojson")
        return self


class SceneCreate(GenerationParams):
    name: str | None = Field(None, max_length=200)
    layers: list[LayerRef] = Field(min_length=1, max_length=16)
    native_zoom: int | None = Field(None, ge=1, le=22, description="zoom generated natively")


class Scene(BaseModel):
    id: str
    name: str | None
    bounds: list[float]
    native_zoom: int
    minzoom: int
    maxzoom: int
    model: str
    model_name: str = Field(description="the model's own name (``model`` may be a checkpoint path)")
    prompt: str | None = None
    date: str | None = None
    cloud_cover: float | None = None
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    links: dict[str, str]


class Upload(BaseModel):
    path: str = Field(description="use as a scene layer path")
    layers: list[str]
    bytes: int


class ModelInfo(BaseModel):
    name: str
    family: str
    description: str
    available: bool
    default: bool


class Basemap(BaseModel):
    url: str
    attribution: str
    max_zoom: int


class WebMapConfig(BaseModel):
    """What the web map page needs to know about this server."""

    basemap: Basemap | None = None
    max_area_km2: float
    default_model: str


class Health(BaseModel):
    status: str
    version: str
    auth: bool
    device: str | None = Field(None, description="torch device generation runs on (--device); null: each model's own choice")
    jobs_active: int
    stats: dict[str, int]


class TileJSON(BaseModel):
    model_config = ConfigDict(extra="allow")
    tilejson: str
    name: str
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float]
    attribution: str
