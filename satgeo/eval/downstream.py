"""Does synthetic imagery help a real segmentation task? (`satgeo eval downstream`, issue #14)

The evaluation segmenter (``satgeo.eval.segmenter``, fixed architecture and schedule) is trained
from scratch three ways and scored on held-out real chips:

* ``real``: N real chips (a random subset of the real pool, drawn from the seed);
* ``real+synthetic`` (per generator): the same N real chips plus the M synthetic chips, half of
  each batch's crops from each set;
* ``synthetic`` (per generator): the M synthetic chips only.

Synthetic chips are rendered by the generator (``render_mask``, seed 0) from the masks of *other*
areas (the layer pool), never from the real pool or the held-out chips. Every (N, seed) pair uses
the same real subset and the same training seed in both arms, so the gain of real+synthetic over
real is paired by seed: its mean gets a Student-t 95 % interval.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from satgeo.errors import InputError
from satgeo.eval.segmenter import (
    Sample,
    SegmenterConfig,
    evaluate_segmenter,
    scale_for,
    torch_threads,
    train_segmenter,
)
from satgeo.geo.classes import CLASS_NAMES

# two-sided 95 % Student-t quantiles by degrees of freedom (1..30; 1.96 beyond)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass
class DownstreamData:
    """Real training pool, held-out real chips, and the masks of other areas the generators render."""

    name: str
    real_pool: list[Sample]
    held: list[Sample]
    layer_pool: list[Sample]  # only the masks are used


@dataclass
class DownstreamOptions:
    ns: Sequence[int | None] = (5, 10, 20, None)  # None: the whole real pool
    seeds: Sequence[int] = (0, 1, 2)
    synthetic: int | None = None  # M; None: one chip per layer-pool mask
    segmenter: SegmenterConfig = field(default_factory=lambda: SegmenterConfig(steps=200, crop=64))
    threads: int | None = 1


def t_interval(values: Sequence[float]) -> dict:
    """Mean, sample std and the 95 % t interval of the mean."""
    v = np.asarray(values, np.float64)
    n = len(v)
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else 0.0
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * sd / math.sqrt(n) if n > 1 else float("nan")
    return {"mean": round(mean, 4), "std": round(sd, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)], "n": n}


def check_ns(ns: Sequence[int | None], pool: int) -> list[int]:
    """Concrete N values; refuses an N larger than the real pool."""
    out = []
    for n in ns:
        if n is not None and (n < 1 or n > pool):
            raise InputError(f"N = {n} real chips asked for, but the real pool holds {pool} chip(s); use N <= {pool}")
        k = pool if n is None else n
        if k not in out:
            out.append(k)
    return out


def _summary(runs: list[dict]) -> dict:
    """mean/std over seeds of each class's IoU and F1, and of mIoU."""
    out: dict = {"iou": {}, "f1": {}}
    for key in ("iou", "f1"):
        for c in CLASS_NAMES:
            vals = [r[key][c] for r in runs if r[key].get(c) is not None]
            if vals:
                out[key][c] = {"mean": round(float(np.mean(vals)), 4),
                               "std": round(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, 4)}
    m = [r["miou"] for r in runs if r["miou"] is not None]
    out["miou"] = {"mean": round(float(np.mean(m)), 4), "std": round(float(np.std(m, ddof=1)) if len(m) > 1 else 0.0, 4)}
    out["per_seed"] = runs
    return out


def primary_class(held: Sequence[Sample]) -> str:
    """The class the headline numbers use: building when it is the only labelled class, else mIoU."""
    present = {int(c) for s in held for c in np.unique(s.mask) if c < len(CLASS_NAMES)}
    return "building" if present <= {0, 1} else "miou"


def _value(summary_run: dict, key: str) -> float:
    return summary_run["miou"] if key == "miou" else (summary_run["iou"].get(key) or 0.0)


def run_downstream(data: DownstreamData, synthetic: dict[str, list[Sample]], opts: DownstreamOptions,
                   log: Callable[[str], None] = lambda s: None) -> dict:
    """The whole experiment; ``synthetic`` maps a generator label to its rendered chips."""
    ns = check_ns(opts.ns, len(data.real_pool))
    gsd = float(np.mean([s.gsd for s in data.real_pool]))
    cfg = replace(opts.segmenter, scale=scale_for(gsd))
    key = primary_class(data.held)
    t0 = time.time()
    res: dict = {"dataset": data.name, "primary": key, "ns": ns, "seeds": list(opts.seeds),
                 "real_pool": len(data.real_pool), "held_out": len(data.held),
                 "synthetic_chips": {k: len(v) for k, v in synthetic.items()},
                 "segmenter": cfg.__dict__, "real": {}, "real+synthetic": {k: {} for k in synthetic},
                 "synthetic": {}, "gain": {k: {} for k in synthetic}}
    with torch_threads(opts.threads):
        for n in ns:
            base_runs: list[dict[str, Any]] = []
            mixed_runs: dict[str, list[dict[str, Any]]] = {k: [] for k in synthetic}
            for seed in opts.seeds:
                rng = np.random.default_rng(1000 + seed)
                subset = [data.real_pool[i] for i in sorted(rng.choice(len(data.real_pool), n, replace=False))]
                scfg = replace(cfg, seed=seed)
                base_runs.append(evaluate_segmenter(train_segmenter(subset, scfg), data.held))
                for label, synth in synthetic.items():
                    weights = [0.5 / len(subset)] * len(subset) + [0.5 / len(synth)] * len(synth)
                    seg = train_segmenter(subset + synth, scfg, weights)
                    mixed_runs[label].append(evaluate_segmenter(seg, data.held))
                log(f"N={n} seed={seed}: real {_value(base_runs[-1], key):.3f}, " + ", ".join(
                    f"+{k} {_value(v[-1], key):.3f}" for k, v in mixed_runs.items()) + f" ({time.time() - t0:.0f} s)")
            res["real"][str(n)] = _summary(base_runs)
            for label, runs in mixed_runs.items():
                res["real+synthetic"][label][str(n)] = _summary(runs)
                res["gain"][label][str(n)] = t_interval(
                    [_value(m, key) - _value(b, key) for m, b in zip(runs, base_runs)])
        for label, synth in synthetic.items():
            runs = [evaluate_segmenter(train_segmenter(synth, replace(cfg, seed=seed)), data.held) for seed in opts.seeds]
            res["synthetic"][label] = _summary(runs)
            log(f"synthetic only {label}: {np.mean([_value(r, key) for r in runs]):.3f} ({time.time() - t0:.0f} s)")
    res["seconds"] = round(time.time() - t0, 1)
    return res


def render_synthetic(gen, layer_pool: Sequence[Sample], m: int | None, seed: int = 0) -> list[Sample]:
    """M chips rendered by ``gen`` from the layer pool's masks (cycled with other noise seeds past one round)."""
    from satgeo.render.engine import render_mask

    m = len(layer_pool) if m is None else m
    out = []
    for k in range(m):
        src = layer_pool[k % len(layer_pool)]
        out.append(Sample(f"{src.name}#{k // len(layer_pool)}", render_mask(gen, src.mask, seed + k // len(layer_pool)),
                          src.mask, src.gsd))
    return out
