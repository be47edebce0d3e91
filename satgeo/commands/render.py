"""`satgeo render`: footprints (and other layers) over an area -> a synthetic COG."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from satgeo.commands.geo import area_from_options
from satgeo.errors import InputError
from satgeo.geo.metadata import check_cloud_cover, parse_date
from satgeo.models.ds_config import SCHEDULERS, check_guidance

if TYPE_CHECKING:
    from satgeo.models.base import Generator
    from satgeo.render.request import RenderRequest


@click.command("render")
@click.option("--aoi", type=click.Path(dir_okay=False), default=None, help="Polygon layer of the area.")
@click.option("--bbox", type=float, nargs=4, default=None, metavar="W S E N", help="Area bounds in --crs.")
@click.option("--crs", default=None, help="CRS of --bbox (default EPSG:4326).")
@click.option("--footprints", "layers", multiple=True, metavar="LAYER",
              help="Vector layer(s): buildings, roads, water, landuse (repeatable).")
@click.option("--model", default=None, help="Model name (`satgeo models list`) or checkpoint path; default pix2pix-banepa.")
@click.option("--prompt", default=None, help="Text prompt (diffusion models).")
@click.option("--date", "date_", default=None, metavar="YYYY-MM-DD")
@click.option("--cloud-cover", type=float, default=None, help="0..1")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--gsd", type=float, default=None, help="Output ground metres per pixel (default: the model's native GSD).")
@click.option("--steps", type=int, default=None, help="Sampling steps (diffusion models).")
@click.option("--guidance", type=float, default=None,
              help="Classifier-free guidance scale, >= 0 (diffusion models; default: the model's satgeo.json or 7.5).")
@click.option("--scheduler", type=click.Choice(SCHEDULERS), default=None,
              help="Sampler (diffusion models): the checkpoint's own, DDIM, or DPM-Solver++ 2M.")
@click.option("--condition-raster", "condition_rasters", multiple=True, metavar="FILE",
              help="Low-resolution image (any GDAL raster, any CRS) a conditional DiffusionSat ControlNet "
                   "super-resolves; repeat for a time series.")
@click.option("--stac", is_flag=True, help="Also write a STAC item beside the COG.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="Output COG (.tif).")
def render_cmd(aoi, bbox, crs, layers, model, prompt, date_, cloud_cover, seed, gsd, steps, guidance,  # noqa: ANN001
               scheduler, condition_rasters, stac, quiet, out) -> None:
    """Render synthetic imagery of an area from its vector layers into a georeferenced COG."""
    from pathlib import Path

    from tqdm import tqdm

    from satgeo.render.engine import render_to_cog
    from satgeo.render.request import RenderRequest

    check_cloud_cover(cloud_cover, "--cloud-cover")
    if steps is not None and steps < 1:
        raise InputError(f"--steps must be at least 1, got {steps}")
    check_guidance(guidance)
    for layer in layers:
        if not layer.startswith("/vsi") and not Path(layer).exists():
            raise InputError(f"footprint layer {layer} does not exist")
    for raster in condition_rasters:
        if not raster.startswith("/vsi") and not Path(raster).exists():
            raise InputError(f"condition raster {raster} does not exist")
    area = area_from_options(bbox, crs, aoi)
    from satgeo.render.engine import check_gsd, get_generator

    gen = get_generator(model)  # loaded once; render_to_cog reuses it
    card = gen.card
    if gsd is not None:
        check_gsd(gsd, card)
    area.check_pixels(gsd or card.native_gsd)
    request = RenderRequest(
        area=area, layers=list(layers), model=model, prompt=prompt, date=parse_date(date_, "--date"),
        cloud_cover=cloud_cover, seed=seed, gsd=gsd, steps=steps, guidance=guidance, scheduler=scheduler,
        condition_rasters=list(condition_rasters),
    )
    _check_conditions(request, gen)
    bar = tqdm(total=1000, desc="render", unit="‰", disable=quiet or not sys.stderr.isatty(), file=sys.stderr)
    last = [0]

    def progress(f: float) -> None:
        n = int(f * 1000)
        bar.update(max(0, n - last[0]))
        last[0] = max(last[0], n)

    try:
        result = render_to_cog(request, out, progress=progress, stac=stac)
    finally:
        bar.close()
    g = result.grid
    click.echo(f"{result.path}  {g.width}x{g.height} px  {g.gsd:g} m  {g.crs.to_string()}  {result.seconds:.1f} s")


def _check_conditions(request: RenderRequest, gen: Generator) -> None:
    """Conditional ControlNets: refuse rasters they cannot use (or their absence) before any compute."""
    if not request.condition_rasters and gen.card.family != "controlnet":
        return
    from satgeo.models.condition import validate_request

    validate_request(gen, request.condition_rasters, request.area)


def register(app: click.Group) -> None:
    app.add_command(render_cmd)
