"""The blobs the sidecar may serve: committed by the proxy, named by the index, verified once.

A digest is served only when an index record names it (the proxy published it), the blob file
exists where ``proxy.storage.layout`` puts it with the size the record says, and its bytes hash to
the digest (checked on first use; remembered per inode, size and mtime, since blobs are immutable).
Nothing else reaches the disk: the client names a digest, never a path.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import blake3

from proxy.digest import Digest
from proxy.errors import InvalidDigest
from proxy.storage.index import Index
from proxy.storage.layout import Layout

log = logging.getLogger(__name__)

NODE_ID = "ucx-sidecar"
RESCAN_EVERY = 2.0
"""Seconds between index rescans on a miss (a blob the proxy commits is found within this)."""
OPEN_MAPS = 16


class Refused(Exception):
    """The request names no blob this sidecar may serve (the message says why)."""


@dataclass(frozen=True, slots=True)
class Mapped:
    digest: str
    size: int
    map: mmap.mmap | None
    """None for an empty blob."""

    def view(self, offset: int, length: int) -> memoryview:
        if offset < 0 or length <= 0 or offset + length > self.size:
            raise Refused(f"range {offset}+{length} is outside the blob's {self.size} bytes")
        assert self.map is not None
        return memoryview(self.map)[offset:offset + length]


class Blobs:
    def __init__(self, cache_dir: Path) -> None:
        self.layout = Layout(cache_dir)
        self.index = Index(self.layout, NODE_ID)
        self._sizes: dict[str, int] = {}
        self._scanned = 0.0
        self._verified: dict[str, tuple[int, int, int]] = {}
        self._maps: OrderedDict[str, Mapped] = OrderedDict()
        self._lock = threading.Lock()

    def _published_size(self, digest: str) -> int | None:
        if digest not in self._sizes and time.monotonic() - self._scanned > RESCAN_EVERY:
            self._sizes = {entry.digest.hex: entry.size for entry in self.index.entries()}
            self._scanned = time.monotonic()
        return self._sizes.get(digest)

    def open(self, text: object) -> Mapped:
        """The mapped blob ``text`` (a blake3 hex digest) names; raises Refused. Blocking."""
        if not isinstance(text, str):
            raise Refused("digest must be a string")
        try:
            digest = Digest.parse(text)
        except InvalidDigest as exc:
            raise Refused(str(exc)) from exc
        with self._lock:
            if (held := self._maps.get(digest.hex)) is not None:
                self._maps.move_to_end(digest.hex)
                return held
            size = self._published_size(digest.hex)
            if size is None:
                raise Refused(f"blob {digest.hex} is not committed in this cache")
            mapped = self._map(digest, size)
            self._maps[digest.hex] = mapped
            while len(self._maps) > OPEN_MAPS:
                _, old = self._maps.popitem(last=False)
                if old.map is not None:
                    with contextlib.suppress(BufferError):  # still being sent: the GC closes it later
                        old.map.close()
            return mapped

    def _map(self, digest: Digest, size: int) -> Mapped:
        path = self.layout.blob(digest)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise Refused(f"blob {digest.hex} is not on the cache volume") from exc
        try:
            st = os.fstat(fd)
            if st.st_size != size:
                raise Refused(f"blob {digest.hex} has {st.st_size} bytes, its index record says {size}")
            mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ) if size else None
        finally:
            os.close(fd)
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._verified.get(digest.hex) != identity:
            actual = blake3.blake3(mapped or b"", max_threads=blake3.blake3.AUTO).hexdigest()
            if actual != digest.hex:
                if mapped is not None:
                    mapped.close()
                log.error("blob does not match its digest: not served", extra={"digest": digest.hex})
                raise Refused(f"blob {digest.hex} failed verification")
            self._verified[digest.hex] = identity
        return Mapped(digest.hex, size, mapped)
