"""The recipe plugin interface: what a build step must provide, and where recipes are found.

A recipe turns source files (verified blobs) into one output file on this machine. The artifact's
key covers the recipe's name and canonical options, the source digests and the recipe's *target*
(a fingerprint of what the output depends on), so two machines that would build different bytes
never share an artifact.

Recipes are found in the modules of the ``proxy.artifacts.recipes`` package (each module exposes
``RECIPES``: an iterable of Recipe instances, or ``RECIPE``: one) and in the entry-point group
``modelmanager.recipes`` (each entry point loads a Recipe instance, a zero-argument factory
returning one, or a module as above). ``registry()`` tolerates the package being absent or empty.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "modelmanager.recipes"
RECIPES_PACKAGE = "proxy.artifacts.recipes"


class RecipeError(Exception):
    """A recipe refused its options or its build failed; the message is shown to every waiter."""


@dataclass(frozen=True)
class BuildInput:
    """Everything a build gets; it runs in a child process with ``scratch`` as its working directory."""

    sources: tuple[Path, ...]
    """Local paths of the source files (verified blobs), in the order of the key's sources."""
    names: tuple[str, ...]
    """Their original file names (e.g. ``model.onnx``)."""
    options: Mapping[str, Any]
    """Canonical options (already validated by ``canonical_options``)."""
    scratch: Path
    """Empty directory the recipe may use; the output goes here."""
    deadline: float
    """``time.monotonic()`` deadline; the runner also enforces it by killing the process group."""
    log: Path
    """File the recipe appends its log to (its tail is shown to waiters when the build fails)."""


@runtime_checkable
class Recipe(Protocol):
    """A build step. Instances must be importable by name in a child process (module-level objects)."""

    name: str
    """e.g. ``onnxruntime-optimize``: lowercase letters, digits and ``-``."""

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``options`` and fill in defaults; raise RecipeError on bad options."""
        ...

    def target(self) -> dict[str, str]:
        """Fingerprint of THIS machine for what the output depends on (GPU model, compute capability,
        driver, CUDA, TensorRT/torch/onnxruntime version, CPU ISA...): string keys and values."""
        ...

    def available(self) -> str | None:
        """None when the recipe can run here, else the reason (e.g. ``tensorrt not installed``)."""
        ...

    def build(self, job: BuildInput) -> Path:
        """Run the build (in a child process spawned by the runner); return the output file inside
        ``job.scratch``; raise RecipeError on failure."""
        ...


def recipes_in(module: ModuleType) -> list[Recipe]:
    """The recipes a module exposes as ``RECIPES`` (iterable) or ``RECIPE`` (one)."""
    found: list[object] = []
    single = getattr(module, "RECIPE", None)
    if single is not None:
        found.append(single)
    many: Iterable[object] | None = getattr(module, "RECIPES", None)
    if many is not None:
        found.extend(many)
    return [r for r in found if isinstance(r, Recipe)]


def _builtin() -> list[Recipe]:
    try:
        package = importlib.import_module(RECIPES_PACKAGE)
    except ImportError:
        return []
    found: list[Recipe] = []
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        try:
            module = importlib.import_module(f"{RECIPES_PACKAGE}.{info.name}")
        except ImportError as exc:  # a recipe whose optional dependency is missing entirely
            log.debug("recipe module %s not loaded: %s", info.name, exc)
            continue
        found.extend(recipes_in(module))
    return found


def _plugins() -> list[Recipe]:
    found: list[Recipe] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin must not break the proxy
            log.warning("recipe entry point %s failed to load: %s", ep.name, exc)
            continue
        if isinstance(loaded, ModuleType):
            found.extend(recipes_in(loaded))
        elif isinstance(loaded, Recipe):
            found.append(loaded)
        elif callable(loaded):
            made = loaded()
            if isinstance(made, Recipe):
                found.append(made)
    return found


def registry(extra_modules: Iterable[str] = ()) -> dict[str, Recipe]:
    """Recipes by name: built-ins, then entry points, then ``extra_modules`` (dotted module names,
    e.g. from ``build-worker --recipe-module``); a later one with the same name wins."""
    found = _builtin() + _plugins()
    for name in extra_modules:
        found.extend(recipes_in(importlib.import_module(name)))
    return {recipe.name: recipe for recipe in found}
