"""The index: upstream identity (key) -> IndexEntry (digest, size, validators, checksums).

The durable copy is one small JSON record per key on the cache volume, written whole and renamed
into place, so a restart (or a lost coordinator) loses nothing. Several keys may name one digest:
the blob is stored once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import TypeAdapter

from proxy.digest import Checksum, Digest
from proxy.errors import InvalidKey
from proxy.storage.atomic import write_json
from proxy.storage.layout import Layout
from proxy.storage.writer import BlobInfo
from proxy.upstream import ObjectMeta, Validators

FORMAT = 1
MAX_KEY_LENGTH = 8192


def check_key(key: str) -> str:
    """A key is ``<namespace>:<identity>``, printable, without NUL; raise InvalidKey otherwise."""
    namespace, sep, rest = key.partition(":")
    if not sep or not namespace.isidentifier() or not rest:
        raise InvalidKey(f"key needs a namespace prefix: {key[:80]!r}")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidKey(f"key too long or not printable: {key[:80]!r}")
    return key


@dataclass(frozen=True, slots=True)
class IndexEntry:
    key: str
    digest: Digest
    size: int
    content_type: str = "application/octet-stream"
    etag: str | None = None
    last_modified: str | None = None
    checksums: tuple[Checksum, ...] = ()
    fetched_at: float = 0.0
    checked_at: float = 0.0
    immutable: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, blob: BlobInfo, meta: ObjectMeta, now: float) -> IndexEntry:
        """The entry for ``blob``, fetched (or written through) just now as ``meta`` describes it."""
        return cls(key=key, digest=blob.digest, size=blob.size, content_type=meta.content_type,
                   etag=meta.validators.etag, last_modified=meta.validators.last_modified,
                   checksums=meta.checksums, fetched_at=now, checked_at=now, immutable=meta.immutable,
                   extra=dict(meta.attributes))

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    def meta(self) -> ObjectMeta:
        """What the upstream said about this version, as a fill would have seen it."""
        return ObjectMeta(size=self.size, content_type=self.content_type, validators=self.validators,
                          checksums=self.checksums, immutable=self.immutable, attributes=tuple(self.extra.items()))

    def checked(self, now: float) -> IndexEntry:
        return replace(self, checked_at=now)

    def to_json(self) -> dict[str, Any]:
        """The record: every field, the digest as ``blake3:<hex>``, checksums as ``{algorithm, hex}``."""
        data: dict[str, Any] = _RECORD.dump_python(self, mode="json")
        data["format"] = FORMAT
        return data

    @classmethod
    def from_json(cls, data: object) -> IndexEntry:
        """An entry from its record (raise ValueError when it is not one)."""
        return _RECORD.validate_python(data)


_RECORD = TypeAdapter(IndexEntry)
"""The JSON record of an index entry (fields not named here, ``format`` among them, are ignored)."""


class Index:
    """Index records on the cache volume. Synchronous; async callers use an executor."""

    def __init__(self, layout: Layout, node_id: str) -> None:
        self.layout = layout
        self.node_id = node_id

    def get(self, key: str) -> IndexEntry | None:
        path = self.layout.record(check_key(key))
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        entry = _RECORD.validate_json(raw)
        return entry if entry.key == key else None  # a sha256 collision would be news

    def put(self, entry: IndexEntry) -> None:
        write_json(self.layout.record(check_key(entry.key)), self.layout.tmp(self.node_id), entry.to_json())

    def delete(self, key: str) -> bool:
        try:
            self.layout.record(check_key(key)).unlink()
        except FileNotFoundError:
            return False
        return True

    def entries(self) -> Iterator[IndexEntry]:
        if not self.layout.index.is_dir():
            return
        for path in sorted(self.layout.index.glob("*/*.json")):
            try:
                yield _RECORD.validate_json(path.read_bytes())
            except (OSError, ValueError):  # ValidationError is a ValueError
                continue  # a record that vanished or does not parse is not an entry

    def referenced(self) -> set[Digest]:
        return {entry.digest for entry in self.entries()}

