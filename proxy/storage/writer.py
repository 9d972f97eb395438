"""BlobWriter: a temp file on the cache volume that is hashed as it is written, then committed.

Two ways to fill it: append in order (``write``/``writev``: written and hashed in one worker
thread), or place segments at their offsets (``pwritev``, any order, several at once) and hash
the contiguous prefix as it grows (``hash_through``, reading back what landed: page cache).
Either way every byte of the blob is hashed, in order, before ``commit`` verifies it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from proxy.digest import Checksum, Digest, Hashing
from proxy.errors import IntegrityError
from proxy.storage.layout import Layout


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int
    path: Path


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the finished blob must be; None means 'not known in advance'."""

    size: int | None = None
    digest: Digest | None = None
    checksums: tuple[Checksum, ...] = ()


_IO = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fill-io")
"""Writes and hashing of fills: their own threads, so that many fills' segments neither wait
behind nor starve the loop's default executor (index writes, opens)."""
HASH_BUFFER = 2 << 20
"""Bytes read back and hashed at a time by ``hash_through``."""


def _pwritev_sync(fd: int, chunks: Sequence[bytes | memoryview], offset: int) -> None:
    views = [memoryview(c) for c in chunks]
    while views:
        done = os.pwritev(fd, views[:1024], offset)  # IOV_MAX
        offset += done
        while views and done >= len(views[0]):
            done -= len(views[0])
            views.pop(0)
        if views and done:
            views[0] = views[0][done:]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """Writes one blob: ``write`` chunks, then ``commit`` (verify, fsync, rename) or ``cancel``.

    The temp file can be read by others while it grows (``path`` and ``written``); bytes below
    ``written`` are on disk and never change. ``cancel`` is idempotent and safe in ``finally``.
    """

    def __init__(self, layout: Layout, node_id: str, expect: Expectation, adopt: Path | None = None,
                 prefix: int | None = None) -> None:
        """A new temp file; or, with ``adopt``, a predecessor's partial temp file (a fill another
        node started): it is moved into this node's tmp dir, and the bytes it holds (its first
        ``prefix`` bytes, when given: a segmented fill's file has holes beyond) are hashed and
        kept, so the download continues from their end. Blocking: call it in an executor."""
        self._layout = layout
        self._expect = expect
        self._hashing = Hashing({c.algorithm for c in expect.checksums}, expect.size)
        self.path = layout.tmp(node_id) / f"fill-{secrets.token_hex(12)}"
        self._pending: set[asyncio.Future[None]] = set()
        self._hash_buffer: bytearray | None = None
        self.written = 0
        """Bytes hashed: a prefix of the file that is on disk and never changes."""
        if adopt is None:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            return
        os.rename(adopt, self.path)  # same volume: atomic; readers' open descriptors stay valid
        self._fd = os.open(self.path, os.O_RDWR)
        try:
            self._rehash(self._fd, prefix)
        except BaseException:
            os.close(self._fd)
            raise

    def _rehash(self, fd: int, prefix: int | None) -> None:
        size = os.fstat(fd).st_size
        if prefix is not None:
            size = min(size, prefix)
        if self._expect.size is not None and size > self._expect.size:
            raise IntegrityError(f"adopted temp file has {size} bytes, more than the expected {self._expect.size}")
        while self.written < size:
            chunk = os.pread(fd, min(1 << 22, size - self.written), self.written)
            if not chunk:
                break
            self._hashing.update(chunk)
            self.written += len(chunk)
        os.lseek(fd, self.written, os.SEEK_SET)

    async def write(self, chunk: bytes) -> None:
        """Append a chunk; hashing and the write happen off the event loop."""
        await self.writev([chunk])

    async def writev(self, chunks: Sequence[bytes | memoryview]) -> None:
        """Append chunks (one batch: one executor hop); hashed and written off the event loop."""
        fd = self._open_fd()
        await self._off_loop(self._writev_sync, fd, chunks)
        self.written += sum(len(c) for c in chunks)

    def _writev_sync(self, fd: int, chunks: Sequence[bytes | memoryview]) -> None:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            self._hashing.update(chunk)

    async def pwritev(self, chunks: Sequence[bytes | memoryview], offset: int) -> None:
        """Place chunks at ``offset`` without hashing them (a segment); ``hash_through`` hashes
        them once the prefix reaches them. Several may run at once, at disjoint offsets."""
        fd = self._open_fd()
        await self._off_loop(_pwritev_sync, fd, chunks, offset)

    async def place(self, func: Callable[[int], None], executor: ThreadPoolExecutor) -> None:
        """Run ``func(fd)`` in ``executor``: it writes segment bytes at their offsets itself
        (``os.pwrite``, not hashed: ``hash_through`` hashes them). ``cancel`` and ``commit`` wait
        for it; a caller that is cancelled must make ``func`` return soon."""
        await self._off_loop(func, self._open_fd(), executor=executor)

    async def hash_through(self, end: int) -> None:
        """Hash the file's bytes [written, end), which are on disk (landed segments)."""
        fd = self._open_fd()
        if end > self.written:
            await self._off_loop(self._hash_sync, fd, self.written, end)
            self.written = end

    def _hash_sync(self, fd: int, start: int, end: int) -> None:
        if self._hash_buffer is None:  # one per writer, reused: fresh large buffers per call bloat RSS
            self._hash_buffer = bytearray(HASH_BUFFER)
        buffer = self._hash_buffer
        pos = start
        while pos < end:
            view = memoryview(buffer)[:min(HASH_BUFFER, end - pos)]
            got = os.preadv(fd, [view], pos)
            if got <= 0:
                raise IntegrityError(f"temp file ends at {pos}, before the {end} bytes that landed")
            self._hashing.update(view[:got])
            pos += got

    def _open_fd(self) -> int:
        if self._fd is None:
            raise RuntimeError("write after commit or cancel")
        return self._fd

    async def _off_loop(self, func: Callable[..., None], *args: object, executor: ThreadPoolExecutor = _IO) -> None:
        # The executor thread keeps running if the awaiting task is cancelled; ``cancel`` waits
        # for it before closing the descriptor, so that a reused fd number never receives the
        # rest of this chunk.
        pending = asyncio.get_running_loop().run_in_executor(executor, func, *args)
        self._pending.add(pending)
        try:
            await asyncio.shield(pending)
        finally:
            if pending.done():
                self._pending.discard(pending)

    async def commit(self) -> BlobInfo:
        """Verify size and checksums, fsync, and atomically rename into ``blobs/``.

        Committing content that already exists is harmless: the existing blob is kept. Raises
        IntegrityError (after cancelling) when the bytes are not what was expected.
        """
        if self._fd is None:
            raise RuntimeError("commit after commit or cancel")
        try:
            digest = self._verify()
            return await asyncio.get_running_loop().run_in_executor(None, self._publish, digest)
        except BaseException:
            await self.cancel()
            raise

    def _verify(self) -> Digest:
        expect = self._expect
        if expect.size is not None and self.written != expect.size:
            raise IntegrityError(f"size mismatch: expected {expect.size} bytes, got {self.written}")
        for checksum in expect.checksums:
            got = self._hashing.checksum(checksum.algorithm)
            if got != checksum:
                raise IntegrityError(f"{checksum.algorithm} mismatch: expected {checksum.hex}, got {got.hex}")
        digest = self._hashing.digest()
        if expect.digest is not None and digest != expect.digest:
            raise IntegrityError(f"blake3 mismatch: expected {expect.digest.hex}, got {digest.hex}")
        return digest

    def _publish(self, digest: Digest) -> BlobInfo:
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        final = self._layout.blob(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            # Same digest, same bytes: the blob is already there (content addressing makes a
            # second commit a no-op), and replacing it would gain nothing.
            self.path.unlink(missing_ok=True)
            os.utime(final)  # fresh again: gc's grace period protects it until it is indexed
        else:
            os.chmod(self.path, 0o444)
            os.replace(self.path, final)
            fsync_dir(final.parent)
        return BlobInfo(digest, self.written, final)

    async def _settle(self) -> None:
        """Wait for writes whose awaiting tasks were cancelled: their threads still use the descriptor."""
        pending, self._pending = self._pending, set()
        if pending:
            await asyncio.wait(pending)

    async def detach(self) -> None:
        """Stop writing but leave the temp file for a successor (a fill handed over). Idempotent."""
        await self._settle()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def cancel(self) -> None:
        await self._settle()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.path.exists():
            self.path.unlink(missing_ok=True)
