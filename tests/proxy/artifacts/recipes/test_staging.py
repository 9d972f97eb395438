"""Sources staged under their names: a name never leaves ``<scratch>/in``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.artifacts.recipe import RecipeError
from proxy.artifacts.recipes.staging import pick, safe_name, stage
from tests.proxy.artifacts.recipes.conftest import MakeJob


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab./\\\0", max_size=12))
def test_a_safe_name_stays_inside_its_root(name: str) -> None:
    root = Path("/scratch/in")
    try:
        relative = safe_name(name)
    except RecipeError:
        assert name == "" or name.startswith("/") or "\\" in name or "\0" in name or any(
            part in ("", ".", "..") for part in name.split("/"))
        return
    joined = Path(os.path.normpath(root.joinpath(*relative.parts)))
    assert joined.is_relative_to(root)
    assert joined != root
    assert str(relative) == name


def test_stage_links_sources_under_their_names(tmp_path: Path, make_job: MakeJob) -> None:
    a, b = tmp_path / "blob-a", tmp_path / "blob-b"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    job = make_job([a, b], {}, names=["onnx/model.onnx", "onnx/model.onnx_data"])
    staged = stage(job)
    assert staged == {"onnx/model.onnx": job.scratch / "in/onnx/model.onnx",
                      "onnx/model.onnx_data": job.scratch / "in/onnx/model.onnx_data"}
    assert staged["onnx/model.onnx_data"].read_bytes() == b"b"
    assert pick(staged, None, ".onnx") == job.scratch / "in/onnx/model.onnx"
    with pytest.raises(RecipeError, match=r"no source named 'x\.onnx'"):
        pick(staged, "x.onnx", ".onnx")


@pytest.mark.parametrize("names", [["m.onnx", "m.onnx"], ["../m.onnx", "n"], ["m.onnx"]])
def test_stage_refuses_bad_name_lists(tmp_path: Path, make_job: MakeJob, names: list[str]) -> None:
    a = tmp_path / "blob"
    a.write_bytes(b"a")
    with pytest.raises(RecipeError):
        stage(make_job([a, a], {}, names=names))
