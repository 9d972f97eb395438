"""Local fan-out of fill events: one queue per subscriber, keyed by fill key."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

from proxy.cluster.port import FillEvent


class Subscription:
    """Events for one key, from the moment of subscribing until ``close``."""

    def __init__(self, hub: EventHub, key: str) -> None:
        self._hub = hub
        self.key = key
        self._queue: asyncio.Queue[FillEvent] = asyncio.Queue()

    def put(self, event: FillEvent) -> None:
        self._queue.put_nowait(event)

    async def get(self, within: float) -> FillEvent | None:
        """The next event, or None when none came within ``within`` seconds (time to catch up)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                return await self._queue.get()
        return None

    def close(self) -> None:
        self._hub.remove(self)


class EventHub:
    def __init__(self) -> None:
        self._subs: defaultdict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, key: str) -> Subscription:
        sub = Subscription(self, key)
        self._subs[key].add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.key]

    def deliver(self, key: str, event: FillEvent) -> None:
        for sub in list(self._subs.get(key, ())):
            sub.put(event)
