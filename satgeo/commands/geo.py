"""``satgeo metadata`` and ``satgeo mask``: the GIS core on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from satgeo.errors import InputError

if TYPE_CHECKING:
    from rasterio.crs import CRS

    from satgeo.geo.area import Area


def area_from_options(
    bbox: tuple[float, ...] | None, crs: str | None, aoi: str | None, work_crs: str | None = None
) -> Area:
    """The area of ``--bbox``/``--crs`` or ``--aoi`` (exactly one), as every command that takes one reads it."""
    from satgeo.geo.area import Area

    if bbox and aoi:
        raise InputError("give either --bbox or --aoi, not both")
    if aoi:
        if crs:
            raise InputError("--crs applies to --bbox; an --aoi file carries its own CRS")
        return Area.from_file(aoi, work_crs=work_crs)
    if not bbox:
        raise InputError("give the area with --bbox W S E N (and --crs) or --aoi FILE")
    return Area.from_bbox(tuple(bbox), crs or "EPSG:4326", work_crs=work_crs)


def _crs_text(crs: CRS) -> str:
    from satgeo.geo.crs import epsg_code

    return epsg_code(crs) or crs.to_wkt()


bbox_option = click.option(
    "--bbox", type=float, nargs=4, default=None, metavar="W S E N",
    help="Area bounds in --crs (default EPSG:4326). In lon/lat, W > E crosses the antimeridian.",
)
crs_option = click.option("--crs", default=None, help="CRS of --bbox, e.g. EPSG:3857 (default EPSG:4326).")
work_crs_option = click.option(
    "--work-crs", default=None, help="Pin the work grid's CRS (default: the local UTM zone)."
)


@click.command("metadata")
@bbox_option
@crs_option
@click.option("--aoi", type=click.Path(dir_okay=False), default=None, help="Polygon layer instead of --bbox.")
@work_crs_option
@click.option("--width", type=int, default=None, help="Image width in pixels (default 512 unless --gsd).")
@click.option("--gsd", type=float, default=None, help="Ground sampling distance, metres per pixel.")
@click.option("--date", "date_", default=None, metavar="YYYY-MM-DD", help="Acquisition date.")
@click.option("--cloud-cover", type=float, default=None, help="Cloud cover fraction 0..1.")
@click.option("--class", "cls", default=None, help="fMoW class for the caption (one of its 62; default single-unit residential).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def metadata_cmd(bbox, crs, aoi, work_crs, width, gsd, date_, cloud_cover, cls, as_json) -> None:  # noqa: ANN001
    """DiffusionSat metadata (raw and normalized), caption and work grid of an area."""
    from satgeo.geo.caption import caption_for
    from satgeo.geo.metadata import check_cloud_cover, metadata_for

    if width is not None and gsd is not None:
        raise InputError("give --width or --gsd, not both")
    check_cloud_cover(cloud_cover, "--cloud-cover")
    area = area_from_options(bbox, crs, aoi, work_crs)
    grid = area.work_grid(gsd=gsd, width=width if gsd is not None or width is not None else 512)
    ground = area.ground_gsd(grid)
    meta = metadata_for(area, ground, date=date_, cloud_cover=cloud_cover)
    out = {
        **meta.as_dict(),
        "normalized": meta.normalized(),
        "caption": caption_for(area, cls),
        "crs": _crs_text(grid.crs),
        "width": grid.width,
        "height": grid.height,
        "transform": list(grid.transform)[:6],
        "bounds": list(grid.bounds),
    }
    if as_json:
        click.echo(json.dumps(out))
        return
    for key, value in out.items():
        click.echo(f"{key:12s} {value}")


@click.command("mask")
@click.argument("layers", nargs=-1, required=True, metavar="LAYER...")
@bbox_option
@crs_option
@click.option("--aoi", type=click.Path(dir_okay=False), default=None, help="Polygon layer instead of --bbox.")
@work_crs_option
@click.option("--gsd", type=float, required=True, help="Ground sampling distance, metres per pixel.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output COG.")
@click.option("--road-width", type=float, default=None, help="Width (m) for every road instead of tag widths.")
@click.option("--all-touched", is_flag=True, help="Burn every pixel a feature touches (default: pixel centres).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def mask_cmd(layers, bbox, crs, aoi, work_crs, gsd, output, road_width, all_touched, quiet) -> None:  # noqa: ANN001
    """Burn vector LAYERs into a uint8 class mask COG (0 background, 1 building, 2 road, 3 water, 4 vegetation)."""
    from satgeo.geo.masks import write_mask

    area = area_from_options(bbox, crs, aoi, work_crs)
    path = write_mask(
        [Path(p) for p in layers], area, gsd, output, road_width=road_width, all_touched=all_touched,
        progress=not quiet and sys.stderr.isatty(),
    )
    click.echo(str(path))


def register(app: click.Group) -> None:
    app.add_command(metadata_cmd)
    app.add_command(mask_cmd)
