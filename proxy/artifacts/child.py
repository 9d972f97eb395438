"""The build processes: ``python -m proxy.artifacts.child '<spec JSON>'`` (see ``runner``).

That process is the build's *keeper*: the leader of the build's process group and a child
subreaper (``tree``). It forks the *builder*, which runs the recipe, and waits. When the worker
that started it dies, even by SIGKILL, the keeper gets SIGTERM (``PR_SET_PDEATHSIG``), kills every
descendant (the builder, the tools it ran, their children, in the group or not) and exits; the
runner stops a build (time limit, lost lease, shutdown) the same way. The builder itself gets
SIGKILL if the keeper dies. The keeper does nothing but wait, so it answers at once even while
the recipe holds the interpreter in native code.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from proxy.artifacts.recipe import BuildInput, RecipeError, registry
from proxy.artifacts.tree import become_subreaper, end_descendants, signal_on_parent_death

ORPHANED = 3
"""Exit status when the parent died before the death signal was armed."""
STOPPED = 128 + signal.SIGTERM


def build(spec: dict[str, Any]) -> int:
    """Run the recipe; write its result (output path or error) to the result file."""
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


def _stop(signum: int, frame: FrameType | None) -> None:
    end_descendants()
    os._exit(STOPPED)


def _builder(spec: dict[str, Any], keeper: int) -> None:
    """The forked builder: never returns."""
    code = ORPHANED
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal_on_parent_death(signal.SIGKILL)
        if os.getppid() == keeper:
            code = build(spec)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    signal.signal(signal.SIGTERM, _stop)
    signal_on_parent_death(signal.SIGTERM)
    if os.getppid() != spec["parent"]:
        return ORPHANED  # the worker died before the line above took effect
    become_subreaper()
    keeper = os.getpid()
    pid = os.fork()
    if pid == 0:
        _builder(spec, keeper)
    _, status = os.waitpid(pid, 0)
    end_descendants()  # whatever the recipe left running
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


if __name__ == "__main__":
    sys.exit(main(sys.argv))
