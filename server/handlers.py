"""Error responses: every error is JSON with a one-line ``detail``, never a traceback.

satgeo's own errors map to a status by kind (bad input 422, over a limit 413, cancelled 409); request
validation errors name the first offending field and list at most 20 errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from satgeo.errors import Cancelled, InputError, LimitError, ModelError, SatgeoError

ERROR_STATUS = {InputError: 422, ModelError: 422, LimitError: 413, Cancelled: 409}


async def satgeo_error(request: Request, exc: SatgeoError) -> JSONResponse:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 422)
    return JSONResponse({"detail": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, status)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    detail = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid request")
    return JSONResponse({"detail": detail, "errors": _jsonable_errors(errors)}, 422)


def install(app: FastAPI) -> None:
    app.exception_handler(SatgeoError)(satgeo_error)
    app.exception_handler(RequestValidationError)(validation_error)


def _jsonable_errors(errors: Any) -> list[dict[str, str | list[str]]]:
    out: list[dict[str, str | list[str]]] = []
    for e in errors[:20]:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out
