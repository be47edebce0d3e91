"""Getting weights onto disk: resumable HTTP downloads, sha256 checks, zips, the HF hub.

Everything lands under ``$SATGEO_HOME``::

    $SATGEO_HOME/downloads/<file>          (``<file>.part`` while incomplete; resumed with HTTP Range)
    $SATGEO_HOME/models/<name>/            (the unpacked checkpoint a registry name resolves to)
    $SATGEO_HOME/unpacked/<zip-stem>-<h>/  (zips passed as --model, unpacked once)

Nothing here touches the network unless ``pull``/``download`` is called; hub ids honour
``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from satgeo.atomic import atomic_path
from satgeo.errors import InputError, ModelError
from satgeo.hashing import file_digest

CHUNK = 1 << 20


def satgeo_home() -> Path:
    from satgeo.models.registry import satgeo_home as _home

    return _home()


def _parse_checksum(checksum: str | None) -> tuple[str, str] | None:
    """"sha256:<hex>", "md5:<hex>" or a bare sha256 hex -> (algorithm, hex)."""
    if not checksum:
        return None
    algo, _, digest = checksum.partition(":") if ":" in checksum else ("sha256", "", checksum)
    if algo not in ("sha256", "md5"):
        raise ModelError(f"unsupported checksum {checksum!r}; use sha256:<hex> or md5:<hex>")
    return algo, digest.lower()


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` with an HTTP Range request.

    ``sha256`` is a checksum ("sha256:<hex>", "md5:<hex>" or bare sha256 hex). A mismatch
    deletes the partial file and raises ModelError: nothing half-written is ever renamed
    into place.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    check = _parse_checksum(sha256)
    if dest.exists() and (check is None or file_digest(dest, check[0]) == check[1]):
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "satgeo"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range not satisfiable: the part file is already complete
            resp = None
        else:
            raise ModelError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}; check the network or the URL") from None
    if resp is not None:
        with resp:
            if have and resp.status != 206:  # server ignored Range: start over
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with open(part, "ab" if have else "wb") as f:
                done = have
                if progress:
                    progress(done, total)
                try:
                    while block := resp.read(CHUNK):
                        f.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                except (http.client.IncompleteRead, OSError):
                    pass  # reported below; the .part file is kept for resuming
            if total is not None and done < total:
                raise ModelError(
                    f"download of {dest.name} stopped at {done} of {total} bytes; run the same command again to resume"
                )
    if check is not None:
        got = file_digest(part, check[0])
        if got != check[1]:
            part.unlink(missing_ok=True)
            raise ModelError(
                f"checksum mismatch for {dest.name}: expected {check[0]} {check[1][:12]}..., got {got[:12]}...; "
                "the partial file was deleted, run the pull again"
            )
    os.replace(part, dest)  # not satgeo.atomic: the .part file keeps a fixed name so a rerun resumes it
    return dest


def _safe_members(zf: zipfile.ZipFile, where: Path) -> list[zipfile.ZipInfo]:
    root = where.resolve()
    members = []
    for info in zf.infolist():
        target = (where / info.filename).resolve()
        if root != target and root not in target.parents:
            raise ModelError(f"zip entry {info.filename!r} would unpack outside the target folder; refusing")
        if "__MACOSX" not in info.filename:
            members.append(info)
    return members


def unpack_zip(zip_path: Path, dest: Path) -> Path:
    """Unpack atomically into ``dest`` (temp folder + rename)."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(tmp, members=_safe_members(zf, tmp))
        except zipfile.BadZipFile:
            raise ModelError(f"{zip_path} is not a valid zip archive (truncated download?)") from None
    return dest


def zip_holds_pipeline(path: Path, controlnet: bool) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    has_index = any(n.endswith("model_index.json") or n.endswith("vae/config.json") for n in names)
    has_cn = any(n.endswith("controlnet/config.json") for n in names)
    return has_index and has_cn == controlnet


def materialize(path: Path) -> Path:
    """A folder for ``path``: itself, or a zip unpacked once under $SATGEO_HOME/unpacked."""
    path = Path(path)
    if path.is_file() and path.suffix == ".zip":
        st = path.stat()
        key = hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:10]
        return unpack_zip(path, satgeo_home() / "unpacked" / f"{path.stem}-{key}")
    return path


#: Never fetched from the hub: single-file checkpoints and other frameworks' weights (GeoSynth-OSM's
#: 9.6 GB geosynth-osm-text.ckpt, SD mirrors' 5 GB v2-1_512-ema-pruned.* files, fp16 duplicates).
HUB_IGNORE = ["*.ckpt", "*.fp16.*", "*.msgpack", "*.onnx*", "*.h5", "*.pt", "*ema-pruned*", "*nonema*"]


