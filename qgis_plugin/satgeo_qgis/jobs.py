"""Running a server job to completion: submit, poll, download. Shared by the QgsTask and Processing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from .client import CANCELLED, FAILED, SUCCEEDED, SatgeoClient, ServerError

POLL_SECONDS = 0.25


class JobCancelled(Exception):
    pass


def run_job(
    client: SatgeoClient,
    body: dict,
    dest: str,
    *,
    progress: Callable[[float], None] = lambda p: None,
    is_cancelled: Callable[[], bool] = lambda: False,
    on_submitted: Callable[[str], None] = lambda job_id: None,
    log: Callable[[str], None] = lambda msg: None,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float | None = None,
) -> str:
    """Submit ``body``, follow the job, download its COG to ``dest``; returns ``dest``.

    Progress goes 0..90 % while the server works and 90..100 % while downloading. On cancel
    the server job is cancelled too (DELETE) and ``JobCancelled`` is raised.
    """
    job_id = client.submit_job(body)
    on_submitted(job_id)
    log(f"satgeo job {job_id} submitted to {client.base_url}")
    started = time.monotonic()
    last_status = None
    try:
        while True:
            if is_cancelled():
                raise JobCancelled()
            job = client.job(job_id)
            status = str(job.get("status", "")).lower()
            if status != last_status:
                log(f"job {job_id}: {status}")
                last_status = status
            try:
                progress(90.0 * max(0.0, min(1.0, float(job.get("progress") or 0.0))))
            except (TypeError, ValueError):
                pass
            if status in SUCCEEDED:
                break
            if status in FAILED:
                raise ServerError(f"the server could not make the image: {job.get('error') or 'no reason given'}")
            if status in CANCELLED:
                raise JobCancelled()
            if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
                raise ServerError(f"job {job_id} did not finish within {timeout_seconds:.0f} s")
            deadline = time.monotonic() + poll_seconds
            while time.monotonic() < deadline:  # sleep in slices so a cancel is seen quickly
                if is_cancelled():
                    raise JobCancelled()
                time.sleep(0.05)
    except JobCancelled:
        log(f"cancelling job {job_id} on the server")
        try:
            client.cancel_job(job_id)
        except ServerError as exc:
            log(f"could not cancel job {job_id}: {exc}")
        raise

    def on_bytes(received, total):
        if total and total > 0:
            try:
                progress(90.0 + 10.0 * received / total)
            except RuntimeError:  # the feedback/task object was deleted under us
                pass

    url = client.result_url({**job, "id": job_id})
    client.download(url, dest, progress=on_bytes)
    if is_cancelled():  # cancelled while downloading: the user does not want the file
        os.unlink(dest)
        raise JobCancelled()
    progress(100.0)
    log(f"job {job_id}: result saved to {dest}")
    return dest
