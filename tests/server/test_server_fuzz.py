"""Schemathesis against /openapi.json: malformed input never gets a 5xx."""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from satgeo.models import registry
from satgeo_server import Settings, create_app

registry.entries()  # import the model families (torch) once, outside the timed calls

_DATA = tempfile.mkdtemp(prefix="satgeo-fuzz-")
# jobs stay queued (run_jobs=False): the fuzzer must not start generations
app = create_app(Settings(_DATA, max_queued_jobs=4, max_upload_bytes=200_000), run_jobs=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
