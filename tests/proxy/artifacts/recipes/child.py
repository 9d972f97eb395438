"""Builds run the way the build runner runs them: in a child process started by the spawn method,
with the recipe and its ``BuildInput`` pickled across."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from proxy.artifacts.recipe import BuildInput, Recipe


def _build(recipe: Recipe, job: BuildInput) -> Path:
    return recipe.build(job)


def build_in_child(recipe: Recipe, job: BuildInput, timeout: float = 240.0) -> Path:
    """``recipe.build(job)`` in a fresh spawned interpreter; its exception is raised here."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_build, recipe, job).result(timeout=timeout)
