"""Pins: URLs at a version whose blobs eviction never removes.

A pin names index keys by prefix (e.g. ``hf:model/org/repo@<commit>/`` for a repo at a commit,
``s3:bucket/prefix`` for an S3 prefix); every blob an index entry under one of them points at is
pinned. A pin may expire (``expires_at``): a watch keeps the version it replaced pinned for a grace
period, so clients that resolved the old version can still read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from proxy.artifacts.key import sources_of
from proxy.digest import Digest
from proxy.storage.index import IndexEntry
from proxy.storage.records import RecordStore


class Pin(BaseModel):
    """A pin record (``pins/`` on the cache volume) and what the control API answers for it."""

    model_config = ConfigDict(frozen=True)

    url: str
    """The URL as the operator named it (canonical form)."""
    version: str
    """The immutable version pinned: a commit sha, or the fingerprint of an S3 listing."""
    prefixes: tuple[str, ...]
    created_at: float
    expires_at: float | None = None
    reason: str = "operator"
    public: bool = False
    """The upstream said anyone may read this version (offline mode serves it to anonymous clients)."""

    @property
    def id(self) -> str:
        return f"{self.url}#{self.version}"

    def live(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def covers(self, key: str) -> bool:
        return any(key.startswith(p) for p in self.prefixes)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pin:
        return cls.model_validate(data)


class Pins:
    """Pin records on the cache volume. Synchronous; async callers use an executor."""

    def __init__(self, records: RecordStore) -> None:
        self._records = records
        self.known: list[Pin] = []
        """The pins as this process last read or wrote them (for status pages; no I/O)."""

    def put(self, pin: Pin) -> None:
        self._records.put(pin.id, pin.to_json())
        self.known = sorted([p for p in self.known if p.id != pin.id] + [pin], key=lambda p: (p.url, p.created_at))

    def all(self) -> list[Pin]:
        pins = []
        for data in self._records.all():
            try:
                pins.append(Pin.from_json(data))
            except ValidationError:
                continue
        self.known = sorted(pins, key=lambda p: (p.url, p.created_at))
        return list(self.known)

    def remove(self, url: str, version: str | None = None) -> list[Pin]:
        """Remove the pins of ``url`` (all its versions, or one)."""
        gone = [p for p in self.all() if p.url == url and version in (None, p.version)]
        for pin in gone:
            self._records.delete(pin.id)
        self.known = [p for p in self.known if p not in gone]
        return gone

    def expire(self, now: float) -> list[Pin]:
        gone = [p for p in self.all() if not p.live(now)]
        for pin in gone:
            self._records.delete(pin.id)
        self.known = [p for p in self.known if p not in gone]
        return gone


def pinned_digests(pins: Iterable[Pin], entries: Iterable[IndexEntry], now: float) -> set[Digest]:
    """Blobs a live pin covers, and the derived artifacts whose sources are all pinned
    (``proxy.artifacts.key``): an engine built from a pinned model stays as long as the model."""
    live = [p for p in pins if p.live(now)]
    entries = list(entries)
    pinned = {e.digest for e in entries if any(p.covers(e.key) for p in live)}
    for entry in entries:
        sources = sources_of(entry)
        if sources and all(s in pinned for s in sources):
            pinned.add(entry.digest)
    return pinned
