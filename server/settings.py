"""Server settings: where data lives, who may call, and the size limits."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    #: Bearer token every /v1 call must carry; generated when the host is not loopback.
    token: str | None = None
    #: Origins allowed by CORS; empty means CORS stays off.
    cors_origins: list[str] = field(default_factory=list)
    max_area_km2: float = 25.0
    max_pixels: int = 50_000_000
    max_upload_bytes: int = 50 * 1024 * 1024
    max_queued_jobs: int = 16
    #: Scenes are generated at one native zoom in metatiles of ``metatile`` x ``metatile`` tiles.
    metatile: int = 4
    #: Extra pixels rendered around each metatile and cropped away.
    metatile_margin: int = 0
    tile_size: int = 256
    #: Torch device for the job worker and tile generation (None = let the engine pick).
    device: str | None = None
    #: How many zooms below / above the native zoom a scene serves.
    zooms_below: int = 6
    zooms_above: int = 3
    #: XYZ URL template of a basemap under the scenes (``{z}/{x}/{y}``, optional ``{s}``); None: no basemap.
    basemap_url: str | None = None
    #: Attribution shown with the basemap (required whenever ``basemap_url`` is set).
    basemap_attribution: str | None = None
    #: Highest zoom the basemap has tiles for; the map scales them up beyond.
    basemap_max_zoom: int = 19

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if self.token is None and not is_loopback(self.host):
            self.token = secrets.token_urlsafe(32)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "satgeo-server.db"
