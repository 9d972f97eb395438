"""The recipe interface: how a derived artifact is built from its sources on this machine.

A recipe is a plugin. The built-in ones live in ``proxy.artifacts.recipes``; others are found
through the entry-point group ``modelmanager.recipes`` (each entry point names a ``Recipe``
object or a zero-argument callable returning one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "modelmanager.recipes"


class RecipeError(Exception):
    """Bad options for a recipe, or a build that failed; the message is shown to requesters."""


@dataclass(frozen=True)
class BuildInput:
    """What a build gets: local paths of its sources (in the order of the request), their file
    names, the canonical options, a private scratch directory, a ``time.time()`` deadline and the
    log file whose tail is shown when the build fails."""

    sources: tuple[Path, ...]
    names: tuple[str, ...]
    options: Mapping[str, Any]
    scratch: Path
    deadline: float
    log: Path


@runtime_checkable
class Recipe(Protocol):
    name: str

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Validated options with every default filled in; raises ``RecipeError``."""
        ...

    def target(self) -> dict[str, str]:
        """Fingerprint of this machine: everything the output depends on."""
        ...

    def available(self) -> str | None:
        """None when this machine can run the recipe, else the reason it cannot."""
        ...

    def build(self, job: BuildInput) -> Path:
        """Build the artifact (in a child process) and return the output file, inside ``job.scratch``."""
        ...


def registry() -> dict[str, Recipe]:
    """Every recipe this process knows: the built-in ones, then the entry-point plugins."""
    builtin = import_module("proxy.artifacts.recipes").builtin  # imported late: the recipes import this module
    found: dict[str, Recipe] = dict(builtin())
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        recipe = loaded() if callable(loaded) and not isinstance(loaded, Recipe) else loaded
        if not isinstance(recipe, Recipe):
            raise RecipeError(f"entry point {point.name!r} of {ENTRY_POINT_GROUP} is not a recipe")
        found[recipe.name] = recipe
    return found
