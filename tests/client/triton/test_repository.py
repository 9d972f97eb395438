"""The repository on disk: versions as Triton reads them, whole-version swaps, moves, and which
staging leftovers a sync may remove when several share the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelmanager_client.triton.repository import STAGING, Repository, RepositoryError, _host
from tests.fakes.triton.core import stoll


def build(files: dict[str, bytes]) -> Callable[[Path], None]:
    def fill(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (folder / name).write_bytes(body)

    return fill


def test_versions_are_what_triton_reads_and_staging_names_are_never_versions(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "r")
    for name in ("1", "2", "10", "01", "warmup", ".modelmanager-staging-3.h.1.ab", "tmp"):
        (tmp_path / "r" / "m" / name).mkdir(parents=True)
    assert repo.versions("m") == [1, 2, 10]
    assert stoll(f"{STAGING}3.host.1.ab") is None  # std::stoll throws: Triton ignores it


def test_a_version_is_replaced_whole_and_removed_whole(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "r")
    repo.install_version("m", 1, build({"model.onnx": b"old", "extra": b"x"}), b"config")
    inode = (tmp_path / "r" / "m" / "1").stat().st_ino
    repo.install_version("m", 1, build({"model.onnx": b"new"}), None)
    folder = tmp_path / "r" / "m" / "1"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"model.onnx": b"new"}
    assert folder.stat().st_ino != inode
    assert (tmp_path / "r" / "m" / "config.pbtxt").read_bytes() == b"config"
    assert [p.name for p in (tmp_path / "r" / "m").iterdir() if p.name.startswith(STAGING)] == []
    repo.remove_version("m", 1)
    assert repo.versions("m") == []


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "r")

    def broken(folder: Path) -> None:
        folder.mkdir()
        (folder / "half").write_bytes(b"x")
        raise OSError("upstream went away")

    with pytest.raises(OSError, match="went away"):
        repo.install_version("m", 1, broken, b"c")
    assert list((tmp_path / "r").iterdir()) == []


def test_moves_refuse_to_overwrite(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "r")
    repo.install_version("m", 1, build({"a": b"1"}), None)
    (tmp_path / "r-disabled" / "m").mkdir(parents=True)
    with pytest.raises(RepositoryError, match="exists already"):
        repo.move("m", enable=False)
    with pytest.raises(RepositoryError, match="no model 'x' in the repository"):
        repo.move("x", enable=False)


def test_clean_staging_removes_only_what_no_one_is_building(tmp_path: Path) -> None:
    model = tmp_path / "r" / "m"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    names = {"dead": f"{STAGING}1.{_host()}.{dead}.aa", "alive": f"{STAGING}2.{_host()}.{os.getpid()}.bb",
             "other-pod": f"{STAGING}3.pod-b.12.cc", "old-other-pod": f"{STAGING}4.pod-c.12.dd"}
    for name in names.values():
        (model / name).mkdir(parents=True)
    old = time.time() - 2 * 86400
    os.utime(model / names["old-other-pod"], (old, old))
    assert Repository(tmp_path / "r").clean_staging() == 2
    assert sorted(p.name for p in model.iterdir()) == sorted([names["alive"], names["other-pod"]])
