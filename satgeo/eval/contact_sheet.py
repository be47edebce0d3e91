"""A PNG contact sheet: one row per held-out chip, columns mask | generated (per model) | real."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from satgeo.atomic import atomic_path

if TYPE_CHECKING:
    from PIL import Image

#: mask colours for the sheet (class order of docs/architecture.md; the ignore value is black)
MASK_RGB = np.array([(235, 235, 230), (200, 60, 50), (250, 250, 250), (70, 130, 220), (90, 170, 80)], np.uint8)


def mask_rgb(mask: np.ndarray) -> np.ndarray:
    out = np.zeros(mask.shape + (3,), np.uint8)
    known = mask < len(MASK_RGB)
    out[known] = MASK_RGB[mask[known]]
    return out


def contact_sheet(path: str | Path, names: Sequence[str], masks: Sequence[np.ndarray],
                  generated: dict[str, Sequence[np.ndarray]], real: Sequence[np.ndarray], cell: int = 192) -> Path:
    """Write the sheet (atomic); ``generated`` maps a model label to one image per chip."""
    from PIL import Image, ImageDraw

    cols = ["mask", *generated, "real"]
    head, gap = 16, 2
    sheet = Image.new("RGB", (len(cols) * (cell + gap), head + len(names) * (cell + gap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(cols):
        draw.text((j * (cell + gap) + 3, 2), title[:cell // 6], fill=(0, 0, 0))
    for i in range(len(names)):
        row = [mask_rgb(masks[i]), *[g[i] for g in generated.values()], real[i]]
        for j, img in enumerate(row):
            tile = Image.fromarray(np.asarray(img, np.uint8)).resize((cell, cell), Image.Resampling.BILINEAR)
            sheet.paste(tile, (j * (cell + gap), head + i * (cell + gap)))
    return save_png(sheet, path)


def save_png(img: Image.Image, path: str | Path) -> Path:
    """Write ``img`` as a PNG at ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
