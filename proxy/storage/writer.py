"""BlobWriter: a temp file on the cache volume that is hashed as it is written, then committed."""

from __future__ import annotations

import asyncio
import os
import secrets
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

    def __init__(self, layout: Layout, node_id: str, expect: Expectation, adopt: Path | None = None) -> None:
        """A new temp file; or, with ``adopt``, a predecessor's partial temp file (a fill another
        node started): it is moved into this node's tmp dir, and the bytes it holds are hashed and
        kept, so the download continues from its end. Blocking: call it in an executor."""
        self._layout = layout
        self._expect = expect
        self._hashing = Hashing({c.algorithm for c in expect.checksums}, expect.size)
        self.path = layout.tmp(node_id) / f"fill-{secrets.token_hex(12)}"
        self._pending: asyncio.Future[None] | None = None
        self.written = 0
        if adopt is None:
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            return
        os.rename(adopt, self.path)  # same volume: atomic; readers' open descriptors stay valid
        self._fd = os.open(self.path, os.O_RDWR)
        try:
            self._rehash(self._fd)
        except BaseException:
            os.close(self._fd)
            raise

    def _rehash(self, fd: int) -> None:
        size = os.fstat(fd).st_size
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
        if self._fd is None:
            raise RuntimeError("write after commit or cancel")
        # The executor thread keeps running if the awaiting task is cancelled; ``cancel`` waits
        # for it before closing the descriptor, so that a reused fd number never receives the
        # rest of this chunk.
        self._pending = asyncio.get_running_loop().run_in_executor(None, self._write_sync, self._fd, chunk)
        await asyncio.shield(self._pending)
        self._pending = None
        self.written += len(chunk)

    def _write_sync(self, fd: int, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
        self._hashing.update(chunk)

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
        """Wait for a write whose awaiting task was cancelled: its thread still uses the descriptor."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            await asyncio.wait({pending})

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
