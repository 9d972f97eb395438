"""Watches that pre-build: a new upstream version's artifacts are built before the switch.

A watch may name builds (``WatchBuild``: a recipe, its options, the targets, and which files of the
snapshot are sources). After its pre-warm job has cached the new version, the watch requests each
build (``Builds.request``: once per cluster, like any other request) and waits until every
artifact is stored; only then does it switch, so a rollout never compiles on the critical path. A
failed or unfinished build leaves the old version served, and the next check tries again (a build
still running is found again, not started twice).
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proxy.artifacts.builds import Builds, BuildView
from proxy.artifacts.key import Manifest
from proxy.artifacts.recipe import Recipe, RecipeError
from proxy.control.catalog import Snapshot
from proxy.digest import Digest
from proxy.errors import InvalidKey, ProxyError
from proxy.read.driver import Cache

POLL = 30.0


class WatchBuild(BaseModel):
    """One build a watch runs for each new version (in its record and its API body)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    recipe: str = Field(min_length=1, max_length=64, description="The recipe's name")
    options: dict[str, Any] = Field(default_factory=dict, description="The recipe's options")
    targets: list[dict[str, str]] = Field(default_factory=list, max_length=32, description="Targets to build "
                                          "for; empty: those the build workers seen lately offer")
    files: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=32,
                             description="fnmatch patterns of the snapshot's files that are sources")
    each_file: bool = Field(True, description="One artifact per matching file; false: one artifact of them all")


class PrebuildFailed(ProxyError):
    """A watch's builds failed or did not finish in time: the switch waits for the next check."""


class Prebuilder:
    def __init__(self, builds: Builds, cache: Cache, recipes: Mapping[str, Recipe], timeout: float) -> None:
        self._builds = builds
        self._cache = cache
        self._recipes = recipes
        self._timeout = timeout

    def normalize(self, builds: list[WatchBuild]) -> list[WatchBuild]:
        """Each build with canonical options; raises InvalidKey (an unknown recipe, bad options: a 400)."""
        out = []
        for build in builds:
            recipe = self._recipes.get(build.recipe)
            if recipe is None:
                raise InvalidKey(f"unknown recipe {build.recipe!r}: this proxy knows {sorted(self._recipes)}")
            try:
                options = recipe.canonical_options(build.options)
            except RecipeError as exc:
                raise InvalidKey(f"{build.recipe}: {exc}") from exc
            out.append(build.model_copy(update={"options": options}))
        return out

    async def run(self, snapshot: Snapshot, builds: list[WatchBuild]) -> int:
        """Request every build of ``snapshot`` and wait for all; the number of artifacts. Raises PrebuildFailed."""
        keys = []
        for build in builds:
            for sources, names in await self._sources(snapshot, build):
                for target in build.targets or await self._builds.targets(build.recipe):
                    manifest = Manifest.model_validate({"sources": sources, "target": target,
                                                        "recipe": {"name": build.recipe, "options": build.options}})
                    keys.append((await self._builds.request(manifest, names, retry=True)).key)
                if not build.targets and not await self._builds.targets(build.recipe):
                    raise PrebuildFailed(f"no build worker for {build.recipe} has been seen lately: name targets")
        deadline = time.monotonic() + self._timeout
        views = await asyncio.gather(*(self._wait(key, deadline) for key in keys))
        failed = [v for v in views if v.state != "ready"]
        if failed:
            first = failed[0]
            raise PrebuildFailed(f"{len(failed)} of {len(views)} builds not ready: {first.key[:16]} {first.state}"
                                 + (f": {first.error}" if first.error else ""))
        return len(views)

    async def _wait(self, key: str, deadline: float) -> BuildView:
        while True:
            view = await self._builds.wait(Digest(key), min(POLL, max(0.0, deadline - time.monotonic())))
            if view.state in ("ready", "failed", "unknown", "no_worker") or time.monotonic() >= deadline:
                return view

    async def _sources(self, snapshot: Snapshot, build: WatchBuild) -> list[tuple[list[str], tuple[str, ...]]]:
        chosen = [f for f in sorted(snapshot.files, key=lambda f: f.path)
                  if any(fnmatch.fnmatch(f.path, p) for p in build.files)]
        if not chosen:
            raise PrebuildFailed(f"no file of {snapshot.url} matches {build.files}")
        found = []
        for file in chosen:
            entry = await self._cache.peek(file.source.key)
            if entry is None:
                raise PrebuildFailed(f"{file.path} is not cached after the pre-warm")
            found.append((str(entry.digest), file.path))
        if build.each_file:
            return [([digest], (name,)) for digest, name in found]
        return [([d for d, _ in found], tuple(n for _, n in found))]
