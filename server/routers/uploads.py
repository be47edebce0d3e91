"""``/v1/uploads``: a GeoJSON or GeoPackage layer stored in --data-dir (by content hash) for scenes to use."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from satgeo.atomic import temp_sibling
from satgeo.errors import InputError, LimitError, SatgeoError
from satgeo_server import inputs
from satgeo_server.deps import SettingsDep
from satgeo_server.schemas import Upload

router = APIRouter()


@router.post("/v1/uploads", response_model=Upload, status_code=201)
def upload(file: Annotated[UploadFile, File()], settings: SettingsDep) -> Upload:
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in inputs.LAYER_SUFFIXES:
        raise InputError(f"upload a GeoJSON or GeoPackage file ({', '.join(inputs.LAYER_SUFFIXES)}), got {suffix or 'no extension'!r}")
    folder = settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    tmp_path = temp_sibling(folder / f"upload{suffix}")  # keeps the suffix: pyogrio picks the driver by it
    try:
        with open(tmp_path, "wb") as tmp:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise LimitError(f"upload is above this server's limit of {settings.max_upload_bytes:,} bytes")
                digest.update(chunk)
                tmp.write(chunk)
        try:
            import pyogrio

            layers = [str(name) for name, _ in pyogrio.list_layers(tmp_path)]
            inputs.read_layer_file(tmp_path, name=file.filename)
        except SatgeoError:
            raise
        except Exception as exc:
            detail = str(exc).splitlines()[0] if str(exc) else exc
            raise InputError(f"cannot read the upload as {suffix[1:]}: {detail}") from None
        final = folder / f"{digest.hexdigest()[:32]}{suffix}"
        os.replace(tmp_path, final)  # not satgeo.atomic: the final name is the content hash, known only now
    finally:
        tmp_path.unlink(missing_ok=True)  # a refused upload leaves nothing behind
    return Upload(path=str(final.relative_to(settings.data_dir)), layers=layers, bytes=size)
