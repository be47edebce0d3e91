"""`satgeo eval downstream`: does synthetic imagery help a real segmentation task? (issue #14)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from satgeo.models.base import Generator


def _parse_ns(values: tuple[str, ...]) -> list[int | None]:
    from satgeo.errors import InputError

    out: list[int | None] = []
    for v in values:
        for part in v.split(","):
            part = part.strip().lower()
            if part == "all":
                out.append(None)
            elif part.isdigit():
                out.append(int(part))
            else:
                raise InputError(f"--n takes whole numbers or 'all', got {part!r}")
    return out


def _table(res: dict) -> str:
    key = res["primary"]
    name = "mIoU" if key == "miou" else f"{key} IoU"

    def cell(summary: dict) -> str:
        s = summary["miou"] if key == "miou" else summary["iou"].get(key, {"mean": 0, "std": 0})
        return f"{s['mean']:.3f} +- {s['std']:.3f}"

    lines = [f"{res['dataset']}: held-out {name}, mean +- std over seeds {res['seeds']}",
             "N | real | " + " | ".join(f"real + {k} | gain [95% CI]" for k in res["real+synthetic"])]
    for n in res["ns"]:
        row = [str(n), cell(res["real"][str(n)])]
        for label, per_n in res["real+synthetic"].items():
            g = res["gain"][label][str(n)]
            row += [cell(per_n[str(n)]), f"{g['mean']:+.3f} [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}]"]
        lines.append(" | ".join(row))
    for label, s in res["synthetic"].items():
        lines.append(f"synthetic only ({label}, {res['synthetic_chips'][label]} chips) | {cell(s)}")
    return "\n".join(lines)


@click.command("downstream")
@click.option("--chips", "chips_dir", type=click.Path(file_okay=False), default=None,
              help="folder of real chips with --footprints (Banepa layout)")
@click.option("--footprints", "layers", multiple=True, help="vector layer(s) burned into the chips' masks")
@click.option("--holdout", multiple=True, help="chip-name regexes scored (default: the Banepa block)")
@click.option("--layer-chips", multiple=True,
              help="chip-name regexes whose masks the generators render (default: the Banepa chips east of the real pool)")
@click.option("--dubai", "dubai_root", type=click.Path(file_okay=False), default=None,
              help="the Humans in the Loop Dubai folder instead of --chips (all classes)")
@click.option("--model", "models", multiple=True,
              help="generator rendering the synthetic chips, repeatable; 'flat' = flat colour per class")
@click.option("--pairs", "pair_dirs", multiple=True, type=click.Path(),
              help="a `satgeo batch --pairs` output folder used as ready-made synthetic chips, repeatable")
@click.option("--n", "ns", multiple=True, help="real-chip counts to sweep, e.g. --n 5,10,20,all (default)")
@click.option("--seeds", type=int, default=3, show_default=True, help="seeds 0..S-1 per configuration")
@click.option("--synthetic", "m", type=int, default=None, help="synthetic chips M (default: one per layer-pool mask)")
@click.option("--steps", type=int, default=200, show_default=True, help="segmenter training steps (fixed for all runs)")
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads")
@click.option("--json", "as_json", is_flag=True, help="print every number as JSON")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="write a PNG of IoU against N")
def downstream_cmd(chips_dir, layers, holdout, layer_chips, dubai_root, models, pair_dirs, ns, seeds, m, steps,
                   threads, as_json, plot) -> None:  # noqa: ANN001
    """Train a small segmenter on N real chips, N real + M synthetic, and M synthetic; score on held-out real chips."""
    from dataclasses import replace
    from pathlib import Path

    from satgeo.errors import InputError
    from satgeo.eval.downstream import DownstreamOptions, check_ns, render_synthetic, run_downstream
    from satgeo.eval.downstream_data import banepa_data, dubai_data, read_pair_folder
    from satgeo.eval.generators import check_model, fit_colours, load_model, model_label
    from satgeo.eval.segmenter import torch_threads

    if bool(chips_dir) == bool(dubai_root):
        raise InputError("give the real data with either --chips DIR --footprints LAYER or --dubai ROOT")
    if not models and not pair_dirs:
        raise InputError("give at least one synthetic source: --model NAME (or 'flat') or --pairs DIR")
    if seeds < 2 or steps < 1 or (m is not None and m < 1):
        raise InputError("--seeds must be at least 2 (for a spread), --steps and --synthetic positive")
    for name in models:
        check_model(name)
    opts = DownstreamOptions(seeds=tuple(range(seeds)), synthetic=m, threads=threads)
    opts.segmenter = replace(opts.segmenter, steps=steps)
    if ns:
        opts.ns = _parse_ns(ns)
    synthetic = {f"pairs:{Path(d).name}": read_pair_folder(d) for d in pair_dirs}
    data = dubai_data(dubai_root) if dubai_root else banepa_data(chips_dir, layers, holdout, layer_chips)
    check_ns(opts.ns, len(data.real_pool))
    if models and not data.layer_pool:
        raise InputError("no chip is left for the layer pool the generators render; set --layer-chips")
    colours = fit_colours([s.image for s in data.real_pool], [s.mask for s in data.real_pool])
    gsd = float(sum(s.gsd for s in data.real_pool) / len(data.real_pool))
    gens: dict[str, Generator] = {}
    for name in models:
        gen = load_model(name, colours, gsd)
        gens[model_label(name, gen, gens)] = gen
    with torch_threads(threads):
        for label, gen in gens.items():
            synthetic[label] = render_synthetic(gen, data.layer_pool, m)
    res = run_downstream(data, synthetic, opts, log=lambda s: click.echo(s, err=True))
    if plot:
        from satgeo.eval.plot import plot_downstream

        plot_downstream(res, plot)
    click.echo(json.dumps(res, indent=1) if as_json else _table(res))
