"""A small PNG line plot (Pillow only): held-out IoU against N real chips, with and without synthetic data."""

from __future__ import annotations

from pathlib import Path

COLOURS = [(30, 30, 30), (200, 60, 50), (40, 110, 200), (60, 160, 80), (150, 80, 170), (220, 140, 30)]


def plot_downstream(res: dict, path: str | Path, size: tuple[int, int] = (720, 460)) -> Path:
    """Mean +- std of the primary score per N: real only, real + each generator; synthetic only as dashes."""
    from PIL import Image, ImageDraw

    key = res["primary"]
    ns = res["ns"]

    def stat(summary: dict) -> tuple[float, float]:
        s = summary["miou"] if key == "miou" else summary["iou"].get(key, {"mean": 0.0, "std": 0.0})
        return s["mean"], s["std"]

    lines = {"real only": [stat(res["real"][str(n)]) for n in ns]}
    for label, per_n in res["real+synthetic"].items():
        lines[f"real + {label}"] = [stat(per_n[str(n)]) for n in ns]
    flat = {f"{label} only": stat(s) for label, s in res["synthetic"].items()}
    vals = [m + s for pts in lines.values() for m, s in pts] + [m for m, _ in flat.values()]
    lows = [m - s for pts in lines.values() for m, s in pts] + [m for m, _ in flat.values()]
    y0, y1 = max(0.0, min(lows) - 0.05), min(1.0, max(vals) + 0.05)
    w, h = size
    left, right, top, bottom = 60, 190, 30, 50
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)

    def xy(i: int, v: float) -> tuple[float, float]:
        v = min(max(v, y0), y1)
        x = left + (i + 0.5) * (w - left - right) / len(ns)
        return x, top + (y1 - v) / (y1 - y0 + 1e-9) * (h - top - bottom)

    d.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    for k in range(6):
        v = y0 + (y1 - y0) * k / 5
        _, y = xy(0, v)
        d.line([left - 4, y, left, y], fill=(0, 0, 0))
        d.text((8, y - 6), f"{v:.2f}", fill=(0, 0, 0))
    for i, n in enumerate(ns):
        x, _ = xy(i, y0)
        d.text((x - 8, h - bottom + 6), str(n), fill=(0, 0, 0))
    d.text((left + (w - left - right) // 2 - 40, h - 22), "N real chips", fill=(0, 0, 0))
    d.text((left, 8), f"held-out {'mIoU' if key == 'miou' else key + ' IoU'} ({res['dataset']}, mean +- std "
                      f"over {len(res['seeds'])} seeds)", fill=(0, 0, 0))
    legend_y = top
    for c, (label, pts) in enumerate(lines.items()):
        col = COLOURS[c % len(COLOURS)]
        xys = [xy(i, m) for i, (m, _) in enumerate(pts)]
        d.line(xys, fill=col, width=2)
        for (x, y), (m, s) in zip(xys, pts):
            _, ya = xy(0, m - s)
            _, yb = xy(0, m + s)
            d.line([x, ya, x, yb], fill=col)
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=col)
        d.line([w - right + 10, legend_y + 6, w - right + 30, legend_y + 6], fill=col, width=2)
        d.text((w - right + 35, legend_y), label[:24], fill=col)
        legend_y += 16
    for c, (label, (m, _)) in enumerate(flat.items(), start=1):
        col = COLOURS[c % len(COLOURS)]
        _, y = xy(0, m)
        for x in range(left, w - right, 12):
            d.line([x, y, x + 6, y], fill=col)
        d.text((w - right + 35, legend_y), label[:24], fill=col)
        for x in range(w - right + 10, w - right + 30, 8):
            d.line([x, legend_y + 6, x + 4, legend_y + 6], fill=col)
        legend_y += 16
    from satgeo.eval.contact_sheet import save_png

    return save_png(img, path)
