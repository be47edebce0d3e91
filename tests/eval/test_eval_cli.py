"""`satgeo eval` end to end on the fixture chips: several models, JSON, contact sheet, cache, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_support import run_cli
from eval_support import CHIPS, FOOTPRINTS, HOLDOUT

FAST = ["--chips", str(CHIPS), "--footprints", str(FOOTPRINTS), "--holdout", HOLDOUT, "--seg-steps", "4",
        "--lattice-windows", "2"]


def test_eval_scores_several_models_and_reuses_its_segmenter(tmp_path, tiny_p2p):
    sheet, cache = tmp_path / "sheet.png", tmp_path / "cache"
    code, out, err = run_cli("eval", *FAST, "--model", str(tiny_p2p), "--model", "flat",
                             "--json", "--sheet", str(sheet), "--cache", str(cache))
    assert code == 0, err
    res = json.loads(out)
    assert set(res["models"]) == {"tiny-p2p", "flat"}
    assert res["chips"]["held_out"] == ["Q-3-0", "Q-3-1"]
    for m in res["models"].values():
        assert 0 <= m["layout_iou"]["building"] <= 1 and m["layout_iou"]["road"] is None
        assert 0 <= m["c2st_ci95"][0] <= m["c2st_accuracy"] <= m["c2st_ci95"][1] <= 1
        assert m["kid"]["std"] >= 0 and math_finite(m["kid"]["mean"])
        assert set(m["lattice"]) >= {"background", "building", "water", "vegetation", "stride"}
        assert 0 < m["psnr"] < 60
    # a flat fill has no texture: grey std 0 and no lattice share; the random U-Net paints texture
    assert res["models"]["flat"]["lattice"]["water"]["grey_std"] == 0
    assert res["models"]["flat"]["lattice"]["water"]["share"] is None
    assert res["models"]["tiny-p2p"]["lattice"]["building"]["grey_std"] > 0
    assert res["models"]["tiny-p2p"]["lattice"]["stride"] == 48
    assert 0 <= res["real"]["layout_iou"]["building"] <= 1 and res["real"]["lattice"]["cells"] >= 1
    assert res["segmenter"]["cached"] is False and len(list(cache.glob("segmenter-*.safetensors"))) == 1
    from PIL import Image

    with Image.open(sheet) as im:  # 2 chips x (mask, 2 models, real)
        assert im.width > im.height and np.asarray(im).std() > 0

    code, out, err = run_cli("eval", *FAST, "--model", "flat", "--json", "--cache", str(cache))
    again = json.loads(out)
    assert again["segmenter"]["cached"] is True
    # same segmenter, same numbers (the real lattice differs: it is folded at the first model's stride)
    assert again["real"]["layout_iou"] == res["real"]["layout_iou"] and again["models"]["flat"] == {**res["models"]["flat"],
                                                                        "seconds": again["models"]["flat"]["seconds"]}


def math_finite(v: float) -> bool:
    return v == v and abs(v) < 1e9


def test_eval_text_table(tmp_path):
    code, out, err = run_cli("eval", *FAST, "--model", "flat", "--cache", str(tmp_path))
    assert code == 0, err
    assert out.splitlines()[0].startswith("model |") and out.splitlines()[1].startswith("flat |")


def _one_error(code: int, out: str, err: str, text: str) -> None:
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], err


def test_eval_bad_input_one_error_line_nothing_written(tmp_path, capsys):
    sheet, cache = tmp_path / "s.png", tmp_path / "cache"
    outs = ["--sheet", str(sheet), "--cache", str(cache)]
    # chips without masks: no --footprints, or a layer far away
    _one_error(*run_cli("eval", "--chips", str(CHIPS), "--model", "flat", *outs), "no masks")
    far = tmp_path / "far.geojson"
    far.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                   "geometry": {"type": "Polygon", "coordinates": [[[10, 50], [10.001, 50], [10.001, 50.001], [10, 50]]]}}]}))
    _one_error(*run_cli("eval", "--chips", str(CHIPS), "--footprints", str(far), "--holdout", HOLDOUT,
                        "--model", "flat", *outs), "no mask")
    # a folder of another family: a diffusion checkpoint folder is recognised, then refused
    from satgeo.models.tiny import build_tiny_diffusionsat

    other = build_tiny_diffusionsat(tmp_path / "dsat")
    capsys.readouterr()  # building it prints progress bars
    _one_error(*run_cli("eval", *FAST, "--model", str(other), *outs), "mask-conditioned")
    # a weights file that does not load
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    (broken / "config.json").write_text(json.dumps({"family": "pix2pix", "name": "broken"}))
    _one_error(*run_cli("eval", *FAST, "--model", str(broken), *outs), "cannot read checkpoint")
    bad_fid = tmp_path / "fid.pt"
    bad_fid.write_bytes(b"garbage")
    _one_error(*run_cli("eval", *FAST, "--model", "flat", "--fid-weights", str(bad_fid), *outs),
               "TorchScript")
    assert not sheet.exists() and not cache.exists()


@pytest.mark.slow
def test_fid_lpips_clip_mechanics_with_tiny_random_weights(tmp_path):
    import torch
    from transformers import CLIPConfig, CLIPModel

    from satgeo.eval.extras import ExtraMetrics, frechet_distance
    from satgeo.models.tiny import write_byte_tokenizer

    class Feat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)

        def forward(self, x: torch.Tensor, return_features: bool = False, resize_images: bool = True,
                    return_lpips: bool = False) -> torch.Tensor:
            f = self.conv(x.float() / 127.5 - 1).mean((2, 3))
            return f / (torch.sqrt((f * f).sum(1, keepdim=True)) + 1e-8) if return_lpips else f

    torch.manual_seed(0)
    net = torch.jit.script(Feat())
    net.save(str(tmp_path / "feat.pt"))
    clip_dir = tmp_path / "clip"
    cfg = CLIPConfig(text_config=dict(vocab_size=514, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=128, bos_token_id=512,
                                      eos_token_id=513),
                     vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=8), projection_dim=8)
    CLIPModel(cfg).save_pretrained(clip_dir)
    write_byte_tokenizer(clip_dir)
    extra = ExtraMetrics.load(str(tmp_path / "feat.pt"), str(tmp_path / "feat.pt"), str(clip_dir), "buildings")
    rng = np.random.default_rng(0)
    real = [rng.integers(0, 256, (512, 512, 3)).astype(np.uint8) for _ in range(2)]
    res_same = extra.score(real, real)
    assert res_same["lpips"] == 0 and abs(res_same["fid"]) < 1e-6
    res = extra.score(real, [np.clip(r.astype(int) + 60, 0, 255).astype(np.uint8) for r in real])
    assert res["fid"] > 1e-4 and res["lpips"] > 0
    assert 0 <= res["clip_score"] <= 100 and 0 <= res["clip_score_real"] <= 100
    a = rng.normal(size=(300, 3))
    assert frechet_distance(a, a + [1, 0, 0]) == pytest.approx(1.0, abs=1e-9)
