"""``onnxruntime-optimize`` on a generated model: the output runs, answers the same and is optimized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.artifacts.recipe import RecipeError
from proxy.artifacts.recipes.onnxruntime_optimize import OnnxRuntimeOptimize, fingerprint
from tests.proxy.artifacts.recipes.child import build_in_child
from tests.proxy.artifacts.recipes.conftest import MakeJob

RECIPE = OnnxRuntimeOptimize()


def run(path: Path, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    return np.asarray(y)


@pytest.mark.parametrize("level", ["basic", "extended", "all"])
def test_optimized_onnx_answers_the_same_with_fewer_nodes(onnx_model: Path, make_job: MakeJob, level: str) -> None:
    job = make_job([onnx_model], RECIPE.canonical_options({"level": level}))
    output = build_in_child(RECIPE, job)
    assert output.parent == job.scratch
    assert output.name == "model.optimized.onnx"
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(run(output, x), run(onnx_model, x), rtol=1e-5, atol=1e-6)
    before = [n.op_type for n in onnx.load(str(onnx_model)).graph.node]
    after = [n.op_type for n in onnx.load(str(output)).graph.node]
    assert len(after) < len(before), after
    assert "Identity" not in after
    assert "model.onnx -> model.optimized.onnx" in job.log.read_text()


def test_ort_format_loads_and_answers_the_same(onnx_model: Path, make_job: MakeJob) -> None:
    job = make_job([onnx_model], RECIPE.canonical_options({"format": "ort", "level": "all"}))
    output = build_in_child(RECIPE, job)
    assert output.suffix == ".ort"
    assert output.read_bytes()[4:8] == b"ORTM"  # the flatbuffer file identifier of an ORT-format model
    x = np.ones((2, 8), np.float32)
    np.testing.assert_allclose(run(output, x), run(onnx_model, x), rtol=1e-5, atol=1e-6)


def test_the_model_option_picks_among_several_onnx_sources(onnx_model: Path, make_job: MakeJob,
                                                          tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(onnx_model.read_bytes())
    names = ["onnx/decoder.onnx", "onnx/encoder.onnx"]
    with pytest.raises(RecipeError, match=r"2 sources end with \.onnx"):
        RECIPE.build(make_job([onnx_model, other], RECIPE.canonical_options({}), names=names))
    job = make_job([onnx_model, other], RECIPE.canonical_options({"model": "onnx/encoder.onnx"}), names=names)
    assert RECIPE.build(job) == job.scratch / "encoder.optimized.onnx"


def test_a_broken_model_is_a_recipe_error_in_the_child(tmp_path: Path, make_job: MakeJob) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(RecipeError, match=r"could not load bad\.onnx"):
        build_in_child(RECIPE, make_job([bad], RECIPE.canonical_options({})))


def test_a_provider_this_machine_lacks_is_refused(onnx_model: Path, make_job: MakeJob) -> None:
    options = RECIPE.canonical_options({"provider": "CoreMLExecutionProvider"})
    with pytest.raises(RecipeError, match="CoreMLExecutionProvider is not available"):
        RECIPE.build(make_job([onnx_model], options))


def test_canonical_options_fill_defaults() -> None:
    assert RECIPE.canonical_options({}) == {"level": "extended", "format": "onnx",
                                            "provider": "CPUExecutionProvider", "model": None}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded 2-core machine
@given(st.dictionaries(st.sampled_from(["level", "format", "provider", "model", "other"]),
                       st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none())))
def test_canonical_options_accept_exactly_the_documented_values(options: dict[str, Any]) -> None:
    model = options.get("model")
    valid = (set(options) <= {"level", "format", "provider", "model"}
             and options.get("level", "basic") in {"basic", "extended", "layout", "all"}
             and options.get("format", "onnx") in {"onnx", "ort"}
             and options.get("provider", "CPUExecutionProvider") in {
                 "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
                 "ROCMExecutionProvider", "OpenVINOExecutionProvider", "DnnlExecutionProvider",
                 "CoreMLExecutionProvider", "DmlExecutionProvider"}
             and (model is None or (isinstance(model, str) and not model.startswith("/")
                                    and all(p not in ("", ".", "..") for p in model.split("/"))
                                    and "\\" not in model and "\0" not in model)))
    if valid:
        canonical = RECIPE.canonical_options(options)
        assert RECIPE.canonical_options(canonical) == canonical
        assert {k: canonical[k] for k in options} == options
    else:
        with pytest.raises(RecipeError, match="onnxruntime-optimize: "):
            RECIPE.canonical_options(options)


def test_target_is_stable_and_follows_its_inputs() -> None:
    assert RECIPE.target() == RECIPE.target()
    assert RECIPE.target()["onnxruntime"] == ort.__version__
    cpu = {"cpu.arch": "x86_64", "cpu.isa": "avx2,fma"}
    base = fingerprint("1.32.0", "CPU", ["CPUExecutionProvider"], cpu)
    assert base == fingerprint("1.32.0", "CPU", ["CPUExecutionProvider"], dict(cpu))
    assert base != fingerprint("1.31.0", "CPU", ["CPUExecutionProvider"], cpu)
    assert base != fingerprint("1.32.0", "GPU", ["CPUExecutionProvider"], cpu)
    assert base != fingerprint("1.32.0", "CPU", ["CPUExecutionProvider"], {**cpu, "cpu.isa": "avx2,avx512f,fma"})
    assert fingerprint("1", "CPU", ["B", "A"], cpu) == fingerprint("1", "CPU", ["A", "B"], cpu)


def test_available_here() -> None:
    assert RECIPE.available() is None
