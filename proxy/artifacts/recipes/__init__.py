"""The built-in recipes, one module each: ``onnxruntime-optimize``, ``tensorrt``,
``torch-compile-cache`` and the operator's ``command.<name>`` templates.

Recipe modules import their compilers (onnxruntime, tensorrt, torch) only inside their methods, so
listing the recipes costs nothing on a node that cannot run them.
"""

from __future__ import annotations

import os
from pathlib import Path

from proxy.artifacts.recipe import Recipe

COMMANDS_ENV = "MODELMANAGER_RECIPE_COMMANDS"
"""Path of the operator's JSON file of command templates (see docs/recipes.md)."""
TORCH_MODULES_ENV = "MODELMANAGER_RECIPE_TORCH_MODULES"
"""Comma-separated module prefixes whose functions ``torch-compile-cache`` may run as entry points."""


def builtin() -> dict[str, Recipe]:
    """The recipes shipped with the server, configured from this process's environment."""
    from proxy.artifacts.recipes.command import load_commands
    from proxy.artifacts.recipes.onnxruntime_optimize import OnnxRuntimeOptimize
    from proxy.artifacts.recipes.tensorrt_engine import TensorRT
    from proxy.artifacts.recipes.torch_compile_cache import TorchCompileCache

    modules = tuple(m.strip() for m in os.environ.get(TORCH_MODULES_ENV, "").split(",") if m.strip())
    found: list[Recipe] = [OnnxRuntimeOptimize(), TensorRT(), TorchCompileCache(entry_modules=modules)]
    if commands := os.environ.get(COMMANDS_ENV):
        found.extend(load_commands(Path(commands)))
    return {recipe.name: recipe for recipe in found}
