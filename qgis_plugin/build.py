#!/usr/bin/env python3
"""Build the installable plugin zip: ``python3 qgis_plugin/build.py -o dist/``.

The zip holds ``satgeo_qgis/`` (code, metadata.txt, icon) plus the repository's ``styles/*.qml``
under ``satgeo_qgis/styles/``; install it with Plugins > Manage and Install Plugins > Install from ZIP.
Pure standard library, so any Python builds it.
"""

from __future__ import annotations

import argparse
import configparser
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = HERE / "satgeo_qgis"
STYLES = HERE.parent / "styles"
SKIP_DIRS = {"__pycache__", "tests", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}


def plugin_version() -> str:
    meta = configparser.ConfigParser()
    meta.read(PLUGIN / "metadata.txt", encoding="utf-8")
    return meta["general"]["version"]


def files() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PLUGIN.rglob("*")):
        rel = path.relative_to(PLUGIN)
        if path.is_dir() or SKIP_DIRS.intersection(rel.parts) or path.suffix in SKIP_SUFFIXES:
            continue
        out.append((path, f"satgeo_qgis/{rel.as_posix()}"))
    qmls = sorted(STYLES.glob("*.qml"))
    if not qmls:
        raise SystemExit(f"error: no .qml styles in {STYLES}; the plugin needs styles/synthetic.qml")
    out += [(qml, f"satgeo_qgis/styles/{qml.name}") for qml in qmls]
    return out


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"satgeo_qgis-{plugin_version()}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arc in files():
            info = zipfile.ZipInfo(arc, date_time=(2024, 1, 1, 0, 0, 0))  # reproducible bytes
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="dist", type=Path, help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    try:
        target = build(args.out)
    except OSError as exc:
        print(f"error: cannot write the plugin zip: {exc}", file=sys.stderr)
        return 2
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
