"""Blobs in use across pods: each pod announces the blobs its clients are reading, and the
evictor (one pod at a time, under the eviction lease) skips what any live pod reads.

A pod announces a blob *before* its first reader gets a byte (``ensure``, awaited by
``Cache.resolve`` when a blob goes from no reader to one), and refreshes its whole set every
``interval`` with an expiry of three intervals, so a dead pod's claims lapse. A finished reader
is dropped at the next refresh: a blob looks busy a little longer than it is, never shorter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from proxy.cluster.port import Coordinator
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable
from proxy.read.readers import Readers
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

INTERVAL = 5.0


class SharedUsage:
    def __init__(self, readers: Readers, coordinator: Coordinator, interval: float = INTERVAL) -> None:
        self._readers = readers
        self._coordinator = coordinator
        self._interval = interval
        self._published = -1
        self._lock = asyncio.Lock()
        self._tasks = OwnedTasks("blobs in use")

    async def start(self) -> None:
        if self._coordinator.shared:
            self._tasks.start(self._refresh(), name="blobs in use")

    async def close(self) -> None:
        """Stop refreshing and withdraw this pod's claims (a pod that dies instead: they expire)."""
        await self._tasks.close()
        if self._coordinator.shared:
            with contextlib.suppress(CoordinationUnavailable):
                await self._coordinator.announce_in_use(set(), ttl=3 * self._interval)

    async def ensure(self) -> None:
        """Return once every blob this pod started reading so far has been announced (or Redis is
        down: then nobody evicts, see ``elsewhere``)."""
        if self._coordinator.shared and self._published < self._readers.generation:
            await self._publish(force=False)

    async def _publish(self, *, force: bool) -> None:
        async with self._lock:
            generation = self._readers.generation
            if not force and self._published >= generation:
                return  # a publish that began after our blob's first reader covered it
            with contextlib.suppress(CoordinationUnavailable):
                await self._coordinator.announce_in_use(self._readers.digests(), ttl=3 * self._interval)
                self._published = generation

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._publish(force=True)  # finished readers drop out, committed fills' blobs come in

    async def elsewhere(self) -> set[Digest]:
        """Blobs other pods read now. Raises CoordinationUnavailable: then the caller must not
        delete anything, since it cannot know what other pods read."""
        return await self._coordinator.in_use_elsewhere()
