"""`satgeo eval downstream` end to end on the fixture chips (seconds), a pair folder, bad input, and the full
Banepa experiment when ../shared/data is there."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_support import run_cli
from eval_support import CHIPS, FOOTPRINTS, HOLDOUT, LAYER_CHIPS, SHARED

from satgeo.eval.downstream import t_interval

FAST = ["eval", "downstream", "--chips", str(CHIPS), "--footprints", str(FOOTPRINTS), "--holdout", HOLDOUT,
        "--layer-chips", LAYER_CHIPS, "--seeds", "2", "--steps", "3"]


def _pair_folder(root, n: int = 2):
    """A minimal `satgeo batch --pairs` layout: DIR/pairs/train/{images,labels}/<chip>.tif."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    for sub in ("images", "labels"):
        (root / "pairs" / "train" / sub).mkdir(parents=True, exist_ok=True)
    prof = dict(driver="GTiff", width=64, height=64, crs="EPSG:32645", transform=from_origin(0, 0, 0.5, 0.5))
    for k in range(n):
        with rasterio.open(root / "pairs" / "train" / "images" / f"c{k}.tif", "w", count=3, dtype="uint8", **prof) as d:
            d.write(rng.integers(0, 256, (3, 64, 64)).astype(np.uint8))
        with rasterio.open(root / "pairs" / "train" / "labels" / f"c{k}.tif", "w", count=1, dtype="uint8", **prof) as d:
            d.write((rng.random((1, 64, 64)) < 0.4).astype(np.uint8))
    return root


def test_downstream_end_to_end_json_and_plot(tmp_path, tiny_p2p):
    plot = tmp_path / "iou.png"
    pairs = _pair_folder(tmp_path / "export")
    code, out, err = run_cli(*FAST, "--model", "flat", "--model", str(tiny_p2p), "--pairs",
                             str(pairs), "--n", "1,all", "--json", "--plot", str(plot))
    assert code == 0, err
    res = json.loads(out)
    assert res["ns"] == [1, 4] and res["seeds"] == [0, 1] and res["primary"] == "building"
    assert res["real_pool"] == 4 and res["held_out"] == 2
    assert res["synthetic_chips"] == {"pairs:export": 2, "flat": 2, "tiny-p2p": 2}
    for n in ("1", "4"):
        real = res["real"][n]
        assert len(real["per_seed"]) == 2 and 0 <= real["iou"]["building"]["mean"] <= 1
        for label in ("flat", "tiny-p2p", "pairs:export"):
            mixed, gain = res["real+synthetic"][label][n], res["gain"][label][n]
            diffs = [m["iou"]["building"] - r["iou"]["building"] for m, r in zip(mixed["per_seed"], real["per_seed"])]
            assert gain["mean"] == pytest.approx(np.mean(diffs), abs=1e-4) and gain["n"] == 2
            assert gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1]
    assert set(res["synthetic"]) == {"flat", "tiny-p2p", "pairs:export"}
    from PIL import Image

    with Image.open(plot) as im:
        assert im.size == (720, 460)
    # the text table names every arm
    code, out, _ = run_cli(*FAST, "--model", "flat", "--n", "2")
    assert code == 0 and "real + flat" in out and "synthetic only (flat, 2 chips)" in out


def test_downstream_is_deterministic_per_seed(tmp_path):
    runs = [json.loads(run_cli(*FAST, "--model", "flat", "--n", "2", "--json")[1]) for _ in range(2)]
    assert runs[0]["real"] == runs[1]["real"] and runs[0]["gain"] == runs[1]["gain"]


def test_t_interval_known_values():
    res = t_interval([0.1, 0.2, 0.3])
    # mean 0.2, sd 0.1, t(0.975, 2) = 4.303: half-width 4.303 * 0.1 / sqrt(3)
    assert res["mean"] == 0.2 and res["std"] == 0.1
    assert res["ci95"] == [pytest.approx(0.2 - 0.2484, abs=1e-4), pytest.approx(0.2 + 0.2484, abs=1e-4)]


def _one_error(code: int, out: str, err: str, text: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], err


def test_downstream_bad_input_one_error_line_nothing_written(tmp_path, capsys):
    plot = tmp_path / "p.png"
    not_pairs = tmp_path / "not_pairs"
    not_pairs.mkdir()
    _one_error(*run_cli(*FAST, "--pairs", str(not_pairs), "--plot", str(plot)), "not a pair folder")
    _one_error(*run_cli(*FAST, "--model", "flat", "--n", "5", "--plot", str(plot)),
               "real pool holds 4")
    from satgeo.models.tiny import build_tiny_diffusionsat

    other = build_tiny_diffusionsat(tmp_path / "dsat")
    capsys.readouterr()  # building it prints progress bars
    _one_error(*run_cli(*FAST, "--model", str(other), "--plot", str(plot)), "mask-conditioned")
    _one_error(*run_cli(*FAST, "--plot", str(plot)), "synthetic source")
    assert not plot.exists()


@pytest.mark.shared_data
@pytest.mark.slow
def test_downstream_banepa_pools_are_disjoint_areas():
    """The full experiment's data: the held-out block, a 24-chip real pool and a 16-chip layer pool, no overlap."""
    from satgeo.eval.downstream_data import banepa_data

    root = SHARED / "hotosm_fair_banepa" / "train"
    if not root.is_dir():
        pytest.skip(f"shared data not available: {root}")
    data = banepa_data(root / "oam", [str(next((root / "osm").glob("*.geojson")))])
    names = [{s.name for s in part} for part in (data.real_pool, data.held, data.layer_pool)]
    assert [len(n) for n in names] == [24, 8, 16]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    # the real pool is the west (x 386690-386692); the generators render masks of the other chips
    assert all(int(n.split("-")[1]) <= 386692 for n in names[0])
