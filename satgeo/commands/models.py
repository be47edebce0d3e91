"""`satgeo models list | info NAME | pull NAME`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from satgeo.models.registry import ModelEntry


def _status(entry: ModelEntry) -> tuple[str, Path]:
    from satgeo.models.registry import satgeo_home

    path = entry.path or satgeo_home() / "models" / entry.name
    return ("ready" if path.exists() else "not downloaded"), path


def _source(entry: ModelEntry) -> str:
    if entry.path is not None:
        return "bundled"
    if entry.zenodo_record:
        return f"zenodo:{entry.zenodo_record}"
    if entry.hub_id:
        return f"hf:{entry.hub_id}"
    return entry.url or "-"


def _folder_summary(path: Path) -> dict[str, Any]:
    """What can be read from a checkpoint folder without loading weights."""
    from satgeo.errors import ModelError
    from satgeo.models.controlnet import controlnet_dir
    from satgeo.models.diffusionsat import find_unet_dir, pipeline_root, training_window
    from satgeo.models.ds_layout import model_folder

    out: dict = {}
    if not path.is_dir():  # a zip: its window is known once unpacked (`--model ZIP` unpacks it)
        return out
    folder = model_folder(path)
    root = pipeline_root(folder)
    cn_dir = controlnet_dir(folder)
    unet_cfg: dict = {}
    scale = 8
    if root is not None:
        try:
            unet_dir = find_unet_dir(root)
            unet_cfg = json.loads((unet_dir / "config.json").read_text())
            out["unet"] = str(unet_dir.relative_to(root)) if unet_dir != root else "."
            out["metadata"] = bool(unet_cfg.get("use_metadata", False))
            out["unet_sample_size"] = unet_cfg.get("sample_size")
        except ModelError:
            pass
        vae_cfg = root / "vae" / "config.json"
        if vae_cfg.exists():
            scale = 2 ** (len(json.loads(vae_cfg.read_text()).get("block_out_channels", [0] * 4)) - 1)
    if cn_dir is not None:
        cfg = json.loads((cn_dir / "config.json").read_text())
        out["controlnet"] = f"{cfg.get('_class_name')} ({cn_dir.relative_to(folder) if cn_dir != folder else '.'})"
    try:
        window, source = training_window([folder], unet_cfg, scale)
        out["window"] = f"{window} px ({window // scale} latents; from {source})"
    except ModelError as exc:
        out["window"] = f"unknown: {exc}"
    out["size_mb"] = round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1)
    return out


def _entry_summary(e: ModelEntry) -> dict[str, Any]:
    """What the registry knows about a name, downloaded or not: window, base, conditioning, files."""
    from satgeo.models.registry import entries

    out: dict = {}
    if e.window:
        out["window"] = f"{e.window} px ({e.window // 8} latents; the size it was trained at)"
    if e.base:
        b = entries().get(e.base)
        where = (_source(b) + (", " + _status(b)[0])) if b is not None else "local path"
        out["base"] = f"{e.base} ({where})"
    if e.condition:
        from satgeo.models.condition import KNOWN_SPECS

        out["conditioning"] = KNOWN_SPECS[e.condition].expects()
    if e.hub_files:
        out["files"] = ", ".join(e.hub_files)
    return out


def register(app: click.Group) -> None:
    @app.group("models")
    def models() -> None:
        """List, inspect and download generation models."""

    @models.command("list")
    @click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
    def list_cmd(as_json: bool) -> None:
        """Models satgeo knows by name and whether they are on disk."""
        from satgeo.models.registry import entries

        rows = []
        for name, e in sorted(entries().items()):
            status, path = _status(e)
            rows.append({"name": name, "family": e.family, "status": status, "source": _source(e), "path": str(path),
                         "description": e.description})
        if as_json:
            click.echo(json.dumps(rows, indent=1))
            return
        w = max(len(r["name"]) for r in rows) if rows else 4
        for r in rows:
            click.echo(f"{r['name']:<{w}}  {r['family']:<12}  {r['status']:<14}  {r['source']}")

    @models.command("info")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True)
    def info_cmd(name: str, as_json: bool) -> None:
        """Details of a model name or a local checkpoint folder/zip."""
        from satgeo.errors import ModelError
        from satgeo.models.registry import entries, families

        e = entries().get(name)
        info: dict[str, Any] = {}
        if e is not None:
            status, path = _status(e)
            info = {"name": e.name, "family": e.family, "status": status, "source": _source(e), "path": str(path),
                    "description": e.description, "license": e.license, "sha256": e.sha256}
            info.update(_entry_summary(e))
            if status != "ready" and e.get_it:
                info["get_it"] = e.get_it
        else:
            path = Path(name).expanduser()
            if not path.exists():
                raise ModelError(f"unknown model {name!r}: not a known name (see `satgeo models list`) nor a path")
            fam = next((f.name for f in families().values() if f.detect(path)), None)
            if fam is None:
                raise ModelError(f"{path} holds no checkpoint satgeo recognises")
            info = {"name": path.name, "family": fam, "status": "local", "path": str(path)}
        if path.exists():
            summary = _folder_summary(path)
            if e is not None and e.window and "window" in info:
                summary.pop("window", None)  # the registry's training size is what a load uses
            info.update(summary)
        if as_json:
            click.echo(json.dumps(info, indent=1))
            return
        for k, v in info.items():
            if v not in (None, ""):
                click.echo(f"{k}: {v}")

    @models.command("pull")
    @click.argument("name")
    @click.option("--quiet", "-q", is_flag=True, help="no progress bar")
    def pull_cmd(name: str, quiet: bool) -> None:
        """Download a model into $SATGEO_HOME (resumable, checksum-verified)."""
        from tqdm import tqdm

        from satgeo.models.hub import pull

        bar: Any = None  # a tqdm bar, once the size is known (tqdm is untyped)

        def progress(done: int, total: int | None) -> None:
            nonlocal bar
            if quiet:
                return
            if bar is None or (total is not None and bar.total != total):
                if bar is not None:
                    bar.close()
                bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=name, file=sys.stderr)
            bar.update(done - bar.n)

        try:
            path = pull(name, progress)
        finally:
            if bar is not None:
                bar.close()
        click.echo(str(path))
