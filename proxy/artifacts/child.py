"""The build child process: ``python -m proxy.artifacts.child '<spec JSON>'`` (see ``runner``)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from proxy.artifacts.recipe import BuildInput, RecipeError, registry

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the worker that started it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    _die_with_parent()
    spec = json.loads(argv[1])
    if os.getppid() != spec["parent"]:
        return 3  # the worker died before the line above took effect
    result = Path(spec["result"])
    try:
        recipe = registry(spec["modules"]).get(spec["recipe"])
        if recipe is None:
            raise RecipeError(f"recipe {spec['recipe']!r} is not installed on this worker")
        job = BuildInput(sources=tuple(Path(p) for p in spec["sources"]), names=tuple(spec["names"]),
                         options=spec["options"], scratch=Path(spec["scratch"]),
                         deadline=time.monotonic() + float(spec["seconds"]), log=Path(spec["log"]))
        output = recipe.build(job)
        result.write_text(json.dumps({"output": str(output)}))
        return 0
    except RecipeError as exc:
        result.write_text(json.dumps({"error": str(exc) or type(exc).__name__}))
        return 1
    except Exception as exc:
        traceback.print_exc()
        result.write_text(json.dumps({"error": f"the recipe crashed: {type(exc).__name__}: {exc}"}))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
