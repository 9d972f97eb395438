"""Fixtures of the recipe tests: a build's input, and a small ONNX model with work for an optimizer."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from proxy.artifacts.recipe import BuildInput

MakeJob = Callable[..., BuildInput]


@pytest.fixture
def make_job(tmp_path: Path) -> MakeJob:
    """A ``BuildInput`` over ``sources`` (named by their file names unless ``names`` is given)."""
    count = 0

    def make(sources: Sequence[Path], options: Mapping[str, Any], names: Sequence[str] | None = None,
             seconds: float = 300.0) -> BuildInput:
        nonlocal count
        count += 1
        scratch = tmp_path / f"scratch{count}"
        scratch.mkdir()
        return BuildInput(sources=tuple(sources), names=tuple(names or [s.name for s in sources]),
                          options=dict(options), scratch=scratch, deadline=time.monotonic() + seconds,
                          log=tmp_path / f"build{count}.log")

    return make


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    """``relu((identity(x) @ (a + b)) + bias)`` with constant a, b, bias: five nodes, of which
    constant folding removes the Add of constants, and the basic/extended levels drop the Identity and
    fuse MatMul, Add and Relu."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(14)
    weights = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
               for name, shape in (("a", (8, 8)), ("b", (8, 8)), ("bias", (8,)))]
    nodes = [helper.make_node("Add", ["a", "b"], ["w"]), helper.make_node("Identity", ["x"], ["xi"]),
             helper.make_node("MatMul", ["xi", "w"], ["m"]), helper.make_node("Add", ["m", "bias"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "recipe-test", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path
