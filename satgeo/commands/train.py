"""`satgeo train ...`: the training group. `pix2pix` lives here; other families add theirs to the group."""

from __future__ import annotations

import json
from pathlib import Path

import click

BANEPA_CARD = dict(
    training_data="OpenAerialMap drone chips of Banepa, Nepal (hotosm/fAIr-models sample, 40 of 48 chips, "
    "~0.13 m) with OpenStreetMap building footprints",
    license="weights: CC BY 4.0 (imagery) + ODbL 1.0 (labels) obligations apply",
    attribution="Imagery: OpenAerialMap contributors, CC BY 4.0. Labels: (c) OpenStreetMap contributors, ODbL 1.0.",
    description="pix2pix U-Net (instance norm) from building masks to drone-style RGB; one town's look "
    "(dense brick/concrete roofs, Banepa); other classes than building were not in the training masks",
)

LANDCOVER_CARD = dict(
    training_data="OpenAerialMap drone chips of Banepa, Nepal (40 of 48, ~0.13 m, also at 2x coarser) with OSM "
    "building footprints; Humans in the Loop / MBRSC satellite tiles of Dubai (7 of 8 tiles, ~0.5-2.2 m) with "
    "building, road, water, vegetation and land masks",
    license="weights: CC BY 4.0 (imagery) + ODbL 1.0 (labels) obligations apply; Dubai tiles CC0",
    attribution="Imagery: OpenAerialMap contributors, CC BY 4.0; Humans in the Loop / MBRSC, CC0. "
    "Labels: (c) OpenStreetMap contributors, ODbL 1.0.",
    description="translation-consistent pix2pix (local U-Net, noise-field input, GSD-conditioned) from class "
    "masks to RGB; drone look at 0.13 m (Banepa), satellite look at 0.5-2 m (Dubai)",
)


@click.group("train")
def train() -> None:
    """Train models (pix2pix here; ControlNet/LoRA where the diffusion extra is installed)."""


@train.command("pix2pix")
@click.option("--chips", "chips_dir", required=True, type=click.Path(file_okay=False), help="folder of RGB chips")
@click.option("--footprints", "layers", multiple=True, required=True, help="vector layer(s) burned into the masks")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="run folder")
@click.option("--holdout", multiple=True, help="chip-name regexes held out for eval (default: the Banepa block)")
@click.option("--name", default=None, help="model name in its card (default: the run folder's name)")
@click.option("--steps", type=int, default=4000, show_default=True)
@click.option("--decay-steps", type=int, default=None, help="linear lr decay over the last N steps (default half)")
@click.option("--batch", type=int, default=4, show_default=True)
@click.option("--crop", type=int, default=256, show_default=True)
@click.option("--ngf", type=int, default=32, show_default=True)
@click.option("--ndf", type=int, default=32, show_default=True)
@click.option("--num-downs", type=int, default=8, show_default=True)
@click.option("--norm", type=click.Choice(["instance", "batch"]), default="instance", show_default=True)
@click.option("--no-dropout", is_flag=True)
@click.option("--lambda-l1", type=float, default=100.0, show_default=True)
@click.option("--lambda-fm", type=float, default=0.0, show_default=True, help="feature-matching loss weight")
@click.option("--lambda-ssim", type=float, default=0.0, show_default=True, help="weight of 1 - SSIM")
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=float, default=300.0, show_default=True, help="seconds")
@click.option("--max-minutes", type=float, default=None, help="stop and save after this wall time")
@click.option("--threads", type=int, default=None, help="torch CPU threads")
@click.option("--no-bf16", is_flag=True, help="train in fp32 even where bf16 is native")
@click.option("--resume", is_flag=True, help="continue from OUT/checkpoint.pt")
@click.option("--init", "init_model", default=None, help="start the generator from this model (same architecture)")
@click.option("--val", "val_patterns", multiple=True,
              help="chip-name regexes among the held-out chips scored (PSNR/SSIM) at each save into OUT/val.csv")
@click.option("--snapshots", is_flag=True, help="keep each save's model as OUT/snapshots/step-NNNNNN")
@click.option("--arch", type=click.Choice(["unet", "local"]), default="unet", show_default=True,
              help="unet: the reference U-Net; local: translation-consistent, GSD-conditioned, noise-field input")
