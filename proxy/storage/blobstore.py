"""FsBlobStore: committed blobs on the cache volume, addressed by digest."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from proxy.digest import Digest
from proxy.errors import InsufficientStorage
from proxy.storage.layout import Layout
from proxy.storage.writer import BlobInfo, BlobWriter, Expectation

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Swept:
    """What a sweep of abandoned temp files removed."""

    files: int = 0
    size: int = 0


class BlobStore(Protocol):
    def stat(self, digest: Digest) -> BlobInfo | None: ...
    def create(self, expect: Expectation) -> BlobWriter: ...
    def delete(self, digest: Digest) -> bool: ...
    def digests(self) -> Iterator[tuple[Digest, os.stat_result]]: ...


class FsBlobStore:
    """Blobs as files under ``blobs/``; see ``proxy.storage.layout`` for the tree.

    Methods are synchronous filesystem calls; async callers run them in an executor.
    """

    def __init__(self, layout: Layout, node_id: str, reserve_bytes: int = 0) -> None:
        self.layout = layout
        self.node_id = node_id
        self.reserve_bytes = reserve_bytes
        """Free space every new blob must leave on the volume."""
        layout.ensure(node_id)

    def free_bytes(self) -> int:
        """Free space on the volume for this (unprivileged) process."""
        st = os.statvfs(self.layout.tmp(self.node_id))
        return st.f_bavail * st.f_frsize

    def sweep_tmp(self, keep: Collection[str] = ()) -> int:
        """Remove what a crash of this node left in its tmp dir, except the entries named in ``keep``.
        Returns how many entries went."""
        tmp = self.layout.tmp(self.node_id)
        removed = 0
        for entry in tmp.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %d leftover temp files from %s", removed, tmp)
        return removed

    def sweep_abandoned(self, now: float, max_age: float) -> Swept:
        """Remove the files other nodes left in their tmp dirs that nobody has written for
        ``max_age`` seconds: a pod killed or replaced mid-fill (pods of a Deployment never come
        back under the same id to sweep their own), a fill handed over that no node took up. A
        file being written or adopted is younger than that by far. Directories stay: an idle
        node that is alive must still find its own."""
        swept = Swept()
        root = self.layout.tmp_root
        own = self.layout.tmp(self.node_id)
        for node_dir in sorted(root.iterdir()) if root.is_dir() else ():
            if node_dir == own or node_dir.is_symlink() or not node_dir.is_dir():
                continue
            for entry in sorted(node_dir.iterdir()):
                try:
                    st = entry.lstat()
                    if stat.S_ISDIR(st.st_mode) or now - st.st_mtime < max_age:
                        continue
                    entry.unlink()
                except FileNotFoundError:  # adopted or removed meanwhile
                    continue
                swept.files += 1
                swept.size += st.st_size
                log.info("removed an abandoned temp file", extra={
                    "path": str(entry), "size": st.st_size, "age": round(now - st.st_mtime)})
        return swept

    def stat(self, digest: Digest) -> BlobInfo | None:
        path = self.layout.blob(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return BlobInfo(digest, st.st_size, path)

    def create(self, expect: Expectation) -> BlobWriter:
        """A writer for a new blob. Raises InsufficientStorage when its announced size would leave
        less than ``reserve_bytes`` free (checked before a byte is written or a header is sent)."""
        if expect.size is not None and (free := self.free_bytes()) < expect.size + self.reserve_bytes:
            raise InsufficientStorage(f"the cache volume has {free} bytes free: not enough for {expect.size} "
                                      f"bytes plus the {self.reserve_bytes}-byte reserve (--disk-reserve-bytes)")
        return BlobWriter(self.layout, self.node_id, expect)

    def adopt(self, path: Path, expect: Expectation, prefix: int | None = None) -> BlobWriter:
        """Continue another node's partial temp file (see ``BlobWriter``). Blocking."""
        return BlobWriter(self.layout, self.node_id, expect, adopt=path, prefix=prefix)

    def delete(self, digest: Digest) -> bool:
        """Unlink a blob. Readers that already opened it keep reading their open file."""
        try:
            self.layout.blob(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> Iterator[tuple[Digest, os.stat_result]]:
        if not self.layout.blobs.is_dir():
            return
        for shard in sorted(self.layout.blobs.iterdir()):
            if not shard.is_dir():
                continue
            for path in sorted(shard.iterdir()):
                digest = self.layout.digest_of(path)
                if digest is not None:
                    yield digest, path.stat()


if TYPE_CHECKING:
    _: type[BlobStore] = FsBlobStore
