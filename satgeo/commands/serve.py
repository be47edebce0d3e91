"""`satgeo serve`: the local generation server (FastAPI + uvicorn)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click

from satgeo.errors import InputError


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


def _basemap(url: str | None, attribution: str | None) -> tuple[str | None, str | None]:
    """The basemap URL and its attribution, or a one-line InputError saying what is missing."""
    if not url:
        if attribution:
            raise InputError("--basemap-attribution needs --basemap URL")
        return None, None
    url = url.strip()
    if not url.startswith(("http://", "https://", "/")) or not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise InputError(f"--basemap must be an XYZ URL template with {{z}}, {{x}} and {{y}}, got {url!r}; "
                         "e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    if not attribution:
        if "openstreetmap.org" not in url:
            raise InputError("--basemap needs --basemap-attribution TEXT: every basemap must credit its source")
        attribution = OSM_ATTRIBUTION
    return url, attribution


def register(app: click.Group) -> None:
    @app.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="Address to bind; anything but loopback requires a bearer token (generated and printed).")
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
                  help="Port (0 picks a free one; the 'listening on' line says which).")
    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Where jobs, scenes, uploads and tile caches live; layer paths must be inside it. "
                       "[default: $SATGEO_HOME/server]")
    @click.option("--token", envvar="SATGEO_SERVER_TOKEN", default=None,
                  help="Bearer token to require (also $SATGEO_SERVER_TOKEN); generated for non-loopback hosts.")
    @click.option("--cors-origin", "cors_origins", multiple=True,
                  help="Allow browser calls from this origin (repeatable); CORS is off without it.")
    @click.option("--metatile", default=4, show_default=True, type=click.IntRange(1, 16),
                  help="Tiles per metatile side for live XYZ scenes.")
    @click.option("--max-area-km2", default=25.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
    @click.option("--max-queued-jobs", default=16, show_default=True, type=click.IntRange(1))
    @click.option("--device", default=None, metavar="DEVICE",
                  help="Torch device for jobs and tiles: cpu, cuda, cuda:N or mps (checked at startup; "
                       "default: each model's choice, CUDA when available).")
    @click.option("--basemap", "basemap_url", default=None, metavar="URL",
                  help="XYZ tile URL template ({z}/{x}/{y}, optional {s}) shown under the scenes on the web map; "
                       "off by default. See docs/server.md for OpenStreetMap's tiles and their usage policy.")
    @click.option("--basemap-attribution", default=None, metavar="TEXT",
                  help="Attribution of the --basemap tiles (required unless the URL is OpenStreetMap's).")
    @click.option("--log-level", default="warning", show_default=True,
                  type=click.Choice(["critical", "error", "warning", "info", "debug"]))
    def serve(host: str, port: int, data_dir: Path | None, token: str | None, cors_origins: tuple[str, ...],
              metatile: int, max_area_km2: float, max_queued_jobs: int, device: str | None, basemap_url: str | None,
              basemap_attribution: str | None, log_level: str) -> None:
        """Run the generation server: jobs, live XYZ tiles and a web map at http://HOST:PORT/."""
        import uvicorn

        from satgeo.models.registry import satgeo_home
        from satgeo_server import Settings, create_app

        settings = Settings(
            data_dir=data_dir or satgeo_home() / "server", host=host, token=token or None,
            cors_origins=list(cors_origins), metatile=metatile, max_area_km2=max_area_km2,
            max_queued_jobs=max_queued_jobs, device=device,
        )
        settings.basemap_url, settings.basemap_attribution = _basemap(basemap_url, basemap_attribution)
        app_ = create_app(settings)  # refuses a --device this machine cannot generate on, before listening
        sock = _bind(host, port)
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        if settings.token:
            click.echo(f"bearer token: {settings.token}  (send 'Authorization: Bearer <token>')")
        where = f"data dir {settings.data_dir}" + (f", device {settings.device}" if settings.device else "")
        click.echo(f"satgeo server listening on http://{shown}:{bound_port} ({where})")
        sys.stdout.flush()
        config = uvicorn.Config(app_, log_level=log_level, access_log=False, timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
