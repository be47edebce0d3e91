"""The tree's structural rules (docs/architecture.md), checked on every test run.

- no import cycle among satgeo's and the server's modules, counting imports inside functions;
- the layer contract in pyproject.toml ([tool.importlinter]) holds, and fails on a planted violation;
- importing the geo core, the render engine, batch and the server never imports torch;
- ruff and mypy pass with the configuration in pyproject.toml;
- no source file grows past 500 lines.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: import name -> source folder (the server's folder is server/, installed as satgeo_server)
PACKAGES = {"satgeo": REPO / "satgeo", "satgeo_server": REPO / "server"}
TORCH_FREE = ["satgeo.geo", "satgeo.render", "satgeo.batch", "satgeo_server"]
MAX_LINES = 500


def modules(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the packages."""
    out = {}
    for name, root in packages.items():
        for f in root.rglob("*.py"):
            if "__pycache__" in f.parts:
                continue
            parts = [name, *f.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of ``mods`` it imports anywhere in its body (functions included)."""

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the submodule when there is one, else pkg itself
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            targets |= {t for t in map(known, names) if t and t != mod}
        graph[mod] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    found = cycles(import_graph(modules(PACKAGES)))
    assert not found, "import cycles (imports inside functions count):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_cycle_finder_sees_imports_inside_functions(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (pkg / "c.py").write_text("def g():\n    import pkg.a\n")
    (pkg / "d.py").write_text("from . import a\n")
    assert cycles(import_graph(modules({"pkg": pkg}))) == [["pkg.a", "pkg.b", "pkg.c"]]


def _lint_imports(tree: Path = REPO) -> subprocess.CompletedProcess[str]:
    """lint-imports with the repo's contract on the satgeo package in ``tree`` (it imports from its cwd)."""
    exe = shutil.which("lint-imports")
    assert exe, "lint-imports missing: pip install -c constraints.txt -e '.[dev]'"
    return subprocess.run([exe, "--no-cache", str(REPO / "pyproject.toml")], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)


def test_layer_contract_holds() -> None:
    r = _lint_imports()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_layer_contract_fails_on_a_wrong_way_import(tmp_path: Path) -> None:
    """Plant a lazy import of the batch layer inside the geo core of a copy of the tree."""
    shutil.copytree(REPO / "satgeo", tmp_path / "satgeo",
                    ignore=shutil.ignore_patterns("__pycache__", "*.safetensors", "data"))
    victim = tmp_path / "satgeo" / "geo" / "grid.py"
    victim.write_text(victim.read_text() + "\n\ndef _planted() -> None:\n    from satgeo.batch import job  # noqa\n")
    r = _lint_imports(tmp_path)
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr[-2000:]
    assert "satgeo.geo is not allowed to import satgeo.batch" in r.stdout
    assert "satgeo.geo.grid -> satgeo.batch.job" in r.stdout


_IMPORT_ALL = """
import importlib, json, pkgutil, sys
mods = []
for name in sys.argv[1:]:
    pkg = importlib.import_module(name)
    mods.append(name)
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), name + "."):
        importlib.import_module(info.name)
        mods.append(info.name)
print(json.dumps({"modules": mods, "heavy": sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)}))
"""


def _heavy_after_import(*packages: str) -> tuple[list[str], list[str]]:
    r = subprocess.run([sys.executable, "-c", _IMPORT_ALL, *packages], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out["modules"], out["heavy"]


def test_geo_render_batch_and_server_import_without_torch() -> None:
    mods, heavy = _heavy_after_import(*TORCH_FREE)
    assert len(mods) > 40 and "satgeo_server.app" in mods and "satgeo.render.engine" in mods
    assert heavy == [], f"importing {TORCH_FREE} pulled in {heavy}"


def test_torch_check_notices_torch() -> None:
    _, heavy = _heavy_after_import("satgeo.geo", "satgeo.models.pix2pix_nets")
    assert "torch" in heavy


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True)


def test_ruff_passes() -> None:
    r = _tool("ruff", "check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]


@pytest.mark.slow
def test_mypy_passes() -> None:
    r = _tool("mypy")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]


def test_no_source_file_over_500_lines() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.py", "*.js", "*.html", "*.css"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    files = [REPO / f for f in tracked if "/vendor/" not in f] if tracked else list(REPO.glob("satgeo/**/*.py"))
    long = {str(f.relative_to(REPO)): n for f in files if f.exists() and (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these files (over {MAX_LINES} lines): {long}"
