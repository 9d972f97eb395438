"""``onnxruntime-optimize``: ONNX Runtime's graph optimizations applied once, saved as an optimized
``.onnx`` or as an ORT-format ``.ort`` model that loads without optimizing again.

Options: ``level`` (basic | extended | layout | all; ``layout`` and ``all`` add layout changes
specific to this CPU), ``format`` (onnx | ort), ``provider`` (the execution provider the graph is
optimized for) and ``model`` (which source is the model when several end with ``.onnx``).
Target: onnxruntime version, build device and providers, CPU architecture and ISA flags.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator

from proxy.artifacts.recipe import BuildInput, Recipe, RecipeError
from proxy.artifacts.recipes.machine import this_cpu
from proxy.artifacts.recipes.options import Options, canonical, parse
from proxy.artifacts.recipes.staging import pick, safe_name, stage

Provider = Literal["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
                   "ROCMExecutionProvider", "OpenVINOExecutionProvider", "DnnlExecutionProvider",
                   "CoreMLExecutionProvider", "DmlExecutionProvider"]
LEVELS = {"basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED", "layout": "ORT_ENABLE_LAYOUT",
          "all": "ORT_ENABLE_ALL"}


class OrtOptions(Options):
    level: Literal["basic", "extended", "layout", "all"] = "extended"
    format: Literal["onnx", "ort"] = "onnx"
    provider: Provider = "CPUExecutionProvider"
    model: str | None = None

    @field_validator("model")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                safe_name(value)
            except RecipeError as error:
                raise ValueError(str(error)) from None
        return value


def fingerprint(version: str, device: str, providers: list[str], cpu: Mapping[str, str]) -> dict[str, str]:
    """The target of an ORT optimization from its inputs (what ``target`` reads on this machine)."""
    return {"onnxruntime": version, "onnxruntime.device": device,
            "onnxruntime.providers": ",".join(sorted(providers)), **cpu}


class OnnxRuntimeOptimize:
    name = "onnxruntime-optimize"

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return canonical(OrtOptions, self.name, options)

    def target(self) -> dict[str, str]:
        import onnxruntime as ort

        return fingerprint(ort.__version__, ort.get_device(), ort.get_available_providers(), this_cpu())

    def available(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as error:
            return f"onnxruntime is not installed ({error})"
        return None

    def build(self, job: BuildInput) -> Path:
        import onnxruntime as ort

        opts = parse(OrtOptions, self.name, job.options)
        if opts.provider not in ort.get_available_providers():
            raise RecipeError(f"{opts.provider} is not available here ({', '.join(ort.get_available_providers())})")
        level = getattr(ort.GraphOptimizationLevel, LEVELS[opts.level], None)
        if level is None:
            raise RecipeError(f"onnxruntime {ort.__version__} has no optimization level {opts.level!r}")
        model = pick(stage(job), opts.model, ".onnx")
        output = job.scratch / f"{model.name.removesuffix('.onnx')}.optimized.{opts.format}"
        session = ort.SessionOptions()
        session.graph_optimization_level = level
        session.optimized_model_filepath = str(output)
        if opts.format == "ort":
            session.add_session_config_entry("session.save_model_format", "ORT")
        if time.monotonic() > job.deadline:
            raise RecipeError("the build's deadline passed before it started")
        started = time.monotonic()
        try:
            ort.InferenceSession(str(model), sess_options=session, providers=[opts.provider])
        except Exception as error:  # onnxruntime raises its own untyped exceptions for bad models
            raise RecipeError(f"onnxruntime could not load {model.name}: {error}") from error
        with job.log.open("a") as log:
            log.write(f"onnxruntime {ort.__version__}: {model.name} -> {output.name} (level {opts.level}, "
                      f"{opts.provider}) in {time.monotonic() - started:.2f} s, {output.stat().st_size} bytes\n")
        return output


RECIPE = OnnxRuntimeOptimize()

if TYPE_CHECKING:
    _: type[Recipe] = OnnxRuntimeOptimize
