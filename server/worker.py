"""The job worker: one thread per device, running queued jobs one at a time."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from satgeo.errors import Cancelled, SatgeoError
from satgeo_server import store as st
from satgeo_server.settings import Settings

log = logging.getLogger("satgeo.server")

RESULT_NAME = "result.tif"


def job_dir(settings: Settings, job_id: str) -> Path:
    return settings.data_dir / "jobs" / job_id


def stac_path(result: Path) -> Path | None:
    """The STAC sidecar the engine wrote beside ``result`` (the name is the engine's choice)."""
    for cand in (result.with_suffix(".json"), result.with_name(result.stem + ".stac.json"),
                 result.with_name(result.name + ".json")):
        if cand.is_file():
            return cand
    return None


def build_render_request(req: dict[str, Any], folder: Path):
    from satgeo.render.request import RenderRequest
    from satgeo_server.inputs import area_from_request

    area = area_from_request(req.get("aoi") or None, req.get("bbox"), req.get("crs"))
    footprints = folder / "footprints.geojson"
    layers = [str(footprints)] if footprints.exists() else []
    return RenderRequest(
        area=area,
        layers=layers,
        model=req.get("model"),
        prompt=req.get("prompt"),
        date=dt.date.fromisoformat(req["date"]) if req.get("date") else None,
        cloud_cover=req.get("cloud_cover"),
        seed=int(req.get("seed") or 0),
        gsd=req.get("gsd"),
        steps=req.get("steps"),
        guidance=req.get("guidance"),
        scheduler=req.get("scheduler"),
    )


class JobWorker(threading.Thread):
    """Claims queued jobs from the store and renders them with ``renderer.render_to_cog``."""

    def __init__(self, store: st.Store, settings: Settings, renderer: Any = None, name: str = "job-worker") -> None:
        super().__init__(name=name, daemon=True)
        self.store = store
        self.settings = settings
        self._renderer = renderer
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._current: tuple[str, threading.Event] | None = None
        self._lock = threading.Lock()

    @property
    def renderer(self) -> Any:
        if self._renderer is None:
            from satgeo.render import engine

            self._renderer = engine
        return self._renderer

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            if self._current:
                self._current[1].set()
        self.wake()
        if self.is_alive():
            self.join(timeout)

    def cancel(self, job_id: str) -> bool:
        """Stop ``job_id`` if it is the running job; True when it was."""
        with self._lock:
            if self._current and self._current[0] == job_id:
                self._current[1].set()
                return True
        return False

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim_next()
            except Exception:  # a locked database must not kill the worker
                log.exception("claiming a job failed")
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            try:
                self._execute(job)
            except Exception:  # the store itself failed: log, keep the worker alive
                log.exception("job %s could not be run", job.id)

    def _execute(self, job: st.Job) -> None:
        folder = job_dir(self.settings, job.id)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / RESULT_NAME
        for stale in folder.glob(".*"):  # temp files/folders of a run killed mid-write
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        cancel = threading.Event()
        with self._lock:
            self._current = (job.id, cancel)
        last = [0.0, time.monotonic()]

        def progress(frac: float) -> None:
            now = time.monotonic()
            if frac >= 1.0 or frac - last[0] >= 0.01 or now - last[1] >= 0.5:
                last[0], last[1] = frac, now
                self.store.set_progress(job.id, min(frac, 0.999))
            if cancel.is_set():
                raise Cancelled("job cancelled")

        try:
            if self.store.cancel_requested(job.id):
                raise Cancelled("job cancelled")
            # the device is the server's (--device), not the job's: it is not stored with the request
            request = replace(build_render_request(job.request, folder), device=self.settings.device)
            self.renderer.render_to_cog(request, out, progress=progress, cancel=cancel, stac=True)
            if cancel.is_set() and self.store.cancel_requested(job.id):
                raise Cancelled("job cancelled")
            self.store.finish(job.id, st.SUCCEEDED)
        except Cancelled:
            if self._stopping.is_set() and not self.store.cancel_requested(job.id):
                return  # server shutting down: leave it running so the next start re-runs it
            out.unlink(missing_ok=True)
            self.store.finish(job.id, st.CANCELLED, "cancelled by the user")
        except SatgeoError as exc:
            self.store.finish(job.id, st.FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            log.exception("job %s failed", job.id)
            self.store.finish(job.id, st.FAILED, f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
        finally:
            with self._lock:
                self._current = None
