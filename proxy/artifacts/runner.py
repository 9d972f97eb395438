"""Run one recipe build in a child process, in its own process group, with a time limit.

The child (``python -m proxy.artifacts.child``) finds the recipe by name in the same registry the
worker uses (built-ins, entry points, ``--recipe-module``), builds in the scratch directory and
writes its result (the output path, or the RecipeError's message) to a small JSON file. Its
stdout and stderr go to the build's log. Past the deadline, or when the build is cancelled, the
child is told to stop (SIGTERM: it kills every process of the build, in its process group or not,
see ``child``), then its process group is killed. The child does the same on its own when the
worker dies, even by SIGKILL (``PR_SET_PDEATHSIG``), so a killed worker leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from proxy.artifacts.recipe import BuildInput, RecipeError

LOG_TAIL = 8192
STOP_GRACE = 5.0
"""Seconds the child has to end its build's processes before its process group is killed."""


def log_tail(path: Path, limit: int = LOG_TAIL) -> str:
    """The last ``limit`` bytes of a build log, as text."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


async def run_build(recipe: str, modules: Sequence[str], job: BuildInput) -> Path:
    """The output file ``job``'s recipe built; raises RecipeError (its message, a crash, the time limit)."""
    result = job.scratch.parent / f"{job.scratch.name}.result.json"
    spec = {"recipe": recipe, "modules": list(modules), "sources": [str(p) for p in job.sources],
            "names": list(job.names), "options": dict(job.options), "scratch": str(job.scratch),
            "seconds": max(0.0, job.deadline - time.monotonic()), "log": str(job.log), "result": str(result),
            "parent": os.getpid()}
    with open(job.log, "ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy.artifacts.child", json.dumps(spec), cwd=job.scratch,
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        async with asyncio.timeout(max(0.0, job.deadline - time.monotonic())):
            code = await proc.wait()
    except TimeoutError:
        await _stop(proc)
        raise RecipeError(f"the build ran past its time limit and was killed ({recipe})") from None
    except BaseException:  # cancelled (lease lost, shutdown): no build survives its worker
        await asyncio.shield(_stop(proc))
        raise
    _kill_group(proc.pid)  # whatever the recipe left running in its group
    return _outcome(result, code, job.scratch)


def _outcome(result: Path, code: int, scratch: Path) -> Path:
    """The child's result file: the output (a file inside ``scratch``), else its error."""
    try:
        outcome = json.loads(result.read_text())
    except (OSError, ValueError):
        raise RecipeError(f"the build process ended with status {code} and no result (see the log)") from None
    finally:
        result.unlink(missing_ok=True)
    if outcome.get("error") is not None:
        raise RecipeError(str(outcome["error"]))
    output = Path(outcome["output"]).resolve()
    if not output.is_file() or scratch.resolve() not in output.parents:
        raise RecipeError(f"the recipe's output {output} is not a file in its scratch directory")
    return output


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the child (it ends its whole tree), SIGKILL to its group after ``STOP_GRACE``."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOP_GRACE):
            await proc.wait()
    _kill_group(proc.pid)
    await proc.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
