"""``tensorrt``: an ONNX model compiled into a serialized TensorRT engine for this machine's GPU, with
the TensorRT Python API, or with ``trtexec`` where the API is not installed.

Options: ``fp16`` / ``bf16`` / ``int8`` (allow those kernels; ``int8`` needs a model with Q/DQ
nodes), ``workspace_mib``, ``optimization_level`` (0-5), ``shapes`` (min/opt/max per dynamic input)
and ``model``. Target: GPU name, compute capability, driver, CUDA runtime and TensorRT version, since an
engine runs only where those match.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from proxy.artifacts.recipe import BuildInput, Recipe, RecipeError
from proxy.artifacts.recipes.machine import Gpu, this_gpu
from proxy.artifacts.recipes.options import Options, canonical, parse
from proxy.artifacts.recipes.staging import pick, safe_name, stage

TRTEXEC_PLACES = ("/usr/src/tensorrt/bin/trtexec", "/opt/tensorrt/bin/trtexec")
_TRTEXEC_VERSION = re.compile(r"TensorRT[. ]v?(\d{5,})")

class Shapes(Options):
    """The optimization profile of one dynamic input: each dimension min <= opt <= max."""

    min: list[int] = Field(min_length=1, max_length=8)
    opt: list[int] = Field(min_length=1, max_length=8)
    max: list[int] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _ordered(self) -> Shapes:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise ValueError("min, opt and max need the same number of dimensions")
        if any(not 1 <= lo <= mid <= hi for lo, mid, hi in zip(self.min, self.opt, self.max, strict=True)):
            raise ValueError("each dimension needs 1 <= min <= opt <= max")
        return self


class TensorRTOptions(Options):
    fp16: bool = False
    bf16: bool = False
    int8: bool = False
    workspace_mib: int = Field(1024, ge=16, le=1 << 20)
    optimization_level: int = Field(3, ge=0, le=5)
    shapes: dict[str, Shapes] = Field(default_factory=dict, max_length=64)
    model: str | None = None
    tool: Literal["auto", "api", "trtexec"] = "auto"

    @field_validator("shapes")
    @classmethod
    def _input_names(cls, value: dict[str, Shapes]) -> dict[str, Shapes]:
        if any(not name or len(name) > 256 or ":" in name or "," in name for name in value):
            raise ValueError("input names must be 1-256 characters without ':' or ','")
        return dict(sorted(value.items()))

    @field_validator("model")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                safe_name(value)
            except RecipeError as error:
                raise ValueError(str(error)) from None
        return value


def fingerprint(gpu: Gpu | None, tensorrt: str) -> dict[str, str]:
    """The target of an engine from its inputs (what ``target`` reads on this machine; a machine
    without a GPU gets ``gpu.name: none``, for which no engine is ever built)."""
    return {**(gpu.target() if gpu else {"gpu.name": "none"}), "tensorrt": tensorrt}


def trtexec_version(text: str) -> str | None:
    """``10.3.0`` from trtexec's banner ``[TensorRT v100300]``."""
    match = _TRTEXEC_VERSION.search(text)
    if match is None:
        return None
    number = int(match.group(1))
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def trtexec() -> str | None:
    """Path of ``trtexec`` on PATH or where TensorRT installs it."""
    return shutil.which("trtexec") or next((p for p in TRTEXEC_PLACES if Path(p).exists()), None)


def api_version() -> str | None:
    try:
        import tensorrt
    except ImportError:
        return None
    return str(tensorrt.__version__)


def tensorrt_version() -> str | None:
    """The TensorRT version of the Python API, else of ``trtexec``; None when neither is here."""
    if (version := api_version()) is not None:
        return version
    if (tool := trtexec()) is None:
        return None
    run = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=60, check=False)
    return trtexec_version(run.stdout + run.stderr) or "unknown"


