"""A stand-in for the ``onnxruntime-optimize`` recipe where that built-in is not installed: the same
ONNX Runtime graph optimization (level ``all``), saved as an optimized ``.onnx``."""

from __future__ import annotations

import importlib
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from proxy.artifacts.recipe import BuildInput, RecipeError


class BenchOrtOptimize:
    name = "bench-ort-optimize"

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        if set(options) - {"level"}:
            raise RecipeError(f"unknown options {sorted(set(options) - {'level'})}")
        return {"level": str(options.get("level", "all"))}

    def target(self) -> dict[str, str]:
        ort: Any = importlib.import_module("onnxruntime")  # no type stubs

        return {"onnxruntime": ort.__version__, "machine": platform.machine(), "cpu": platform.processor() or "?"}

    def available(self) -> str | None:
        try:
            importlib.import_module("onnxruntime")
        except ImportError as exc:
            return f"onnxruntime is not installed ({exc})"
        return None

    def build(self, job: BuildInput) -> Path:
        ort: Any = importlib.import_module("onnxruntime")  # no type stubs

        levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[job.options["level"]]
        output = job.scratch / "model.optimized.onnx"
        options.optimized_model_filepath = str(output)
        ort.InferenceSession(str(job.sources[0]), sess_options=options, providers=["CPUExecutionProvider"])
        return output


RECIPE = BenchOrtOptimize()
