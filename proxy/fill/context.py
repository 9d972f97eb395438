"""What a fill works with: its policy (retries, lease, connections, segment sizes) and its context
(the volume, the index, the coordinator, metrics, the link to leaders' pods, the connection budget)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from proxy.cluster.port import Coordinator
from proxy.fill.link import LeaderLink
from proxy.observe.metrics import Metrics
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.index import Index

SPARE_CONNECTIONS = 8


@dataclass(frozen=True, slots=True)
class FillPolicy:
    retries: int = 5
    """How many times a dropped upstream connection is resumed before the fill fails."""
    backoff: float = 0.2
    """First retry delay in seconds; doubles per retry."""
    lease_ttl: float = 10.0
    """Seconds a fill lease lives without progress before another node may take the fill over."""
    connections: int = 8
    """Upstream connections of one segmented fill (1: always one stream)."""
    segment_min: int = 16 << 20
    """Smallest segment; a file smaller than two of them is fetched as one stream."""
    segment_max: int = 64 << 20
    """Largest segment (segments are sized so each connection gets about four)."""
    steal_min: int = 16 << 20
    """A segment in flight is split for an idle connection only while it has twice this much
    left. Each split cuts a connection whose upstream has already sent what its socket buffers
    hold (a few MiB, paid for and thrown away): with 4 MiB, a 64 MiB herd file cost 1.12-1.37x its
    size upstream (``bench --only herd``, ``cluster-herd``); with 16 MiB 1.00-1.39x, all of it from
    the first answer, a whole-file GET cut after the first segment with what was in flight. Large
    files split only at their tail."""

    @property
    def catch_up(self) -> float:
        """How long a follower waits for an event before it re-reads the lease and the index."""
        return min(0.5, self.lease_ttl / 4)


@dataclass(frozen=True, slots=True)
class FillContext:
    """What a fill task works with: the volume, the coordinator, metrics, policy and clock."""

    store: FsBlobStore
    index: Index
    metrics: Metrics
    policy: FillPolicy
    coordinator: Coordinator
    clock: Callable[[], float] = time.time
    link: LeaderLink | None = None
    """Cluster mode: followers stream from the leader's pod (``proxy.fill.relay``); None: they tail
    the leader's temp file on the shared volume."""
    spare_connections: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SPARE_CONNECTIONS))
    """The node's budget of extra upstream connections for segmented fills: each fill has its
    first two (the download and the probe); more come from here, so many concurrent fills do not
    open connections (and buffers) by the hundred."""
