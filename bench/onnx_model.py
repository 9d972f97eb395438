"""A transformer-like ONNX model for the ``artifacts`` scenario, written with ``onnx.helper``.

Each block is MatMul + bias, GELU written out with Erf, a residual add and LayerNorm written out
with ReduceMean/Sub/Pow/Sqrt/Div: the patterns ONNX Runtime's graph optimizer fuses (MatMul+Add,
Gelu, LayerNormalization), so optimizing it is real work that a stored artifact saves.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

BATCH = 4


def make_model(path: Path, blocks: int, hidden: int, seed: int = 0) -> int:
    """Write the model to ``path``; its size in bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    x = "input"
    half, one, sqrt2 = const("half", np.array(0.5)), const("one", np.array(1.0)), const("sqrt2", np.array(math.sqrt(2)))
    two, eps = const("two", np.array(2.0)), const("eps", np.array(1e-5))
    for i in range(blocks):
        w = const(f"w{i}", rng.standard_normal((hidden, hidden)) / math.sqrt(hidden))
        b = const(f"b{i}", rng.standard_normal(hidden) * 0.01)
        gamma, beta = const(f"g{i}", np.ones(hidden)), const(f"be{i}", np.zeros(hidden))
        p = f"b{i}_"
        nodes += [
            helper.make_node("MatMul", [x, w], [p + "mm"]),
            helper.make_node("Add", [p + "mm", b], [p + "lin"]),
            helper.make_node("Div", [p + "lin", sqrt2], [p + "d"]),
            helper.make_node("Erf", [p + "d"], [p + "erf"]),
            helper.make_node("Add", [p + "erf", one], [p + "e1"]),
            helper.make_node("Mul", [p + "lin", p + "e1"], [p + "m"]),
            helper.make_node("Mul", [p + "m", half], [p + "gelu"]),
            helper.make_node("Add", [p + "gelu", x], [p + "res"]),
            helper.make_node("ReduceMean", [p + "res"], [p + "mean"], axes=[-1]),
            helper.make_node("Sub", [p + "res", p + "mean"], [p + "c"]),
            helper.make_node("Pow", [p + "c", two], [p + "sq"]),
            helper.make_node("ReduceMean", [p + "sq"], [p + "var"], axes=[-1]),
            helper.make_node("Add", [p + "var", eps], [p + "ve"]),
            helper.make_node("Sqrt", [p + "ve"], [p + "std"]),
            helper.make_node("Div", [p + "c", p + "std"], [p + "n"]),
            helper.make_node("Mul", [p + "n", gamma], [p + "s"]),
            helper.make_node("Add", [p + "s", beta], [p + "out"]),
        ]
        x = p + "out"
    nodes.append(helper.make_node("Identity", [x], ["output"]))
    graph = helper.make_graph(nodes, "blocks", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                             [BATCH, hidden])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [BATCH, hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path.stat().st_size


def sample_input(hidden: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((BATCH, hidden)).astype(np.float32)
