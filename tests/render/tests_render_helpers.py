"""Helpers importable from the render tests (unique module name on purpose)."""

from __future__ import annotations

from pathlib import Path

from render_support import save_tiny


def save_tiny_model(folder: Path, seed: int = 0, **over) -> Path:
    return save_tiny(folder, seed=seed, **over)
