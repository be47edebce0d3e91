"""What `pip install` puts into site-packages: satgeo and satgeo_server, never a bare `server`."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def _declared() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_source_folder_is_a_declared_package() -> None:
    folders = {p.parent for p in (REPO / "satgeo").rglob("*.py") if "__pycache__" not in p.parts}
    on_disk = {".".join(f.relative_to(REPO).parts) for f in folders}
    missing_init = sorted(f for f in on_disk if not (REPO / f.replace(".", "/") / "__init__.py").exists())
    assert not missing_init, f"folders without __init__.py are left out of a wheel: {missing_init}"
    server = {p.parent for p in (REPO / "server").rglob("*.py") if "__pycache__" not in p.parts}
    assert all((f / "__init__.py").exists() for f in server), "a server folder without __init__.py"
    server_packages = {".".join(("satgeo_server", *f.relative_to(REPO / "server").parts)) for f in server}
    assert on_disk | server_packages == _declared()


def test_wheel_installs_no_top_level_server(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(REPO), "-w", str(tmp_path)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("satgeo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"satgeo", "satgeo_server"}
    assert "satgeo_server/static/index.html" in names
    assert "satgeo_server/routers/jobs.py" in names
    assert "satgeo_server/static/vendor/leaflet/leaflet.js" in names
    assert any(n.startswith("satgeo/models/weights/pix2pix-banepa/") for n in names)