@click.option("--chans", default="16,32,64,128,256", show_default=True, help="local: channel widths per level")
@click.option("--tile-size", type=int, default=512, show_default=True, help="local: render window, px")
@click.option("--overlap", type=int, default=16, show_default=True, help="local: window overlap, px")
@click.option("--scales", default="1", show_default=True,
              help="local: also train on the chips this many times coarser, e.g. 1,2")
@click.option("--landcover", "landcover_dir", type=click.Path(file_okay=False), default=None,
              help="local: a Dubai-style land-cover folder (tile_*/images, tile_*/masks) mixed into the crops")
@click.option("--landcover-share", type=float, default=0.5, show_default=True,
              help="local: fraction of crops drawn from --landcover")
@click.option("--landcover-holdout", multiple=True, default=("tile_8",), show_default=True,
              help="land-cover tiles left out of training")
def pix2pix_cmd(chips_dir, layers, out_dir, holdout, name, steps, decay_steps, batch, crop, ngf, ndf, num_downs,
                norm, no_dropout, lambda_l1, lambda_fm, lambda_ssim, lr, seed, checkpoint_every, max_minutes, threads,
                no_bf16, resume, init_model, val_patterns, snapshots, arch, chans, tile_size, overlap, scales,
                landcover_dir, landcover_share, landcover_holdout) -> None:
    """Train a pix2pix model on chips + footprints; writes OUT/model (safetensors + config.json)."""
    from satgeo.train.landcover import load_dubai
    from satgeo.train.pairs import BANEPA_HOLDOUT, build_pairs, list_chips, split_chips
    from satgeo.train.pix2pix_loop import TrainOptions, layer_paths, train_pix2pix

    chans_t, scales_t = _ints(chans, "--chans"), _ints(scales, "--scales")
    if not 0.0 <= landcover_share < 1.0:
        raise click.BadParameter("must be in [0, 1)", param_hint="--landcover-share")
    landcover = load_dubai(landcover_dir, exclude=landcover_holdout) if landcover_dir else []

    out = Path(out_dir)
    chips = list_chips(chips_dir)
    train_chips, held = split_chips(chips, holdout or BANEPA_HOLDOUT)
    if not train_chips:
        raise click.UsageError("every chip is held out; nothing left to train on")
    click.echo(f"{len(train_chips)} training chips, {len(held)} held out", err=True)
    val_chips = split_chips(held, val_patterns)[1] if val_patterns else []
    if val_patterns and not val_chips:
        raise click.UsageError("--val matches none of the held-out chips")
    pairs = build_pairs(train_chips, layer_paths(layers), out / "cache")
    val = build_pairs(val_chips, layer_paths(layers), out / "cache") if val_chips else None
    card = dict(BANEPA_CARD) if not holdout else {}
    if landcover:
        card.update(LANDCOVER_CARD)
    card["name"] = name or out.name
    opts = TrainOptions(
        steps=steps, decay_steps=decay_steps, batch=batch, crop=crop, ngf=ngf, ndf=ndf, num_downs=num_downs,
        norm=norm, dropout=not no_dropout, lr=lr, lambda_l1=lambda_l1, lambda_fm=lambda_fm, lambda_ssim=lambda_ssim, seed=seed,
        checkpoint_every=checkpoint_every, max_minutes=max_minutes, bf16=not no_bf16, threads=threads, card=card,
        init=init_model, snapshots=snapshots, arch=arch, chans=chans_t, tile_size=tile_size, overlap=overlap,
        scales=scales_t, landcover_share=landcover_share,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps(
        {"train": [c.name for c in train_chips], "holdout": [c.name for c in held],
         "val": [c.name for c in val_chips]}, indent=1))
    model = train_pix2pix(pairs, out, opts, resume=resume, val=val, landcover=landcover)
    click.echo(str(model))


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=option) from None
    if not values or min(values) < 1:
        raise click.BadParameter("values must be positive integers", param_hint=option)
    return values


@train.command("blend")
@click.argument("structure", type=click.Path(exists=True))
@click.argument("texture", type=click.Path(exists=True))
@click.option("--alpha", type=float, required=True, help="0 = the structure model, 1 = the texture model")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="model folder")
@click.option("--name", default=None, help="model name in its card (default: the structure model's)")
def blend_cmd(structure, texture, alpha, out_dir, name) -> None:  # noqa: ANN001
    """Blend the weights of two pix2pix models fine-tuned from one parent (network interpolation)."""
    from satgeo.train.blend import blend_pix2pix

    click.echo(str(blend_pix2pix(structure, texture, alpha, out_dir, name=name)))


def register(app: click.Group) -> None:
    app.add_command(train)
