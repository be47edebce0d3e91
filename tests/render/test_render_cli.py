"""`satgeo render` on the command line: the demo job, and bad input as one-line errors (exit 2)."""

from __future__ import annotations

import pytest
import rasterio
from cli_support import run_cli
from render_support import DEMO, SMALL_BBOX


def test_render_cli_writes_a_georeferenced_cog(tiny_model, tmp_path):
    out = tmp_path / "demo.tif"
    code, stdout, err = run_cli(
        "render", "--bbox", *map(str, SMALL_BBOX), "--footprints", str(DEMO / "footprints.geojson"),
        "--model", str(tiny_model), "--seed", "3", "--gsd", "0.75", "--date", "2023-05-01", "--stac", "-o", str(out),
    )
    assert code == 0, err
    with rasterio.open(out) as src:
        assert src.count == 3 and src.crs.to_epsg() == 32645 and src.res == (0.75, 0.75)
        tags = src.tags()
    assert tags["SEED"] == "3" and tags["SYNTHETIC"] == "TRUE"
    assert (tmp_path / "demo.stac.json").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--gsd", "30"], "native"),
        (["--bbox", "85.60", "27.70", "85.601", "27.701"], "falls inside the area"),
        (["--date", "2023-13-45"], "--date"),
    ],
)
def test_render_cli_bad_input(tiny_model, tmp_path, extra, message):
    out = tmp_path / "x.tif"
    args = ["render", "--footprints", str(DEMO / "footprints.geojson"), "--model", str(tiny_model), "-o", str(out)]
    if "--bbox" not in extra:
        args += ["--bbox", *map(str, SMALL_BBOX)]
    code, _, err = run_cli(*args, *extra)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_render_cli_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "latest_net_G.pth").write_bytes(b"\x00garbage")
    out = tmp_path / "x.tif"
    code, _, err = run_cli("render", "--bbox", *map(str, SMALL_BBOX), "--model", str(bad), "-o", str(out))
    assert code == 2 and "corrupt" in err and err.count("\n") == 1
    assert not out.exists()


def test_render_cli_unknown_model(tmp_path):
    code, _, err = run_cli("render", "--bbox", *map(str, SMALL_BBOX), "--model", "no-such-model",
                        "-o", str(tmp_path / "x.tif"))
    assert code == 2 and "unknown model 'no-such-model'" in err and "pix2pix-banepa" in err
    assert not list(tmp_path.iterdir())
