"""``/v1/jobs``: render an area into a COG in the background; status, cancel, result, preview and STAC item."""

from __future__ import annotations

import shutil

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from satgeo_server import inputs
from satgeo_server import store as st
from satgeo_server.deps import JobDep, ResultDep, Services, ServicesDep, SettingsDep, StoreDep, WorkerDep, job_or_404
from satgeo_server.scenes import model_card
from satgeo_server.schemas import JobCreate, JobCreated, JobStatus
from satgeo_server.worker import RESULT_NAME, job_dir, stac_path

router = APIRouter()


def job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "result": f"{base}/result.tif", "stac": f"{base}/stac.json", "preview": f"{base}/preview.png"}


def _bounds(services: Services, job: st.Job) -> list[float] | None:
    if job.status != st.SUCCEEDED:
        return None
    if job.id not in services.result_bounds:
        path = job_dir(services.settings, job.id) / RESULT_NAME
        if not path.is_file():
            return None
        from satgeo_server.preview import cog_bounds_lonlat

        services.result_bounds[job.id] = cog_bounds_lonlat(path)
    return services.result_bounds[job.id]


def _status(services: Services, job: st.Job) -> JobStatus:
    return JobStatus(id=job.id, status=job.status, progress=job.progress, error=job.error,
                     attempts=job.attempts, created=job.created, updated=job.updated, links=job_links(job.id),
                     bounds=_bounds(services, job))


@router.post("/v1/jobs", status_code=202, response_model=JobCreated)
def create_job(body: JobCreate, settings: SettingsDep, store: StoreDep, worker: WorkerDep) -> JobCreated:
    area = inputs.area_from_job(body)
    model = inputs.resolve_model(body.model, settings)
    from satgeo.render.engine import check_gsd

    # loads the model once (cached, on the server's device): a missing default fails here, not later
    card = model_card(model, settings.device)
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
    return JobCreated(id=job.id, status=job.status, links=job_links(job.id))


@router.get("/v1/jobs", response_model=list[JobStatus])
def list_jobs(services: ServicesDep) -> list[JobStatus]:
    return [_status(services, j) for j in services.store.jobs()]


@router.get("/v1/jobs/{job_id}", response_model=JobStatus)
def get_job(job: JobDep, services: ServicesDep) -> JobStatus:
    return _status(services, job)


@router.delete("/v1/jobs/{job_id}", response_model=JobStatus)
def cancel_job(job: JobDep, services: ServicesDep) -> JobStatus:
    if services.store.cancel(job.id) == st.RUNNING:
        services.worker.cancel(job.id)
    return _status(services, job_or_404(job.id, services.store))  # as it is after the cancel


@router.get("/v1/jobs/{job_id}/result.tif", response_class=FileResponse,
            responses={200: {"content": {"image/tiff": {}}}})
def job_result(job: JobDep, result: ResultDep) -> FileResponse:
    return FileResponse(result, media_type="image/tiff; application=geotiff; profile=cloud-optimized",
                        filename=f"satgeo-{job.id}.tif")


@router.get("/v1/jobs/{job_id}/preview.png", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}})
def job_preview(result: ResultDep) -> FileResponse:
    """The result warped to Web Mercator, at most 1024 px a side (the job's ``bounds`` place it)."""
    from satgeo_server.preview import job_preview as make_preview

    png, _ = make_preview(result)
    return FileResponse(png, media_type="image/png")


@router.get("/v1/jobs/{job_id}/stac.json", responses={200: {"content": {"application/json": {}}}})
def job_stac(result: ResultDep) -> FileResponse:
    sidecar = stac_path(result)
    if sidecar is None:
        raise HTTPException(404, "this job's result has no STAC sidecar")
    return FileResponse(sidecar, media_type="application/geo+json")
