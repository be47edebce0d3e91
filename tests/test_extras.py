"""Optional dependencies: a missing extra is one `error:` line naming it (exit 2), nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from satgeo.extras import EXTRAS, MissingExtra, require

REPO = Path(__file__).resolve().parents[1]


def _cli_without(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``satgeo ARGS`` in a fresh interpreter where ``module`` cannot be imported."""
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['satgeo', *{args!r}]; "
            "from satgeo.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_every_optional_import_names_its_extra(monkeypatch):
    for module, (extra, _) in EXTRAS.items():
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(MissingExtra, match=rf"\[{extra}\]"):
            require(module)


def test_extras_are_declared_in_pyproject():
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, (extra, _) in EXTRAS.items():
        assert any(dep.lower().startswith(module) for dep in declared[extra]), f"{module} is not in [{extra}]"
    install = (REPO / "scripts" / "install.sh").read_text()
    readme = (REPO / "README.md").read_text()
    for extra in {e for e, _ in EXTRAS.values()}:
        assert extra in install.split('-e ".[')[1].split("]")[0].split(","), f"install.sh does not install [{extra}]"
        assert f".[{extra}]" in readme, f"README does not name the [{extra}] extra"


@pytest.mark.parametrize("module, command", [
    ("peft", ["train", "lora"]),
    ("webdataset", ["train", "controlnet"]),
])
def test_training_without_the_train_extra_is_one_error_line(module, command, tmp_path):
    from satgeo.models.tiny import build_tiny_diffusionsat

    base = build_tiny_diffusionsat(tmp_path / "base")
    shard = tmp_path / "train-000000.tar"
    shard.write_bytes(b"")
    r = _cli_without(module, [*command, "--base", str(base), "--shards", str(shard), "-o", str(tmp_path / "run"),
                              "--steps", "1", "--device", "cpu"], tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "[train]" in lines[0], r.stderr
    assert module in lines[0]
    assert not (tmp_path / "run" / "model").exists()


def test_ray_engine_without_ray_is_one_error_line(tmp_path):
    layer = REPO / "tests" / "server" / "data" / "banepa_footprints.geojson"
    r = _cli_without("ray", ["batch", str(layer), "-o", str(tmp_path / "out"), "--engine", "ray"], tmp_path)
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert r.returncode == 2, r.stderr
    # batch reports its plan and progress first; the failure itself is one line, the last
    assert len(errors) == 1 and errors[0].startswith("error: ") and "[ray]" in errors[0], r.stderr
    assert r.stderr.strip().splitlines()[-1] == errors[0]
