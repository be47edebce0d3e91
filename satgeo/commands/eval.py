"""`satgeo eval`: PSNR/SSIM of a pix2pix model on held-out chips, with baselines, as JSON."""

from __future__ import annotations

import json

import click


@click.command("eval")
@click.option("--chips", "chips_dir", required=True, type=click.Path(file_okay=False), help="folder of RGB chips")
@click.option("--footprints", "layers", multiple=True, required=True, help="vector layer(s) for the masks")
@click.option("--holdout", multiple=True, help="chip-name regexes evaluated (default: the Banepa block)")
@click.option("--model", default=None, help="model name or path (default pix2pix-banepa)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-baselines", is_flag=True, help="score the model only")
@click.option("--cache", type=click.Path(file_okay=False), default=None, help="pair cache folder")
def eval_cmd(chips_dir, layers, holdout, model, seed, no_baselines, cache) -> None:  # noqa: ANN001
    """Score a model on held-out chips against a flat-colour and an untrained baseline."""
    from satgeo.errors import InputError
    from satgeo.eval.pix2pix_eval import evaluate
    from satgeo.render.engine import get_generator
    from satgeo.train.pairs import BANEPA_HOLDOUT, build_pairs, list_chips, split_chips
    from satgeo.train.pix2pix_loop import layer_paths

    chips = list_chips(chips_dir)
    train, held = split_chips(chips, holdout or BANEPA_HOLDOUT)
    if not held:
        raise InputError("no chip matches the hold-out set; pass --holdout with chip-name patterns")
    layers = layer_paths(layers)
    gen = get_generator(model)
    held_pairs = build_pairs(held, layers, cache)
    train_pairs = build_pairs(train, layers, cache) if train and not no_baselines else None
    click.echo(json.dumps(evaluate(gen, held_pairs, train_pairs, baselines=not no_baselines, seed=seed), indent=1))


def register(app: click.Group) -> None:
    app.add_command(eval_cmd)
