"""``tensorrt``: options, the target fingerprint and the trtexec command line everywhere; the engine
build itself where TensorRT and a GPU are present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.artifacts.recipe import RecipeError
from proxy.artifacts.recipes.machine import Gpu
from proxy.artifacts.recipes.tensorrt_engine import (
    TensorRT,
    TensorRTOptions,
    api_version,
    fingerprint,
    trtexec,
    trtexec_argv,
    trtexec_version,
)
from tests.proxy.artifacts.recipes.child import build_in_child
from tests.proxy.artifacts.recipes.conftest import MakeJob

RECIPE = TensorRT()
UNAVAILABLE = RECIPE.available()
H200 = Gpu(name="NVIDIA H200", capability="9.0", driver="580.95.05", cuda_runtime="13.0")


@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"tensorrt recipe unavailable here: {UNAVAILABLE}")
def test_builds_an_engine_in_a_child_process(onnx_model: Path, make_job: MakeJob) -> None:
    job = make_job([onnx_model], RECIPE.canonical_options({"fp16": True}))
    output = build_in_child(RECIPE, job)
    assert output == job.scratch / "model.engine"
    assert output.stat().st_size > 1000
    assert "model.onnx -> model.engine" in job.log.read_text()


@pytest.mark.skipif(api_version() is not None or trtexec() is not None, reason="TensorRT is installed here")
def test_says_why_it_cannot_run_without_tensorrt() -> None:
    assert RECIPE.available() == "neither the tensorrt Python package nor trtexec is installed"
    assert RECIPE.target()["tensorrt"] == "absent"


def test_target_is_stable_and_follows_the_device() -> None:
    assert RECIPE.target() == RECIPE.target()
    base = fingerprint(H200, "10.13.0")
    assert base == {"gpu.name": "NVIDIA H200", "gpu.capability": "9.0", "gpu.driver": "580.95.05",
                    "cuda.runtime": "13.0", "tensorrt": "10.13.0"}
    assert base == fingerprint(Gpu("NVIDIA H200", "9.0", "580.95.05", "13.0"), "10.13.0")
    for other in (fingerprint(H200, "10.12.0"), fingerprint(Gpu("NVIDIA H100", "9.0", "580.95.05", "13.0"), "10.13.0"),
                  fingerprint(Gpu("NVIDIA H200", "9.0", "575.57.08", "13.0"), "10.13.0"),
                  fingerprint(Gpu("NVIDIA H200", "9.0", "580.95.05", "12.8"), "10.13.0"),
                  fingerprint(None, "10.13.0")):
        assert other != base


def test_trtexec_version_banner() -> None:
    assert trtexec_version("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --help") == "10.3.0"
    assert trtexec_version("[TensorRT v8601]") is None  # too short to be a version number
    assert trtexec_version("[I] TensorRT version: 8.6.1") is None


def test_trtexec_command_line_matches_the_options(tmp_path: Path) -> None:
    opts = TensorRTOptions.model_validate(RECIPE.canonical_options({
        "fp16": True, "workspace_mib": 2048, "optimization_level": 5,
        "shapes": {"x": {"min": [1, 8], "opt": [4, 8], "max": [16, 8]}}}))
    argv = trtexec_argv("trtexec", tmp_path / "m.onnx", tmp_path / "m.engine", opts)
    assert argv == ["trtexec", f"--onnx={tmp_path / 'm.onnx'}", f"--saveEngine={tmp_path / 'm.engine'}",
                    "--memPoolSize=workspace:2048", "--builderOptimizationLevel=5", "--skipInference", "--fp16",
                    "--minShapes=x:1x8", "--optShapes=x:4x8", "--maxShapes=x:16x8"]


def test_canonical_options_fill_defaults_and_sort_shapes() -> None:
    shapes = {"b": {"min": [1], "opt": [1], "max": [1]}, "a": {"min": [1], "opt": [2], "max": [3]}}
    canonical = RECIPE.canonical_options({"shapes": shapes})
    assert canonical == {"fp16": False, "bf16": False, "int8": False, "workspace_mib": 1024, "optimization_level": 3,
                         "shapes": {"a": shapes["a"], "b": shapes["b"]}, "model": None, "tool": "auto"}
    assert list(canonical["shapes"]) == ["a", "b"]


dims = st.lists(st.integers(-2, 40), min_size=0, max_size=3)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional={
    "fp16": st.one_of(st.booleans(), st.integers(0, 1)), "workspace_mib": st.integers(-5, 3000),
    "optimization_level": st.integers(-1, 7), "shapes": st.dictionaries(
        st.sampled_from(["x", "", "a:b"]), st.fixed_dictionaries({"min": dims, "opt": dims, "max": dims}),
        max_size=2)}))
def test_canonical_options_accept_exactly_valid_values(options: dict[str, Any]) -> None:
    def shape_ok(s: dict[str, list[int]]) -> bool:
        return (0 < len(s["min"]) == len(s["opt"]) == len(s["max"])
                and all(1 <= a <= b <= c for a, b, c in zip(s["min"], s["opt"], s["max"], strict=True)))

    valid = (isinstance(options.get("fp16", False), bool) and 16 <= options.get("workspace_mib", 16) <= 1 << 20
             and 0 <= options.get("optimization_level", 0) <= 5
             and all(name == "x" and shape_ok(s) for name, s in options.get("shapes", {}).items()))
    if valid:
        canonical = RECIPE.canonical_options(options)
        assert RECIPE.canonical_options(canonical) == canonical
    else:
        with pytest.raises(RecipeError, match="tensorrt: "):
            RECIPE.canonical_options(options)
