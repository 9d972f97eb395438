"""Membership: each pod announces its status summary through the coordinator, so any pod can
show the whole cluster (``/v1/status``, the dashboard). An owned task; a missed beat only makes
the pod drop off the list until the next one (the record expires after a few intervals)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from proxy.cluster.port import Coordinator
from proxy.errors import CoordinationUnavailable
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

INTERVAL = 5.0
"""Seconds between announcements."""
EXPIRY = 3 * INTERVAL
"""A pod that has not announced for this long is gone from the list."""


class Membership:
    def __init__(self, coordinator: Coordinator, summary: Callable[[], dict[str, Any]],
                 interval: float = INTERVAL) -> None:
        self._coordinator = coordinator
        self._summary = summary
        self._interval = interval
        self._tasks = OwnedTasks("membership")

    async def start(self) -> None:
        """Announce once before the pod starts listening (peers see it as soon as it serves), then
        every interval."""
        if self._coordinator.shared:
            await self._announce()
            self._tasks.start(self._beat(), name="membership")

    async def _announce(self) -> None:
        with contextlib.suppress(CoordinationUnavailable):
            await self._coordinator.announce(self._summary(), ttl=3 * self._interval)

    async def close(self) -> None:
        await self._tasks.close()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._announce()

    async def peers(self) -> list[dict[str, Any]]:
        """Other pods' summaries, each marked ``"self": false``; empty when Redis is down."""
        try:
            found = await self._coordinator.members()
        except CoordinationUnavailable:
            return []
        return sorted(({**m, "self": False} for m in found), key=lambda m: str(m.get("node_id")))
