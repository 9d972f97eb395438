"""OwnedTasks: the background tasks one object owns, so none is lost, leaked or silently failed.

asyncio keeps only weak references to tasks: a task nobody holds may be garbage-collected while
it runs, and an exception nobody retrieves is reported late, at collection, if ever. An owner
(the fill registry, prefetch jobs, watches, a pod's heartbeat...) starts its tasks here instead:
each is named, held until it ends, an unexpected exception is logged at once with its name, and
``close`` cancels every task still running and waits until all have finished their cleanup.

A task may be started under a ``key`` (say, the watch it runs) to be found and stopped alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Hashable
from functools import partial
from typing import Any

log = logging.getLogger(__name__)


class OwnedTasks:
    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()
        self._keyed: dict[Hashable, asyncio.Task[None]] = {}

    def start(self, work: Coroutine[Any, Any, None], *, name: str, key: Hashable | None = None) -> asyncio.Task[None]:
        """Run ``work`` as a task named ``name``; with ``key``, findable until it ends (one per key)."""
        if key is not None and key in self._keyed:
            work.close()
            raise RuntimeError(f"{self._owner}: a task for {key!r} is already running")
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        if key is not None:
            self._keyed[key] = task
        task.add_done_callback(partial(self._ended, key))
        return task

    def _ended(self, key: Hashable | None, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if key is not None and self._keyed.get(key) is task:
            del self._keyed[key]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task failed", exc_info=error,
                      extra={"owner": self._owner, "task": task.get_name(), "error": repr(error)})

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keyed

    def __len__(self) -> int:
        return len(self._tasks)

    async def stop(self, key: Hashable) -> None:
        """Cancel the task started under ``key`` (if it still runs) and wait until it has ended."""
        task = self._keyed.pop(key, None)
        if task is not None:
            await _cancel({task})

    async def settle(self) -> None:
        """Wait until every task started so far (and any they start meanwhile) has ended."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel every task and wait until all have ended (including any started meanwhile).
        Their exceptions are logged, not raised: one failed task does not stop the others' shutdown."""
        while self._tasks:
            await _cancel(set(self._tasks))


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
