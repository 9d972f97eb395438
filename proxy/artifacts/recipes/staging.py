"""Sources laid out under their own file names in a build's scratch directory.

A build receives its sources as paths to content-addressed blobs; a compiler wants them under their
names (an ONNX model finds its external-data file next to itself). ``stage`` links each source to
``<scratch>/in/<name>``; a name is a relative POSIX path that cannot leave that directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from proxy.artifacts.recipe import BuildInput, RecipeError


def safe_name(name: str) -> PurePosixPath:
    """``name`` as a relative path with no ``..``, ``.``, empty or absolute parts; else ``RecipeError``."""
    if not name or "\\" in name or "\0" in name or name.startswith("/"):
        raise RecipeError(f"source name {name!r} is not a relative path")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise RecipeError(f"source name {name!r} is not a plain relative path")
    return PurePosixPath(*parts)


def stage(job: BuildInput) -> dict[str, Path]:
    """Link every source under ``<scratch>/in/<name>``; returns name -> staged path."""
    if len(job.sources) != len(job.names):
        raise RecipeError("a build needs one name per source")
    root = job.scratch / "in"
    staged: dict[str, Path] = {}
    for source, name in zip(job.sources, job.names, strict=True):
        target = root.joinpath(*safe_name(name).parts)
        if name in staged or target.exists():
            raise RecipeError(f"source name {name!r} given twice")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve())
        staged[name] = target
    return staged


def pick(staged: Mapping[str, Path], wanted: str | None, suffix: str) -> Path:
    """The staged source named ``wanted``, or else the only one ending with ``suffix``."""
    if wanted is not None:
        if wanted not in staged:
            raise RecipeError(f"no source named {wanted!r} (sources: {', '.join(sorted(staged))})")
        return staged[wanted]
    matching = [path for name, path in staged.items() if name.endswith(suffix)]
    if len(matching) != 1:
        raise RecipeError(f"{len(matching)} sources end with {suffix}: name the one to build with the `model` option")
    return matching[0]
