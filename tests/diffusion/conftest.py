"""Tiny DiffusionSat / ControlNet checkpoints built by code once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    from satgeo.models.tiny import build_tiny_diffusionsat

    return build_tiny_diffusionsat(tmp_path_factory.mktemp("tiny") / "diffusionsat-tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_pipe(tiny_root):
    from satgeo.models.diffusionsat import DiffusionSatPipeline

    return DiffusionSatPipeline.from_folder(tiny_root, device="cpu", dtype=__import__("torch").float32)


@pytest.fixture(scope="session")
def tiny_cn_root(tiny_root, tmp_path_factory) -> Path:
    from satgeo.models.tiny import build_tiny_controlnet

    root = tmp_path_factory.mktemp("tinycn") / "controlnet-tiny"
    shutil.copytree(tiny_root, root)
    build_tiny_controlnet(root / "controlnet", tiny_root, variant="diffusionsat")
    return root


@pytest.fixture()
def satgeo_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SATGEO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home
