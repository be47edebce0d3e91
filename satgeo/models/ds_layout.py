"""Where things live in a DiffusionSat / SD checkpoint folder, and the window it was trained at.

The window rule (docs/diffusion.md, "Windows"): a model runs at the image size it was trained
at, taken from the first of

1. ``"window"`` in the folder's ``satgeo.json`` (pixels);
2. the registry entry whose cache folder this is (``diffusionsat-256`` -> 256, ...);
3. the name of a known release folder inside it (the Zenodo zips' top folders);
4. ``"training": {"size"}`` in ``satgeo.json`` (written by ``satgeo train``);
5. the UNet's ``sample_size`` x the VAE's scale, except for a DiffusionSat (metadata) UNet that
   reports 96 latents: both released checkpoints inherit that from SD 2.1-768 although they were
   trained at 256 and 512 px, so such a folder is refused until one of 1-4 says its size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from satgeo.errors import ModelError
from satgeo.models.ds_config import CONFIG_FILE, read_satgeo_config

if TYPE_CHECKING:
    from satgeo.models.registry import ModelEntry

_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")

#: Top folders of DiffusionSat's released zips -> the image size they were trained at
#: (launch scripts in samar-khanna/DiffusionSat: --resolution).
KNOWN_RELEASES = {
    "finetune_sd21_sn-satlas-fmow_snr5_md7norm_bs64": 512,
    "finetune_sd21_256_sn-satlas-fmow_snr5_md7norm_bs64": 256,
    "controlnet3d-mixattn_sd21_md7norm_texas": 256,
    "controlnet_sd21_md7norm_fmow_condres256": 512,
}

#: What SD 2.1-768's UNet config says (96 latents = 768 px); not a DiffusionSat training size.
INHERITED_SD21_SAMPLE_SIZE = 96


def find_unet_dir(root: Path) -> Path:
    """The UNet folder of a pipeline folder: the highest ``checkpoint-N/unet``, else ``unet``."""
    ckpts = []
    for child in root.iterdir() if root.is_dir() else ():
        m = _CHECKPOINT_RE.match(child.name)
        if m and (child / "unet" / "config.json").exists():
            ckpts.append((int(m.group(1)), child / "unet"))
    if ckpts:
        return max(ckpts)[1]
    if (root / "unet" / "config.json").exists():
        return root / "unet"
    if (root / "config.json").exists() and _is_unet_config(root / "config.json"):
        return root
    raise ModelError(
        f"{root} has no UNet (expected checkpoint-<N>/unet or unet/ with config.json); "
        "download the full DiffusionSat folder or run `satgeo models pull NAME`"
    )


def find_controlnet_dir(root: Path) -> Path | None:
    """``controlnet/`` of a folder, or the highest ``checkpoint-N/controlnet`` (training snapshots)."""
    if (root / "controlnet" / "config.json").exists():
        return root / "controlnet"
    ckpts = []
    for child in root.iterdir() if root.is_dir() else ():
        m = _CHECKPOINT_RE.match(child.name)
        if m and (child / "controlnet" / "config.json").exists():
            ckpts.append((int(m.group(1)), child / "controlnet"))
    return max(ckpts)[1] if ckpts else None


def _is_unet_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("_class_name") in ("SatUNet", "UNet2DConditionModel")
    except (OSError, json.JSONDecodeError):
        return False


def pipeline_root(path: Path) -> Path | None:
    """The pipeline folder inside ``path`` (itself, or a single nested folder as zips often have)."""
    if not path.is_dir():
        return None
    if (path / "model_index.json").exists() or (path / "vae").is_dir():
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(subdirs) == 1:
        return pipeline_root(subdirs[0])
    return None


def model_folder(path: Path) -> Path:
    """The folder holding the model's files: ``path`` or the single folder a zip unpacked into."""
    if not path.is_dir() or any((path / n).exists() for n in ("model_index.json", "config.json", "controlnet")):
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    return model_folder(subdirs[0]) if len(subdirs) == 1 else path


def is_diffusionsat_folder(path: Path) -> bool:
    root = pipeline_root(path)
    if root is None or find_controlnet_dir(root) is not None:
        return False
    try:
        unet_dir = find_unet_dir(root)
    except ModelError:
        return False
    return (root / "vae").is_dir() and (root / "text_encoder").is_dir() and unet_dir.exists()


@contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence diffusers/transformers progress bars and dtype chatter while loading local folders."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dv, tv = dlog.get_verbosity(), tlog.get_verbosity()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    dlog.disable_progress_bar()
    try:
        yield
    finally:
        dlog.set_verbosity(dv)
        tlog.set_verbosity(tv)
        tlog.enable_progress_bar()
        dlog.enable_progress_bar()


# ----------------------------------------------------------------------------- windows


def entry_for_folder(path: Path) -> ModelEntry | None:
    """The registry entry whose cache (or bundled) folder is ``path`` or contains it, if any."""
    from satgeo.models.registry import entries, satgeo_home

    try:
        p = Path(path).resolve()
    except OSError:
        return None
    for e in entries().values():
        home = (e.path or satgeo_home() / "models" / e.name).resolve()
        if p == home or home in p.parents:
            return e
    return None


def _known_release(path: Path) -> tuple[int, str] | None:
    for part in reversed(Path(path).resolve().parts):
        if part in KNOWN_RELEASES:
            return KNOWN_RELEASES[part], f"known release folder {part}"
    return None


def training_window(folders: Sequence[Path], unet_config: Mapping[str, Any], vae_scale: int) -> tuple[int, str]:
    """(window px, where it came from) for a model made of ``folders`` (most specific first).

    ``folders`` is e.g. [controlnet folder, base pipeline folder]: a ControlNet's own training
    size wins over its base's (DiffusionSat's Texas ControlNet runs at 256 px over the 512 px UNet).
    """
    for folder in folders:
        cfg = read_satgeo_config(folder)
        if cfg.window is not None:
            return cfg.window, f"{folder / CONFIG_FILE}"
        e = entry_for_folder(folder)
        if e is not None and e.window:
            return int(e.window), f"registry entry {e.name}"
        known = _known_release(folder)
        if known is not None:
            return known
        if cfg.training_size is not None:
            return cfg.training_size, f"{folder / CONFIG_FILE} training size"
    sample = unet_config.get("sample_size") or 64
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    if unet_config.get("use_metadata") and int(sample) == INHERITED_SD21_SAMPLE_SIZE:
        where = folders[0] if folders else "this folder"
        raise ModelError(
            f"cannot tell the image size {where} was trained at: its UNet config says {sample} latents "
            f"({sample * vae_scale} px), inherited from SD 2.1-768, but DiffusionSat trains at 256 or 512 px; "
            f'put {{"window": 256}} or {{"window": 512}} in {Path(where) / "satgeo.json"}'
        )
    return int(sample) * vae_scale, "UNet sample_size"
