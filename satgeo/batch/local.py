"""The local engine: chunks rendered one after another in this process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from satgeo.batch.chunk import ChunkTask, RenderFn, default_render_fn


def run_local(
    tasks: Iterable[ChunkTask], render_fn: RenderFn | None = None, threads: int | None = None
) -> Iterator[tuple[ChunkTask, bytes, float, float]]:
    """Yield (task, COG bytes, render s, encode s) for each task, in order.

    ``threads`` sets torch's intra-op threads for the run (restored afterwards).
    """
    fn = render_fn
    saved = None
    try:
        for task in tasks:
            if fn is None:
                fn = default_render_fn()  # imported on first use: planning never pays for torch
            if threads and saved is None:
                import torch

                saved = torch.get_num_threads()
                torch.set_num_threads(threads)
            data, render_s, encode_s = task.run(fn)
            yield task, data, render_s, encode_s
    finally:
        if saved is not None:
            import torch

            torch.set_num_threads(saved)