class TensorRT:
    name = "tensorrt"

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return canonical(TensorRTOptions, self.name, options)

    def target(self) -> dict[str, str]:
        return fingerprint(this_gpu(), tensorrt_version() or "absent")

    def available(self) -> str | None:
        if api_version() is None and trtexec() is None:
            return "neither the tensorrt Python package nor trtexec is installed"
        if this_gpu() is None:
            return "no CUDA device is visible (torch and NVML found none)"
        return None

    def build(self, job: BuildInput) -> Path:
        opts = parse(TensorRTOptions, self.name, job.options)
        model = pick(stage(job), opts.model, ".onnx")
        output = job.scratch / f"{model.name.removesuffix('.onnx')}.engine"
        use_api = opts.tool == "api" or (opts.tool == "auto" and api_version() is not None)
        started = time.monotonic()
        if use_api:
            _build_with_api(model, output, opts, job.log)
        else:
            _build_with_trtexec(model, output, opts, job)
        if not output.is_file() or output.stat().st_size == 0:
            raise RecipeError("TensorRT wrote no engine")
        with job.log.open("a") as log:
            log.write(f"tensorrt {tensorrt_version()}: {model.name} -> {output.name} in "
                      f"{time.monotonic() - started:.1f} s, {output.stat().st_size} bytes\n")
        return output


def _build_with_api(model: Path, output: Path, opts: TensorRTOptions, log_path: Path) -> None:
    import tensorrt as trt

    with log_path.open("a") as log_file:
        class _Logger(trt.ILogger):  # type: ignore[misc]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                log_file.write(f"[{severity}] {msg}\n")

        logger = _Logger()
        builder = trt.Builder(logger)
        explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        major = int(str(trt.__version__).split(".")[0])
        network = builder.create_network(1 << int(explicit) if explicit is not None and major < 10 else 0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(model)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RecipeError(f"TensorRT could not parse {model.name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mib << 20)
        config.builder_optimization_level = opts.optimization_level
        for flag in ("fp16", "bf16", "int8"):
            if getattr(opts, flag):
                config.set_flag(getattr(trt.BuilderFlag, flag.upper()))
        if opts.shapes:
            profile = builder.create_optimization_profile()
            for name, shape in opts.shapes.items():
                profile.set_shape(name, shape.min, shape.opt, shape.max)
            config.add_optimization_profile(profile)
        engine = builder.build_serialized_network(network, config)
        if engine is None:
            raise RecipeError("TensorRT could not build an engine (see the log)")
        output.write_bytes(memoryview(engine))


def trtexec_argv(tool: str, model: Path, output: Path, opts: TensorRTOptions) -> list[str]:
    """The ``trtexec`` command line that builds the same engine as the API path."""
    argv = [tool, f"--onnx={model}", f"--saveEngine={output}", f"--memPoolSize=workspace:{opts.workspace_mib}",
            f"--builderOptimizationLevel={opts.optimization_level}", "--skipInference"]
    argv += [f"--{flag}" for flag in ("fp16", "bf16", "int8") if getattr(opts, flag)]
    for which in ("min", "opt", "max"):
        if opts.shapes:
            dims = ",".join(f"{name}:{'x'.join(map(str, getattr(s, which)))}" for name, s in opts.shapes.items())
            argv.append(f"--{which}Shapes={dims}")
    return argv


def _build_with_trtexec(model: Path, output: Path, opts: TensorRTOptions, job: BuildInput) -> None:
    tool = trtexec()
    if tool is None:
        raise RecipeError("trtexec is not installed")
    seconds = job.deadline - time.monotonic()
    if seconds <= 0:
        raise RecipeError("the build's deadline passed before it started")
    with job.log.open("a") as log:
        try:
            run = subprocess.run(trtexec_argv(tool, model, output, opts), stdout=log, stderr=subprocess.STDOUT,
                                 cwd=job.scratch, timeout=seconds, check=False)
        except subprocess.TimeoutExpired:
            raise RecipeError(f"trtexec ran past the build's deadline ({seconds:.0f} s)") from None
    if run.returncode != 0:
        raise RecipeError(f"trtexec failed with exit status {run.returncode} (see the log)")


RECIPE = TensorRT()

if TYPE_CHECKING:
    _: type[Recipe] = TensorRT
