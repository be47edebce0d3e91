"""satgeo.atomic: the final path holds the old content or the complete new one, never a part."""
from __future__ import annotations

from pathlib import Path

import pytest

from satgeo import atomic


def test_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text("old")
    atomic.write_text(p, "new", fsync=True)
    assert p.read_text() == "new"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.json"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    p = tmp_path / "a.tif"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".tif" and tmp.name.startswith(".a.")
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert p.read_bytes() == b"old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.tif"]


def test_folder_is_moved_into_place_or_removed(tmp_path: Path) -> None:
    dest = tmp_path / "model"
    with atomic.atomic_path(dest) as tmp:
        tmp.mkdir()
        (tmp / "w.bin").write_bytes(b"x")
    assert (dest / "w.bin").read_bytes() == b"x"
    with pytest.raises(ValueError), atomic.atomic_path(tmp_path / "other") as tmp:
        tmp.mkdir()
        (tmp / "w.bin").write_bytes(b"x")
        raise ValueError
    assert sorted(x.name for x in tmp_path.iterdir()) == ["model"]


def test_temp_siblings_are_unique(tmp_path: Path) -> None:
    p = tmp_path / "x.png"
    assert len({atomic.temp_sibling(p) for _ in range(50)}) == 50


def test_leftovers_are_recognised_by_the_same_naming_rule(tmp_path: Path) -> None:
    p = tmp_path / "chunk.tif"
    assert atomic.is_temp_sibling(atomic.temp_sibling(p), p)
    assert not atomic.is_temp_sibling(atomic.temp_sibling(tmp_path / "other.tif"), p)
    assert not atomic.is_temp_sibling(atomic.temp_sibling(tmp_path / "chunk.png"), p)
    assert not atomic.is_temp_sibling(tmp_path / "sub" / atomic.temp_sibling(p).name, p)
