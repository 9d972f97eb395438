"""Is a blob in use? The port eviction asks before it deletes, and this node's implementation.

``BlobUsage`` is the port. ``Readers`` is the in-process implementation: it counts the readers of
committed blobs and of fills (whose digest is known once the fill commits) on this node:
``Cache.resolve`` holds each result it hands out for as long as the caller's ``async with`` lasts.
A cluster implementation (every node's readers and fills, e.g. kept in Redis with expiring entries)
plugs in behind the same port.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from proxy.digest import Digest

if TYPE_CHECKING:
    from proxy.fill.state import Fill


class BlobUsage(Protocol):
    def in_use(self, digest: Digest) -> bool:
        """True while a reader or fill may still need the blob's bytes on the volume."""
        ...


class Readers:
    """Readers of blobs and fills on this node."""

    def __init__(self) -> None:
        self._blobs: Counter[Digest] = Counter()
        self._fills: Counter[Fill] = Counter()
        self.generation = 0
        """Counts blobs going from no reader to one: a new blob in use that other pods must hear of."""
        self.on_access: Callable[[Digest], None] | None = None
        """Told of every blob a reader starts or finishes reading (eviction's last-access times)."""

    def hold_blob(self, digest: Digest) -> Callable[[], None]:
        """Count a reader of a committed blob until the returned function is called (once is enough)."""
        if not self._blobs[digest]:
            self.generation += 1
        self._blobs[digest] += 1
        self._accessed(digest)
        return _once(lambda: _drop(self._blobs, digest))

    def hold_fill(self, fill: Fill) -> Callable[[], None]:
        """Count a reader of a fill's blob until the returned function is called (once is enough)."""
        self._fills[fill] += 1

        def release() -> None:
            _drop(self._fills, fill)
            self._accessed(_fill_digest(fill))

        return _once(release)

    def _accessed(self, digest: Digest | None) -> None:
        if digest is not None and self.on_access is not None:
            self.on_access(digest)

    def in_use(self, digest: Digest) -> bool:
        if self._blobs[digest] > 0:
            return True
        return any(_fill_digest(fill) == digest for fill in self._fills)

    def digests(self) -> set[Digest]:
        """Every blob read now: committed blobs, and fills' blobs once their digest is known."""
        found = set(self._blobs)
        found.update(d for d in map(_fill_digest, self._fills) if d is not None)
        return found

    def __len__(self) -> int:
        return sum(self._blobs.values()) + sum(self._fills.values())


def _fill_digest(fill: Fill) -> Digest | None:
    if fill.blob is not None:
        return fill.blob.digest
    return fill.stale.digest if fill.stale is not None else None


def _drop(counter: Counter[Any], item: object) -> None:
    counter[item] -= 1
    if counter[item] <= 0:
        del counter[item]


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()

    return call


if TYPE_CHECKING:
    _: type[BlobUsage] = Readers
