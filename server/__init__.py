"""satgeo's local generation server (FastAPI): jobs, scenes, XYZ tiles and a web map page."""

from satgeo_server.app import create_app
from satgeo_server.settings import Settings

__all__ = ["create_app", "Settings"]
