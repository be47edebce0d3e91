"""The job mosaic: a hand-written GDAL VRT over the chunk COGs, and optionally one COG.

Chunks sit on one lattice, so every chunk lands at whole-pixel offsets and the VRT only
needs simple sources. A fourth (alpha) band is 255 wherever a chunk exists and 0 in the
gaps between chunks; it is made from each chunk's band 1 scaled by 0 plus 255.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import rasterio
from rasterio.windows import Window

from satgeo.atomic import write_text
from satgeo.batch.journal import CHUNKS_DIR
from satgeo.batch.tiling import Chunk, Plan
from satgeo.geo.cog import BLOCK, CogWriter
from satgeo.geo.grid import Grid

VRT_NAME = "mosaic.vrt"
MOSAIC_COG_NAME = "mosaic.tif"


def _num(v: float) -> str:
    return repr(float(v))


def mosaic_extent(plan: Plan) -> tuple[int, int, int, int]:
    """(min tx, min ty, max tx, max ty) of every planned tile."""
    tiles = [t for c in plan.chunks for t in c.tiles]
    xs = [t[0] for t in tiles]
    ys = [t[1] for t in tiles]
    return min(xs), min(ys), max(xs), max(ys)


def _chunk_offset(chunk: Chunk, plan: Plan, tx0: int, ty0: int) -> tuple[int, int]:
    px = plan.lattice.tile_px
    cx0 = min(t[0] for t in chunk.tiles)
    cy0 = min(t[1] for t in chunk.tiles)
    return (cx0 - tx0) * px, (cy0 - ty0) * px


def build_vrt(plan: Plan, out_dir: Path, tags: dict[str, str] | None = None) -> Path:
    """Write ``out_dir/mosaic.vrt`` over ``out_dir/chunks/*.tif``; deterministic bytes."""
    tx0, ty0, tx1, ty1 = mosaic_extent(plan)
    grid = plan.lattice.grid(tx0, ty0, tx1, ty1)
    t = grid.transform
    lines = [
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">',
        f'  <SRS dataAxisToSRSAxisMapping="1,2">{escape(grid.crs.to_wkt())}</SRS>',
        f"  <GeoTransform>{_num(t.c)}, {_num(t.a)}, {_num(t.b)}, {_num(t.f)}, {_num(t.d)}, {_num(t.e)}</GeoTransform>",
        "  <Metadata>",
    ]
    for k, v in sorted({"SYNTHETIC": "TRUE", **(tags or {})}.items()):
        lines.append(f"    <MDI key={quoteattr(k)}>{escape(v)}</MDI>")
    lines.append("  </Metadata>")
    for band, interp in ((1, "Red"), (2, "Green"), (3, "Blue"), (4, "Alpha")):
        lines.append(f'  <VRTRasterBand dataType="Byte" band="{band}">')
        lines.append(f"    <ColorInterp>{interp}</ColorInterp>")
        for chunk in plan.chunks:
            xoff, yoff = _chunk_offset(chunk, plan, tx0, ty0)
            w, h = chunk.grid.width, chunk.grid.height
            kind = "ComplexSource" if band == 4 else "SimpleSource"
            lines += [
                f"    <{kind}>",
                f'      <SourceFilename relativeToVRT="1">{escape(CHUNKS_DIR + "/" + chunk.filename)}</SourceFilename>',
                f"      <SourceBand>{1 if band == 4 else band}</SourceBand>",
                f'      <SourceProperties RasterXSize="{w}" RasterYSize="{h}" DataType="Byte" BlockXSize="{BLOCK}" BlockYSize="{BLOCK}" />',
                f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}" />',
                f'      <DstRect xOff="{xoff}" yOff="{yoff}" xSize="{w}" ySize="{h}" />',
            ]
            if band == 4:
                lines += ["      <ScaleOffset>255</ScaleOffset>", "      <ScaleRatio>0</ScaleRatio>"]
            lines.append(f"    </{kind}>")
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    return write_text(out_dir / VRT_NAME, "\n".join(lines) + "\n")


def build_mosaic_cog(vrt: Path, out_dir: Path, tags: dict[str, str]) -> Path:
    """One COG of the whole mosaic (RGB + alpha) beside the VRT, through the same writer as the chunks
    (validated, atomic), streamed in bands of rows so memory stays bounded."""
    path = out_dir / MOSAIC_COG_NAME
    with rasterio.open(vrt) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        with CogWriter(path, grid, 4, "uint8", tags=tags, overview_resampling="average") as writer:
            for row in range(0, src.height, BLOCK):
                height = min(BLOCK, src.height - row)
                writer.write(src.read(window=Window(0, row, src.width, height)), row, 0)
    return path


def outputs(out_dir: Path, chunks: Sequence[Chunk]) -> list[Path]:
    """Every imagery file the job writes (chunks, VRT, mosaic COG if present)."""
    files = [out_dir / CHUNKS_DIR / c.filename for c in chunks] + [out_dir / VRT_NAME]
    if (out_dir / MOSAIC_COG_NAME).exists():
        files.append(out_dir / MOSAIC_COG_NAME)
    return files
