"""`satgeo train controlnet` and `satgeo train lora` (added to the `train` group)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click


def _options(f):
    f = click.option("--base", required=True, help="base pipeline: a DiffusionSat/SD folder or a registered name")(f)
    f = click.option("--shards", multiple=True, help="webdataset shard(s) or brace pattern (image.png, mask.png, metadata.json)")(f)
    f = click.option("--chips", default=None, type=click.Path(file_okay=False), help="georeferenced RGB chips (instead of --shards)")(f)
    f = click.option("--footprints", "layers", multiple=True, help="vector layers burned into masks for --chips")(f)
    f = click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="run folder")(f)
    f = click.option("--steps", type=int, default=1000, show_default=True)(f)
    f = click.option("--batch", type=int, default=2, show_default=True)(f)
    f = click.option("--lr", type=float, default=None, help="learning rate (default 1e-5 ControlNet, 1e-4 LoRA)")(f)
    f = click.option("--size", type=int, default=None, help="training crop in px (default: the model window)")(f)
    f = click.option("--seed", type=int, default=0, show_default=True)(f)
    f = click.option("--device", default=None, help="cpu or cuda (default: cuda when available)")(f)
    return f


def _shards(shards, chips, layers, out_dir):
    from pathlib import Path

    from satgeo.errors import InputError

    if shards and chips:
        raise InputError("give either --shards or --chips, not both")
    if shards:
        return list(shards) if len(shards) > 1 else shards[0]
    if not chips:
        raise InputError("give training data with --shards or --chips (+ --footprints)")
    from satgeo.train.pairs import list_chips
    from satgeo.train.shards import make_shards

    return [str(p) for p in make_shards(list_chips(chips), list(layers), Path(out_dir) / "shards")]


def _progress(steps: int) -> Callable[[int, float], None]:
    from tqdm import tqdm

    bar = tqdm(total=steps, desc="train", file=sys.stderr, disable=not sys.stderr.isatty())

    def cb(i: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if i == steps:
            bar.close()

    return cb


def _base_path(base: str) -> str:
    from satgeo.models.registry import resolve

    return str(resolve(base)[0])


def register(app: click.Group) -> None:
    found = app.commands.get("train")
    if isinstance(found, click.Group):
        train = found
    else:  # the pix2pix module normally defines the group; stand alone without it
        @app.group("train")
        def train() -> None:
            """Train models."""

    @train.command("controlnet")
    @_options
    @click.option("--conditioning", default="satgeo-mask", show_default=True, help="conditioning style (palette)")
    @click.option("--variant", type=click.Choice(["diffusionsat", "diffusers"]), default="diffusionsat", show_default=True)
    def controlnet_cmd(base, shards, chips, layers, out_dir, steps, batch, lr, size, seed, device, conditioning, variant):  # noqa: ANN001
        """Train a ControlNet (map -> image) over a frozen DiffusionSat/SD base."""
        from satgeo.train.controlnet import DiffusionTrainOptions, train_controlnet

        opts = DiffusionTrainOptions(steps=steps, batch=batch, lr=lr or 1e-5, size=size, seed=seed, device=device,
                                     conditioning=conditioning, variant=variant)
        model = train_controlnet(_base_path(base), _shards(shards, chips, layers, out_dir), out_dir, opts, _progress(steps))
        click.echo(str(model))

    @train.command("lora")
    @_options
    @click.option("--rank", type=int, default=8, show_default=True)
    def lora_cmd(base, shards, chips, layers, out_dir, steps, batch, lr, size, seed, device, rank):  # noqa: ANN001
        """Fine-tune a LoRA on the base UNet's attention."""
        from satgeo.train.controlnet import DiffusionTrainOptions
        from satgeo.train.lora import train_lora

        opts = DiffusionTrainOptions(steps=steps, batch=batch, lr=lr or 1e-4, size=size, seed=seed, device=device,
                                     lora_rank=rank)
        model = train_lora(_base_path(base), _shards(shards, chips, layers, out_dir), out_dir, opts, _progress(steps))
        click.echo(str(model))
