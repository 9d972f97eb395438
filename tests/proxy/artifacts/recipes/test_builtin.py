"""The registry finds every built-in recipe, configured from the worker's environment, in a fresh process
(where the build child looks recipes up by name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
LIST = """
import json
from proxy.artifacts.recipe import registry
recipes = registry()
print(json.dumps({name: {"available": r.available(), "type": type(r).__name__} for name, r in recipes.items()}))
"""


def listed(env: dict[str, str]) -> dict[str, dict[str, str | None]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELMANAGER_")}
    run = subprocess.run([sys.executable, "-c", LIST], capture_output=True, text=True, check=True, timeout=120,
                         env={**clean, "PYTHONPATH": str(ROOT), **env})
    found: dict[str, dict[str, str | None]] = json.loads(run.stdout)
    return found


def test_builtin_recipes_without_configuration() -> None:
    found = listed({})
    assert {name: v["type"] for name, v in found.items()} == {
        "onnxruntime-optimize": "OnnxRuntimeOptimize", "tensorrt": "TensorRT",
        "torch-compile-cache": "TorchCompileCache"}
    assert found["onnxruntime-optimize"]["available"] is None
    assert found["torch-compile-cache"]["available"] == (
        "no entry-point module is allowed (set MODELMANAGER_RECIPE_TORCH_MODULES)")


def test_operator_configuration_adds_commands_and_entry_modules(tmp_path: Path) -> None:
    commands = tmp_path / "commands.json"
    commands.write_text(json.dumps({"gzip": {"argv": ["gzip", "-c", "{source0}"], "stdout": True}}))
    found = listed({"MODELMANAGER_RECIPE_COMMANDS": str(commands),
                    "MODELMANAGER_RECIPE_TORCH_MODULES": "tests.proxy.artifacts.recipes"})
    assert found["command-gzip"] == {"available": None, "type": "CommandRecipe"}
    assert found["torch-compile-cache"]["available"] is None


def test_a_broken_commands_file_leaves_the_other_recipes(tmp_path: Path) -> None:
    commands = tmp_path / "commands.json"
    commands.write_text("{not json")
    found = listed({"MODELMANAGER_RECIPE_COMMANDS": str(commands)})
    assert "onnxruntime-optimize" in found
    assert not [name for name in found if name.startswith("command-")]
