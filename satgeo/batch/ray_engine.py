"""The Ray engine: chunks flow through a Ray Data actor pool; each actor loads the model once.

Actors run the same ``ChunkTask.run`` as the local engine and return COG bytes to the
driver, which writes and journals them; workers therefore need no shared filesystem and
the files are byte-identical to the local engine's. With GPUs in the cluster every actor
asks for one (``num_gpus=1``); otherwise one CPU each.

Where it runs: ``address`` (``--ray-address``), else ``$RAY_ADDRESS``, else an already
initialised Ray, else a local Ray started (and stopped) here.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from satgeo.batch.chunk import ChunkTask, RenderFn
from satgeo.errors import InputError


class ChunkWorker:
    """A Ray Data actor: warm the model once, then render chunk after chunk."""

    def __init__(self, render_fn: RenderFn | None, model: str | None, threads: int | None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        if render_fn is None:
            from satgeo.batch.chunk import default_render_fn

            render_fn = default_render_fn()
            _warm_model(model)
        self.render_fn = render_fn

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[Any]] = {"i": [], "cog": [], "render_s": [], "encode_s": []}
        for i, blob in zip(batch["i"], batch["task"]):
            task: ChunkTask = pickle.loads(blob)
            data, render_s, encode_s = task.run(self.render_fn)
            out["i"].append(int(i))
            out["cog"].append(data)
            out["render_s"].append(render_s)
            out["encode_s"].append(encode_s)
        return {
            "i": np.asarray(out["i"], dtype=np.int64),
            "cog": np.asarray(out["cog"], dtype=object),
            "render_s": np.asarray(out["render_s"]),
            "encode_s": np.asarray(out["encode_s"]),
        }


def _warm_model(model: str | None) -> None:
    """Load the model into the render engine's cache, if it keeps one, so the first chunk is not slower."""
    try:
        from satgeo.render import engine
    except ImportError:
        return
    for name in ("get_generator", "cached_generator", "load_cached_generator"):
        fn = getattr(engine, name, None)
        if callable(fn):
            fn(model)
            return


def _connect(ray, address: str | None, workers: int | None) -> bool:
    """Connect to (or start) Ray; returns whether this call started it."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot join the Ray cluster at {address}: {msg}") from None
    else:
        ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
    return True


def run_ray(
    tasks: Sequence[ChunkTask],
    workers: int | None = None,
    address: str | None = None,
    render_fn: RenderFn | None = None,
    threads: int | None = None,
) -> Iterator[tuple[ChunkTask, bytes, float, float]]:
    """Yield (task, COG bytes, render s, encode s) as actors finish chunks (any order).

    Each actor reserves one CPU (and one GPU when the cluster has GPUs); ``threads`` sets
    its torch threads (Ray's default for a one-CPU actor is one).
    """
    from satgeo.extras import require

    ray = require("ray")
    require("ray.data")
    if not tasks:
        return
    started = _connect(ray, address, workers)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.verbose_stats_logs = False
        gpus = int(ray.cluster_resources().get("GPU", 0))
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pool = workers or (gpus if gpus else max(1, cpus))
        pool = max(1, min(pool, len(tasks)))
        model = tasks[0].params.choices.model
        items = [{"i": i, "task": pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL)} for i, t in enumerate(tasks)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            ChunkWorker,
            fn_constructor_kwargs={"render_fn": render_fn, "model": model, "threads": threads},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_gpus=1 if gpus else 0,
            num_cpus=1,
        )
        for row in ds.iter_rows():
            task = tasks[int(row["i"])]
            yield task, bytes(row["cog"]), float(row["render_s"]), float(row["encode_s"])
    finally:
        if started:
            ray.shutdown()
