"""Read-only and cleaning commands never create a cache where none is: a mistyped --cache-dir is
reported, not silently turned into an empty cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.__main__ import build_app
from proxy.cli import commands


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("argv", [["ls"], ["ls", "--pinned"], ["gc"], ["gc", "--dry-run"]])
def test_a_missing_cache_dir_is_reported_and_not_created(tmp_path: Path, argv: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "cahce"
    assert commands.main([*argv, "--cache-dir", str(typo)], build_app) == 2
    assert not typo.exists()
    assert capsys.readouterr().err.strip() == f"modelmanager {argv[0]}: --cache-dir {typo} does not exist"


@pytest.mark.parametrize("argv", [["ls"], ["gc"]])
def test_a_directory_without_a_cache_is_left_alone(tmp_path: Path, argv: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a cache")
    before = tree(tmp_path)
    assert commands.main([*argv, "--cache-dir", str(tmp_path)], build_app) == 2
    assert tree(tmp_path) == before
    assert "holds no cache" in capsys.readouterr().err


def test_ls_reads_an_existing_cache_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    (cache / "index").mkdir(parents=True)
    before = tree(cache)
    assert commands.main(["ls", "--cache-dir", str(cache)], build_app) == 0
    assert commands.main(["ls", "--pinned", "--cache-dir", str(cache)], build_app) == 0
    assert tree(cache) == before
    assert "0 entries" in capsys.readouterr().err
