"""`satgeo eval`: realism and map-fidelity measures of one or more generators on held-out chips.

``satgeo eval downstream`` (the synthetic-data experiment) lives in ``eval_downstream.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from satgeo.models.base import Generator

DEFAULT_MODELS = ("pix2pix-banepa", "flat")


def default_cache() -> Path:
    from satgeo.models.registry import satgeo_home

    return satgeo_home() / "cache" / "eval"


def _table(res: dict) -> str:
    cols = ("layout building IoU", "c2st acc [95% CI]", "KID x1e3", "lattice share max", "PSNR", "SSIM")
    lines = ["model | " + " | ".join(cols)]
    rows = dict(res["models"])
    for name, m in rows.items():
        shares = [v["share"] for k, v in m["lattice"].items() if isinstance(v, dict) and v.get("share") is not None]
        lines.append(" | ".join([
            name, str(m["layout_iou"].get("building")),
            f"{m['c2st_accuracy']:.3f} [{m['c2st_ci95'][0]:.3f}, {m['c2st_ci95'][1]:.3f}]",
            f"{m['kid']['mean'] * 1e3:.2f} +- {m['kid']['std'] * 1e3:.2f}",
            f"{max(shares):.3f}" if shares else "-", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}",
        ]))
    r = res["real"]
    lines.append(f"real | {r['layout_iou'].get('building')} | - | split-half {r['kid_split_half']['mean'] * 1e3:.2f} | "
                 f"{r['lattice']['share']} | - | -")
    return "\n".join(lines)


@click.group("eval", invoke_without_command=True)
@click.option("--chips", "chips_dir", type=click.Path(file_okay=False), default=None, help="folder of RGB chips")
@click.option("--footprints", "layers", multiple=True, help="vector layer(s) burned into the chips' masks")
@click.option("--holdout", multiple=True, help="chip-name regexes evaluated (default: the Banepa block)")
@click.option("--model", "models", multiple=True,
              help="model name or path, repeatable; 'flat' = flat colour per class (default: pix2pix-banepa and flat)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help='print {"models": {NAME: {...}}, "real": {...}} as JSON')
@click.option("--sheet", type=click.Path(dir_okay=False), default=None, help="write a PNG contact sheet here")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="cache folder for the trained segmenter (default $SATGEO_HOME/cache/eval)")
@click.option("--seg-steps", type=int, default=None, help="segmenter training steps (default 400)")
@click.option("--lattice-windows", type=int, default=8, show_default=True, help="uniform renders are N x N windows")
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads for the small networks")
@click.option("--fid-weights", type=click.Path(dir_okay=False), default=None,
              help="TorchScript Inception feature extractor (e.g. NVIDIA's inception-2015-12-05.pt)")
@click.option("--lpips-weights", type=click.Path(dir_okay=False), default=None,
              help="TorchScript LPIPS network (e.g. NVIDIA's vgg16.pt)")
@click.option("--clip-model", type=click.Path(file_okay=False), default=None,
              help="Hugging Face CLIP model folder (CLIPModel + tokenizer) for the CLIP score")
@click.option("--clip-prompt", default="a satellite image of buildings", show_default=True)
@click.pass_context
def eval_cmd(ctx, chips_dir, layers, holdout, models, seed, as_json, sheet, cache, seg_steps, lattice_windows,
             threads, fid_weights, lpips_weights, clip_model, clip_prompt) -> None:  # noqa: ANN001
    """Score generators on held-out chips: layout IoU, C2ST, KID, lattice share, PSNR/SSIM (+ FID/LPIPS/CLIP)."""
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from satgeo.errors import InputError
    from satgeo.eval.generators import FLAT, check_model, fit_colours, load_model, model_label
    from satgeo.eval.quality import QualityOptions, check_masks, evaluate_quality
    from satgeo.train.pairs import BANEPA_HOLDOUT, build_pairs, list_chips, split_chips
    from satgeo.train.pix2pix_loop import layer_paths

    if not chips_dir:
        raise InputError("give the chips with --chips DIR (and their masks with --footprints LAYER)")
    if not layers:
        raise InputError("the chips have no masks: pass --footprints LAYER with the features to burn")
    if lattice_windows < 1 or (seg_steps is not None and seg_steps < 1):
        raise InputError("--lattice-windows and --seg-steps must be positive")
    models = models or DEFAULT_MODELS
    for name in models:
        check_model(name)
    extras = None
    if fid_weights or lpips_weights or clip_model:
        from satgeo.eval.extras import ExtraMetrics

        extras = ExtraMetrics.load(fid_weights, lpips_weights, clip_model, clip_prompt)
    chips = list_chips(chips_dir)
    train, held = split_chips(chips, holdout or BANEPA_HOLDOUT)
    if not held:
        raise InputError("no chip matches the hold-out set; pass --holdout with chip-name patterns")
    if not train:
        raise InputError("every chip is held out; the segmenter needs training chips")
    layers = layer_paths(layers)
    cache_dir = Path(cache) if cache else default_cache()
    held_pairs, train_pairs = build_pairs(held, layers), build_pairs(train, layers)
    check_masks(train_pairs, "training")
    check_masks(held_pairs, "held-out")
    colours = fit_colours(list(train_pairs.images), list(train_pairs.masks)) if FLAT in models else None
    gens: dict[str, Generator] = {}
    for name in models:
        gen = load_model(name, colours, train_pairs.gsd)
        gens[model_label(name, gen, gens)] = gen
    opts = QualityOptions(seed=seed, lattice_windows=lattice_windows, threads=threads, cache_dir=cache_dir,
                          sheet=sheet, extras=extras)
    if seg_steps:
        opts.segmenter = replace(opts.segmenter, steps=seg_steps)
    res = evaluate_quality(gens, train_pairs, held_pairs, opts)
    click.echo(json.dumps(res, indent=1) if as_json else _table(res))


def register(app: click.Group) -> None:
    from satgeo.commands.eval_downstream import downstream_cmd

    eval_cmd.add_command(downstream_cmd)
    app.add_command(eval_cmd)
