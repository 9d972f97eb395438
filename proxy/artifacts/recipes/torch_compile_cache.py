"""``torch-compile-cache``: a user's model run once under ``torch.compile``, and the compiler's
portable cache saved (``torch.compiler.save_cache_artifacts()``, the "mega-cache": FX graphs,
AOTAutograd, inductor and Triton kernels, autotuning results), so the next node calls
``torch.compiler.load_cache_artifacts(data)`` and compiles from cache instead of from scratch.

The model comes from an *entry point*, ``module:function``, called as ``function(sources, device)``
with the staged source paths and ``"cpu"`` or ``"cuda"``, returning ``(model, example_inputs)``. It
runs code, so its module must be installed on the build worker and listed by the operator in
``MODELMANAGER_RECIPE_TORCH_MODULES`` (comma-separated module prefixes; none by default).

Options: ``entry``, ``device`` (auto | cpu | cuda), ``mode``, ``dynamic``, ``fullgraph``,
``inference`` (run with gradients off, as under ``torch.no_grad()``): a consumer must compile with
the same ones to hit; and ``package``: ``mega-cache`` (torch's portable format, loaded with
``load_cache_artifacts``) or ``cache-dir``, a tar of the whole inductor and Triton cache
directories, which also holds what the mega-cache leaves out (CPU inductor's compiled ``.so``
kernels and ISA probes), extracted by the consumer where ``TORCHINDUCTOR_CACHE_DIR`` and
``TRITON_CACHE_DIR`` point.
Target: torch, CUDA and Triton versions, the GPU (name, compute capability), the CPU (architecture,
ISA flags) and the C++ compiler CPU inductor builds with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from proxy.artifacts.recipe import BuildInput, Recipe, RecipeError
from proxy.artifacts.recipes.machine import Gpu, this_cpu, this_gpu
from proxy.artifacts.recipes.options import Options, canonical, parse
from proxy.artifacts.recipes.staging import stage

MODULES_ENV = "MODELMANAGER_RECIPE_TORCH_MODULES"
OUTPUT_NAMES = {"mega-cache": "torch-compile-cache.bin", "cache-dir": "torch-compile-cache.tar"}
_ENTRY = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class CompileOptions(Options):
    entry: str = Field(pattern=_ENTRY, max_length=200)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    dynamic: bool | None = None
    fullgraph: bool = False
    inference: bool = True
    package: Literal["mega-cache", "cache-dir"] = "mega-cache"


def fingerprint(torch: str, cuda: str | None, triton: str | None, gpu: Gpu | None, cpu: Mapping[str, str],
                cxx: str | None) -> dict[str, str]:
    """The target of a compile cache from its inputs (what ``target`` reads on this machine)."""
    return {"torch": torch, "cuda.runtime": cuda or "none", "triton": triton or "absent",
            "gpu.name": gpu.name if gpu else "none", "gpu.capability": gpu.capability if gpu else "none",
            **cpu, "cxx": cxx or "absent"}


def allowed(entry: str, modules: Sequence[str]) -> bool:
    """Whether ``entry``'s module is one of ``modules`` or inside one of them."""
    module = entry.partition(":")[0]
    return any(module == prefix or module.startswith(prefix + ".") for prefix in modules)


def cxx_version() -> str | None:
    """First line of ``c++ --version`` (the compiler CPU inductor calls), None without one."""
    tool = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if tool is None:
        return None
    run = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return run.stdout.partition("\n")[0].strip() or None


def _triton() -> str | None:
    try:
        return version("triton")
    except PackageNotFoundError:
        return None


class TorchCompileCache:
    name = "torch-compile-cache"

    def __init__(self, entry_modules: Sequence[str] = ()) -> None:
        self.entry_modules = tuple(entry_modules)

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return canonical(CompileOptions, self.name, options)

    def target(self) -> dict[str, str]:
        import torch

        return fingerprint(torch.__version__, torch.version.cuda, _triton(), this_gpu(), this_cpu(), cxx_version())

    def available(self) -> str | None:
        if not self.entry_modules:
            return f"no entry-point module is allowed (set {MODULES_ENV})"
        try:
            import torch
        except ImportError as error:
            return f"torch is not installed ({error})"
        if not torch.cuda.is_available() and cxx_version() is None:
            return "no CUDA device and no C++ compiler for CPU inductor"
        return None

    def build(self, job: BuildInput) -> Path:
        opts = parse(CompileOptions, self.name, job.options)
        if not allowed(opts.entry, self.entry_modules):
            raise RecipeError(f"entry {opts.entry!r} is not in an allowed module ({MODULES_ENV})")
        # A private cache, so that the saved artifacts hold this compile's work and nothing else.
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(job.scratch / "inductor")
        os.environ["TRITON_CACHE_DIR"] = str(job.scratch / "triton")
        import torch

        device = opts.device if opts.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        if device == "cuda" and not torch.cuda.is_available():
            raise RecipeError("device cuda asked for, and this machine has none")
        module, _, function = opts.entry.partition(":")
        try:
            entry = getattr(import_module(module), function)
        except (ImportError, AttributeError) as error:
            raise RecipeError(f"cannot load entry {opts.entry}: {error}") from None
        sources = tuple(stage(job).values())
        started = time.monotonic()
        model, inputs = entry(sources, device)
        compiled: Callable[..., object] = torch.compile(model, mode=opts.mode, dynamic=opts.dynamic,
                                                        fullgraph=opts.fullgraph)
        with torch.set_grad_enabled(not opts.inference):
            compiled(*inputs)
        saved = torch.compiler.save_cache_artifacts()
        if saved is None:
            raise RecipeError("torch.compile left no cache artifacts (nothing was compiled?)")
        data, info = saved
        output = job.scratch / OUTPUT_NAMES[opts.package]
        if opts.package == "mega-cache":
            output.write_bytes(data)
        else:
            _archive(job.scratch, output)
        counts = ", ".join(f"{kind} {len(keys)}" for kind, keys in sorted(info.artifacts.items()))
        with job.log.open("a") as log:
            log.write(f"torch {torch.__version__} on {device}: compiled {opts.entry} in "
                      f"{time.monotonic() - started:.1f} s; cache artifacts: {counts}; "
                      f"{opts.package} {output.stat().st_size} bytes\n")
        return output


def _archive(scratch: Path, output: Path) -> None:
    """``inductor/`` and ``triton/`` of the scratch directory in one tar, without lock files."""
    def no_locks(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if member.name.endswith(".lock") or "/locks" in member.name else member

    with tarfile.open(output, "w") as tar:
        for part in ("inductor", "triton"):
            if (scratch / part).is_dir():
                tar.add(scratch / part, arcname=part, filter=no_locks)


RECIPE = TorchCompileCache([m.strip() for m in os.environ.get(MODULES_ENV, "").split(",") if m.strip()])

if TYPE_CHECKING:
    _: type[Recipe] = TorchCompileCache
