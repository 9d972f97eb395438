"""The coordinator of a single node: leases, events and the memory registry in this process.

Same contract as the Redis coordinator (the contract tests run against both), so the fill code
has one path. ``shared`` is False: nobody else can take a fill over, so a fill that stops removes
its temp file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxy.cluster.events import EventHub, Subscription
from proxy.cluster.port import Coordinator, FillEvent, FillRecord, Lease, LeaseState, Node, key_id
from proxy.digest import Digest


@dataclass(slots=True)
class _Held:
    token: int
    expires: float


class EmbeddedCoordinator:
    shared = False

    def __init__(self, node: Node, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self._clock = clock
        self._token = 0
        self._leases: dict[str, _Held] = {}
        self._records: dict[str, FillRecord] = {}
        self._hub = EventHub()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> bool:
        return True

    def _current(self, key: str) -> _Held | None:
        held = self._leases.get(key)
        if held is not None and held.expires <= self._clock():
            del self._leases[key]
            return None
        return held

    async def try_lead(self, key: str, ttl: float) -> Lease | None:
        if self._current(key) is not None:
            return None
        self._token += 1
        self._leases[key] = _Held(self._token, self._clock() + ttl)
        return Lease(key, self._token, self.node, ttl)

    async def renew(self, lease: Lease, record: FillRecord | None = None) -> bool:
        held = self._current(lease.key)
        if held is None or held.token != lease.token:
            return False
        held.expires = self._clock() + lease.ttl
        if record is not None:
            self._records[lease.key] = record
        return True

    async def release(self, lease: Lease, *, keep_record: bool) -> None:
        held = self._current(lease.key)
        if held is not None and held.token == lease.token:
            del self._leases[lease.key]
            if not keep_record:
                self._records.pop(lease.key, None)

    async def state(self, key: str) -> LeaseState:
        return LeaseState(self._current(key) is not None, self._records.get(key))

    async def publish(self, key: str, event: FillEvent) -> None:
        self._hub.deliver(key_id(key), event)

    def subscribe(self, key: str) -> Subscription:
        return self._hub.subscribe(key_id(key))

    async def hold(self, digest: Digest, ttl: float) -> None:
        return None

    async def drop(self, digest: Digest) -> None:
        return None

    async def holders(self, digest: Digest) -> list[Node]:
        return []  # one node: no peers

    async def announce_in_use(self, digests: set[Digest], ttl: float) -> None:
        return None  # one node: its own readers are all there is

    async def in_use_elsewhere(self) -> set[Digest]:
        return set()

    async def announce(self, summary: dict[str, Any], ttl: float) -> None:
        return None  # one node: nobody to tell

    async def members(self) -> list[dict[str, Any]]:
        return []


if TYPE_CHECKING:
    _: type[Coordinator] = EmbeddedCoordinator
