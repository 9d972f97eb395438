"""A tiny real recipe for the tests: gzip the concatenated sources (deterministic output).

Options: ``level`` (1-9, default 6); ``marker``: a file each build appends ``start <pid>`` and
``done <pid>`` to (the tests count builds with it); ``fail``: print a log line and fail;
``gate``: a file the build waits for before it finishes (a build the test holds open).
"""

from __future__ import annotations

import gzip
import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from proxy.artifacts.recipe import BuildInput, RecipeError


class GzipRecipe:
    name = "test-gzip"

    def canonical_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(options) - {"level", "marker", "fail", "gate"}
        if unknown:
            raise RecipeError(f"unknown options: {sorted(unknown)}")
        level = options.get("level", 6)
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 9:
            raise RecipeError("level must be an integer from 1 to 9")
        out: dict[str, Any] = {"level": level}
        for name in ("marker", "gate"):
            if options.get(name) is not None:
                out[name] = str(options[name])
        if options.get("fail"):
            out["fail"] = True
        return out

    def target(self) -> dict[str, str]:
        return {"machine": platform.machine(), "python": f"{sys.version_info.major}.{sys.version_info.minor}"}

    def available(self) -> str | None:
        return None

    def build(self, job: BuildInput) -> Path:
        marker = job.options.get("marker")
        if marker:
            with open(marker, "a") as f:
                f.write(f"start {os.getpid()}\n")
        print(f"gzip level {job.options['level']} of {', '.join(job.names)}", flush=True)
        gate = job.options.get("gate")
        while gate and not os.path.exists(gate):
            if time.monotonic() > job.deadline:
                raise RecipeError("gave up waiting for the gate")
            time.sleep(0.05)
        if job.options.get("fail"):
            print("error: the compiler exploded at line 42", flush=True)
            raise RecipeError("compilation failed")
        output = job.scratch / "out.gz"
        level = job.options["level"]
        with open(output, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=level,
                                                      mtime=0) as z:
            for source in job.sources:
                z.write(source.read_bytes())
        if marker:
            with open(marker, "a") as f:
                f.write(f"done {os.getpid()}\n")
        return output


RECIPE = GzipRecipe()
