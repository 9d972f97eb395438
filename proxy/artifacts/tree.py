"""The process tree of one build, and how it is ended (Linux; elsewhere the process group only).

The build's keeper process (``proxy.artifacts.child``) makes itself a *child subreaper*
(``PR_SET_CHILD_SUBREAPER``): a process of the build whose parent exits (a daemonizing compiler,
``setsid cmd &``) is re-parented to the keeper instead of to init, so it stays a descendant the
keeper can find, even outside the build's process group. ``end_descendants`` kills them all by PID,
read from ``/proc``, until none is left (a process forking meanwhile is caught on the next pass).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PASSES = 200
"""Kill passes before giving up on a tree that keeps forking (each pass kills all it finds)."""


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def signal_on_parent_death(signum: int) -> bool:
    """Linux: ``signum`` is sent to this process when the thread that started it ends."""
    return _prctl(PR_SET_PDEATHSIG, int(signum))


def become_subreaper() -> bool:
    """Linux: orphaned descendants are re-parented to this process (and stay findable)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process in ``/proc``."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # the command name (in parentheses) may hold anything
        if len(fields) > 1 and fields[0] != "Z":
            found[int(entry.name)] = int(fields[1])
    return found


def descendants(root: int) -> list[int]:
    """The live descendants of ``root`` (children first)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, queue = [], list(children.get(root, []))
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _reap() -> None:
    """Collect exited children (a subreaper inherits the zombies of its tree)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def end_descendants() -> None:
    """SIGKILL every descendant of this process, until none is left."""
    if not Path("/proc/self/stat").exists():
        return
    me = os.getpid()
    for _ in range(PASSES):
        found = descendants(me)
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()
        time.sleep(0.005)