def hub_snapshot(hub_id: str, dest: Path, allow: tuple[str, ...] | list[str] = ()) -> Path:
    """``huggingface_hub.snapshot_download`` into ``dest`` (refused when HF_HUB_OFFLINE is set).

    ``allow`` limits the download to those paths/patterns (the diffusers folders a model needs).
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ModelError(f"HF_HUB_OFFLINE is set; cannot fetch {hub_id} (unset it or copy the folder to {dest})")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelError("huggingface_hub is not installed; pip install huggingface_hub") from None
    try:
        got = snapshot_download(
            hub_id, local_dir=str(dest), allow_patterns=list(allow) or None, ignore_patterns=HUB_IGNORE
        )
    except Exception as exc:  # noqa: BLE001 - the hub raises many types
        raise ModelError(f"cannot download {hub_id} from the Hugging Face hub: {str(exc).splitlines()[0]}") from None
    return Path(got)


def verify_files(folder: Path, checksums: Sequence[tuple[str, str]], source: str) -> None:
    """Check downloaded files against registered checksums; a mismatch deletes the file and raises."""
    for rel, checksum in checksums:
        f = Path(folder) / rel
        parsed = _parse_checksum(checksum)
        if parsed is None:  # an empty checksum: nothing to check
            continue
        algo, digest = parsed
        if not f.exists():
            raise ModelError(f"{source} did not provide {rel}; run the pull again or fetch it by hand (`satgeo models info`)")
        got = file_digest(f, algo)
        if got != digest:
            f.unlink()
            raise ModelError(
                f"{source}: {rel} has {algo} {got[:12]}..., expected {digest[:12]}... (the original's); "
                "the file was deleted; this mirror does not hold the original weights"
            )


def zenodo_api() -> str:
    return os.environ.get("SATGEO_ZENODO_API", "https://zenodo.org/api").rstrip("/")


def zenodo_files(record: str, timeout: float = 60.0) -> list[dict]:
    """The files of a Zenodo record: [{key, size, checksum, url}] from its public API."""
    import json

    url = f"{zenodo_api()}/records/{record}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=timeout) as r:
            data = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ModelError(f"cannot list Zenodo record {record} at {url}: {getattr(exc, 'reason', exc)}") from None
    files = []
    for f in data.get("files", []):
        link = f.get("links", {}).get("self") or f.get("links", {}).get("download")
        if link:
            files.append({"key": f.get("key", link.rsplit("/", 1)[-1]), "size": f.get("size"), "checksum": f.get("checksum"), "url": link})
    if not files:
        raise ModelError(f"Zenodo record {record} lists no downloadable files")
    return files


def pull(name: str, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download and unpack a registered model into $SATGEO_HOME/models/<name>."""
    from satgeo.models.registry import entries

    entry = entries().get(name)
    if entry is None:
        raise InputError(f"unknown model {name!r}; see `satgeo models list`")
    dest = satgeo_home() / "models" / entry.name
    if dest.exists():
        return dest
    if entry.path is not None:
        return entry.path
    if entry.zenodo_record:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            tmp.mkdir()
            for f in zenodo_files(entry.zenodo_record):
                archive = download(f["url"], satgeo_home() / "downloads" / f["key"], f.get("checksum"), progress)
                if zipfile.is_zipfile(archive):
                    unpack_zip(archive, tmp / Path(f["key"]).stem)
                else:
                    shutil.copy2(archive, tmp / f["key"])
        return dest
    if entry.url:
        fname = entry.url.rstrip("/").split("/")[-1].split("?")[0] or f"{entry.name}.bin"
        archive = download(entry.url, satgeo_home() / "downloads" / fname, entry.sha256, progress)
        if zipfile.is_zipfile(archive):
            unpack_zip(archive, dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dest) as tmp:
                tmp.mkdir()
                shutil.copy2(archive, tmp / fname)
        return dest
    if entry.hub_id:
        tmp = dest.with_name(dest.name + ".part")
        hub_snapshot(entry.hub_id, tmp, entry.hub_files)
        verify_files(tmp, entry.checksums, entry.hub_id)
        os.replace(tmp, dest)  # not satgeo.atomic: a fixed .part name lets the hub resume an interrupted pull
        return dest
    raise ModelError(f"model {name!r} has no download source; copy its folder to {dest}")
