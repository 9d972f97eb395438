"""The coordination port: what fills and tiers need from the cluster, and the values they exchange.

Redis (or the in-process stand-in) only coordinates: durable facts stay on the cache volume. A
lost coordinator costs coalescing across pods, never data (see docs/cluster.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from proxy.digest import Checksum, ChecksumAlgorithm, Digest
from proxy.storage.index import IndexEntry
from proxy.upstream import ObjectMeta, Validators


def key_id(key: str) -> str:
    """A fixed-length name for a key in coordinator key and channel names."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    url: str
    """The advertise URL: how other pods reach this one."""


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to download ``key`` from upstream and commit it. ``token`` is the fencing token:
    it grows with every lease ever granted, and only the current token may write the index."""

    key: str
    token: int
    node: Node
    ttl: float


@dataclass(frozen=True, slots=True)
class FillRecord:
    """What a fill's leader tells the others: where its partial temp file is and how far it got."""

    token: int
    node: Node
    tmp: str | None = None
    written: int = 0
    meta: ObjectMeta | None = None
    segmented: bool = False
    """The temp file is filled in segments: its first ``written`` bytes are on disk, and beyond
    them the runs in ``landed``; a successor keeps both and fetches only the holes."""
    landed: tuple[tuple[int, int], ...] = ()
    """Segmented: byte ranges [start, end) on disk beyond the first ``written`` bytes."""

    def to_json(self) -> dict[str, Any]:
        return _RecordWire.of(self).model_dump(mode="json")

    @classmethod
    def from_json(cls, data: object) -> FillRecord:
        return _RecordWire.model_validate(data).record()


class _MetaWire(BaseModel):
    """``ObjectMeta`` on the wire: validators flat, checksums and attributes as pairs."""

    size: int | None
    content_type: str
    etag: str | None
    last_modified: str | None
    immutable: bool
    checksums: list[tuple[ChecksumAlgorithm, str]]
    attributes: list[tuple[str, str]]

    @classmethod
    def of(cls, meta: ObjectMeta) -> _MetaWire:
        return cls(size=meta.size, content_type=meta.content_type, etag=meta.validators.etag,
                   last_modified=meta.validators.last_modified, immutable=meta.immutable,
                   checksums=[(c.algorithm, c.hex) for c in meta.checksums], attributes=list(meta.attributes))

    def meta(self) -> ObjectMeta:
        return ObjectMeta(size=self.size, content_type=self.content_type,
                          validators=Validators(self.etag, self.last_modified),
                          checksums=tuple(Checksum(a, h) for a, h in self.checksums), immutable=self.immutable,
                          attributes=tuple(self.attributes))


class _RecordWire(BaseModel):
    """``FillRecord`` on the wire (Redis, the workers' socket): the node flat as ``node`` and ``url``."""

    token: int
    node: str
    url: str
    tmp: str | None = None
    written: int = 0
    meta: _MetaWire | None = None
    segmented: bool = False
    landed: list[tuple[int, int]] = []

    @classmethod
    def of(cls, record: FillRecord) -> _RecordWire:
        return cls(token=record.token, node=record.node.node_id, url=record.node.url, tmp=record.tmp,
                   written=record.written, meta=_MetaWire.of(record.meta) if record.meta else None,
                   segmented=record.segmented, landed=list(record.landed))

    def record(self) -> FillRecord:
        return FillRecord(self.token, Node(self.node, self.url), self.tmp, self.written,
                          self.meta.meta() if self.meta else None, self.segmented, tuple(self.landed))


EventKind = Literal["progress", "done", "failed", "released"]


