"""``/v1/models``: the registry's models and whether each can be loaded here."""

from __future__ import annotations

from fastapi import APIRouter

from satgeo.errors import SatgeoError
from satgeo_server.schemas import ModelInfo

router = APIRouter()


@router.get("/v1/models", response_model=list[ModelInfo])
def models() -> list[ModelInfo]:
    from satgeo.models import registry  # lazily: the model families import torch

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
