"""Progress bar (tiles/s, ETA) and the end-of-job summary."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

SUMMARY_NAME = "summary.json"


class Progress:
    """A tqdm bar counted in tiles; ``initial`` tiles were done by an earlier run."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True) -> None:
        self.bar = tqdm(
            total=total, initial=initial, unit="tile", desc="batch", file=sys.stderr,
            disable=not enabled, dynamic_ncols=True, smoothing=0.1,
        )

    def update(self, tiles: int) -> None:
        self.bar.update(tiles)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@dataclass
class BatchSummary:
    chunks: int
    tiles: int
    pixels: int
    tiles_done_before: int = 0
    tiles_rendered: int = 0
    engine: str = "local"
    seconds: float = 0.0
    plan_seconds: float = 0.0
    render_seconds: float = 0.0  # summed over chunks (across workers for Ray)
    encode_seconds: float = 0.0
    wall_render_seconds: float = 0.0
    output_seconds: float = 0.0  # VRT, mosaic COG, STAC
    files: dict[str, int] = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)  # --pairs: chip counts per split, shards, seconds

    @property
    def tiles_per_second(self) -> float:
        return self.tiles_rendered / self.wall_render_seconds if self.wall_render_seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tiles_per_second"] = self.tiles_per_second
        d["bytes_total"] = sum(self.files.values())
        return d

    def write(self, out_dir: Path) -> Path:
        path = Path(out_dir) / SUMMARY_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    def lines(self) -> list[str]:
        chunk_bytes = sum(v for k, v in self.files.items() if k.startswith("chunks/"))
        out = [
            f"tiles: {self.tiles} in {self.chunks} chunks ({self.tiles_rendered} rendered now"
            + (f", {self.tiles_done_before} done before)" if self.tiles_done_before else ")"),
            f"pixels: {self.pixels:,} ({self.pixels / 1e6:.1f} Mpx)",
            f"time: {self.seconds:.1f} s total; plan {self.plan_seconds:.1f} s, render {self.wall_render_seconds:.1f} s "
            f"({self.tiles_per_second:.2f} tiles/s, {self.engine}), outputs {self.output_seconds:.1f} s",
            f"outputs: chunk COGs {_size(chunk_bytes)}"
            + "".join(f", {k} {_size(v)}" for k, v in self.files.items() if not k.startswith("chunks/")),
        ]
        if self.pairs:
            out.append(
                f"pairs: {self.pairs['train']} train + {self.pairs['val']} val chips "
                f"({self.pairs['dropped_near_val']} dropped beside val, {self.pairs['written']} written now)"
                + (f", {len(self.pairs['shards'])} webdataset shards" if self.pairs.get("shards") else "")
            )
        return out
