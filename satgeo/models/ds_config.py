"""A diffusion model folder's ``satgeo.json``, parsed and checked once into a frozen dataclass.

``satgeo.json`` sits beside a pipeline's ``model_index.json`` (or in a ControlNet / LoRA
folder) and overrides the card and the sampling defaults (docs/diffusion.md). Every key is
optional; a missing key is None here and the family's default applies. A malformed file or
value is one ``ModelError`` line naming the file and the key, never a traceback later on.
Unknown keys are ignored (``satgeo train`` also records a ``"training"`` report there).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from satgeo.errors import InputError, ModelError

CONFIG_FILE = "satgeo.json"
#: the attention projections a satgeo LoRA adapts (peft target names)
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
#: the samplers a render request can name (``satgeo.models.ds_speed.make_scheduler`` builds them)
Scheduler = Literal["default", "ddim", "dpm++"]
SCHEDULERS: tuple[str, ...] = get_args(Scheduler)


def check_guidance(value: float | None, what: str = "--guidance") -> None:
    """A one-line InputError unless ``value`` is None or a finite classifier-free guidance scale >= 0."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise InputError(f"{what} must be a number >= 0, got {value}")


@dataclass(frozen=True)
class LoraSpec:
    """``"lora"`` of a LoRA fine-tune's ``satgeo.json``: the adapter's rank, scale and targets."""

    rank: int
    alpha: float
    targets: tuple[str, ...] = LORA_TARGETS

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "alpha": self.alpha, "targets": list(self.targets)}


@dataclass(frozen=True)
class SatgeoConfig:
    """The settings of one ``satgeo.json`` (None: not given)."""

    # the card
    name: str | None = None
    native_gsd: float | None = None
    tile_size: int | None = None  # the engine's region side (default: REGION_WINDOWS windows)
    overlap: int | None = None  # overlap between regions (default: window_overlap)
    max_gsd_ratio: float | None = None
    training_data: str | None = None
    license: str | None = None
    attribution: str | None = None
    description: str | None = None
    # the model's windows (docs/diffusion.md, "Windows")
    window: int | None = None  # the image size the model was trained at, px
    window_overlap: int | None = None  # px shared by neighbouring windows inside a region
    region_windows: int | None = None  # windows per region side
    training_size: int | None = None  # ``"training": {"size"}``, written by ``satgeo train``
    # sampling defaults (requests override them; scheduler names: SCHEDULERS)
    scheduler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    # what the folder is made of
    family: str | None = None
    base: str | None = None  # the base pipeline (name or path) a ControlNet or LoRA runs over
    lora: LoraSpec | None = None
    condition: str | dict[str, Any] | None = None  # ControlNet inputs (models/condition.py)
    conditioning: str | dict[str, Any] | None = None  # map style or palette (models/conditioning.py)
    caption: str | None = None  # default caption style: fmow, geosynth or texas

    def over(self, defaults: SatgeoConfig) -> SatgeoConfig:
        """This config with every missing value taken from ``defaults``."""
        return replace(defaults, **{f.name: getattr(self, f.name) for f in fields(self)
                                    if getattr(self, f.name) is not None})


def _positive_int(v: object, zero: bool = False) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError
    n = int(v)
    if n != float(v) or n < (0 if zero else 1):
        raise ValueError
    return n


def _positive_float(v: object, zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError
    x = float(v)
    if not (math.isfinite(x) and (x >= 0 if zero else x > 0)):
        raise ValueError
    return x


def _text(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError
    return v


def _text_or_table(v: object) -> str | dict[str, Any]:
    if not isinstance(v, (str, dict)):
        raise ValueError
    return v


def _lora(v: object) -> LoraSpec:
    if not isinstance(v, dict) or "rank" not in v:
        raise ValueError
    rank = _positive_int(v["rank"])
    targets = v.get("targets", LORA_TARGETS)
    if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
        raise ValueError
    return LoraSpec(rank, _positive_float(v.get("alpha", rank)), tuple(targets))


_NON_NEGATIVE_INT = (lambda v: _positive_int(v, zero=True), "an integer >= 0 (px)")
_PARSERS: dict[str, tuple[Any, str]] = {
    **{key: (_text, "a string") for key in (
        "name", "training_data", "license", "attribution", "description", "scheduler", "family", "base", "caption",
    )},
    **{key: (_positive_int, "a positive integer") for key in ("tile_size", "window", "region_windows", "steps")},
    "overlap": _NON_NEGATIVE_INT,
    "window_overlap": _NON_NEGATIVE_INT,
    "native_gsd": (_positive_float, "a positive number of metres"),
    "max_gsd_ratio": (_positive_float, "a positive number"),
    "guidance": (lambda v: _positive_float(v, zero=True), "a number >= 0"),
    "lora": (_lora, 'an object {"rank": int, "alpha": number, "targets": [names]}'),
    "condition": (_text_or_table, "a name or an object"),
    "conditioning": (_text_or_table, "a style name or an object of colours"),
}


def parse_satgeo_config(data: object, where: str = CONFIG_FILE) -> SatgeoConfig:
    """A ``SatgeoConfig`` from the decoded JSON of ``where`` (ModelError naming the bad key)."""
    if not isinstance(data, dict):
        raise ModelError(f"{where} must hold a JSON object, not {type(data).__name__}")
    values: dict[str, Any] = {}
    for key, (parse, what) in _PARSERS.items():
        if data.get(key) is None:
            continue
        try:
            values[key] = parse(data[key])
        except (TypeError, ValueError, OverflowError):
            raise ModelError(f'{where}: "{key}" must be {what}, got {data[key]!r}') from None
    training = data.get("training")
    if isinstance(training, dict) and training.get("size") is not None:
        try:
            values["training_size"] = _positive_int(training["size"])
        except (TypeError, ValueError, OverflowError):
            raise ModelError(f'{where}: "training.size" must be a positive integer, got {training["size"]!r}') from None
    return SatgeoConfig(**values)


_CACHE: dict[tuple[str, int, int], SatgeoConfig] = {}


def read_satgeo_config(folder: Path | None) -> SatgeoConfig:
    """``folder/satgeo.json`` parsed (an empty config when there is none); each file version is parsed once."""
    if folder is None:
        return SatgeoConfig()
    f = Path(folder) / CONFIG_FILE
    try:
        st = f.stat()
    except OSError:
        return SatgeoConfig()
    key = (os.fspath(f.resolve()), st.st_mtime_ns, st.st_size)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        data = json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{f} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {f}: {exc.strerror or exc}") from None
    config = parse_satgeo_config(data, str(f))
    _CACHE[key] = config
    return config
