"""satgeo.json is parsed once into a checked dataclass; bad values are one-line ModelErrors naming the key."""

from __future__ import annotations

import json

import pytest

from satgeo.errors import ModelError
from satgeo.models.ds_config import LoraSpec, SatgeoConfig, parse_satgeo_config, read_satgeo_config


def test_values_are_parsed_and_missing_ones_are_none(tmp_path):
    (tmp_path / "satgeo.json").write_text(json.dumps({
        "name": "m", "window": 256, "window_overlap": 0, "native_gsd": "0.5", "guidance": 0,
        "lora": {"rank": 4}, "training": {"size": 128}, "unknown": [1, 2],
    }))
    cfg = read_satgeo_config(tmp_path)
    assert (cfg.name, cfg.window, cfg.window_overlap, cfg.native_gsd, cfg.guidance) == ("m", 256, 0, 0.5, 0.0)
    assert cfg.lora == LoraSpec(4, 4.0) and cfg.training_size == 128
    assert cfg.steps is None and cfg.base is None
    assert read_satgeo_config(tmp_path) is cfg  # one parse per file version


def test_no_file_is_an_empty_config(tmp_path):
    assert read_satgeo_config(tmp_path) == SatgeoConfig() and read_satgeo_config(None) == SatgeoConfig()


def test_over_fills_only_missing_values():
    cfg = SatgeoConfig(name="mine", native_gsd=None).over(SatgeoConfig(name="default", native_gsd=1.0, license="x"))
    assert (cfg.name, cfg.native_gsd, cfg.license) == ("mine", 1.0, "x")


@pytest.mark.parametrize("data, key", [
    ({"window": "big"}, '"window"'),
    ({"window": 0}, '"window"'),
    ({"native_gsd": -1}, '"native_gsd"'),
    ({"steps": True}, '"steps"'),
    ({"lora": {"alpha": 2}}, '"lora"'),
    ({"condition": 3}, '"condition"'),
    ({"training": {"size": "x"}}, '"training.size"'),
])
def test_bad_values_are_one_line_errors_naming_the_key(data, key):
    with pytest.raises(ModelError) as err:
        parse_satgeo_config(data, "m/satgeo.json")
    msg = str(err.value)
    assert key in msg and msg.startswith("m/satgeo.json") and "\n" not in msg


def test_invalid_json_is_a_model_error(tmp_path):
    (tmp_path / "satgeo.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_satgeo_config(tmp_path)
    (tmp_path / "satgeo.json").write_text("[1]")
    with pytest.raises(ModelError, match="JSON object"):
        read_satgeo_config(tmp_path)