@dataclass(frozen=True, slots=True)
class FillEvent:
    """One message on a key's channel.

    progress: ``record`` moved on. done: ``entry`` is committed (or revalidated, ``not_modified``).
    failed: the fill ended with ``error`` (``error_type`` names the domain error; ``rejected`` is
    the upstream's client-error answer to pass through). released: the leader handed the fill over
    (graceful shutdown) and left its temp file: a follower should take over now.
    """

    kind: EventKind
    token: int
    record: FillRecord | None = None
    entry: IndexEntry | None = None
    not_modified: bool = False
    error: str = ""
    error_type: str = ""
    rejected: dict[str, Any] | None = None

    def encode(self) -> str:
        return _EventWire(kind=self.kind, token=self.token, record=_RecordWire.of(self.record) if self.record else None,
                          entry=self.entry, not_modified=self.not_modified, error=self.error,
                          error_type=self.error_type, rejected=self.rejected).model_dump_json()

    @classmethod
    def decode(cls, text: str | bytes) -> FillEvent:
        w = _EventWire.model_validate_json(text)
        return cls(w.kind, w.token, w.record.record() if w.record else None, w.entry, w.not_modified, w.error,
                   w.error_type, w.rejected)


class _EventWire(BaseModel):
    """``FillEvent`` on the wire: compact JSON (the entry as its index record, ``format`` left out)."""

    kind: EventKind
    token: int
    record: _RecordWire | None
    entry: IndexEntry | None
    not_modified: bool
    error: str
    error_type: str
    rejected: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class LeaseState:
    """What a follower's catch-up sees: whether someone holds the lease, and the last fill record
    (kept after the lease expires, so a successor can find the partial temp file)."""

    held: bool
    record: FillRecord | None


class Subscription(Protocol):
    """Events for one key, from the moment of subscribing until ``close`` (``proxy.cluster.events``)."""

    key: str

    async def get(self, within: float) -> FillEvent | None:
        """The next event, or None when none came within ``within`` seconds (time to catch up)."""
        ...

    def close(self) -> None: ...


class Coordinator(Protocol):
    """Leases, events and the memory-tier registry. Methods raise CoordinationUnavailable when the
    coordinator cannot be reached; callers then act for this node alone."""

    node: Node
    shared: bool
    """True when other pods see the same leases (Redis): a fill handed over keeps its temp file."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> bool:
        """Whether the coordinator answers now (for /readyz)."""
        ...

    async def try_lead(self, key: str, ttl: float) -> Lease | None:
        """A new lease with a fresh fencing token, or None while another holder's lease runs."""
        ...

    async def renew(self, lease: Lease, record: FillRecord | None = None) -> bool:
        """Extend the lease (and store ``record``) if ``lease.token`` is still the current one;
        atomic. False: the lease expired or another node holds it. Also the fencing check."""
        ...

    async def release(self, lease: Lease, *, keep_record: bool) -> None:
        """Give the lease up if still held. ``keep_record`` leaves the fill record for a successor."""
        ...

    async def state(self, key: str) -> LeaseState: ...
    async def publish(self, key: str, event: FillEvent) -> None: ...
    def subscribe(self, key: str) -> Subscription:
        """Events for ``key`` from now on (lossy: pair with ``state`` and the index)."""
        ...

    async def hold(self, digest: Digest, ttl: float) -> None:
        """Record that this node holds ``digest`` in its memory tier for ``ttl`` seconds."""
        ...

    async def drop(self, digest: Digest) -> None: ...
    async def holders(self, digest: Digest) -> list[Node]:
        """Nodes (this one excluded) that hold ``digest`` in memory."""
        ...

    async def announce_in_use(self, digests: set[Digest], ttl: float) -> None:
        """Replace this node's set of blobs in use (read now) with ``digests``, for ``ttl`` seconds."""
        ...

    async def in_use_elsewhere(self) -> set[Digest]:
        """The blobs other live nodes announced as in use."""
        ...

    async def announce(self, summary: dict[str, Any], ttl: float) -> None:
        """Publish this node's status summary for ``ttl`` seconds (the cluster's member list)."""
        ...

    async def members(self) -> list[dict[str, Any]]:
        """The summaries other live nodes announced (this one excluded)."""
        ...
