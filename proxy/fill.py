"""Fill: one upstream download per key, owned by the node, readable while it is written.

A fill is an asyncio task owned by ``Fills`` (never by the response of the client that caused
it), so a client that goes away does not cancel it. It streams upstream bytes into a BlobWriter;
any number of readers tail the growing temp file through one shared read descriptor and are woken
on every chunk. The last byte of the file is held back from readers until the blob is verified and
committed, so a reader of a bad download sees an aborted response, never a clean end.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from proxy.errors import FillFailed, UpstreamChanged, UpstreamUnavailable
from proxy.index import Index, IndexEntry
from proxy.metrics import Metrics
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.writer import BlobInfo, BlobWriter, Expectation
from proxy.upstream import Fetched, FetchRequest, NotModified, ObjectMeta, Source

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


class FillState(enum.Enum):
    PENDING = "pending"  # waiting for the upstream's answer
    STREAMING = "streaming"  # metadata known, bytes landing
    COMMITTED = "committed"  # verified, in blobs/ and the index
    NOT_MODIFIED = "not_modified"  # a revalidation found the cached version current
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FillPolicy:
    retries: int = 5
    """How many times a dropped upstream connection is resumed before the fill fails."""
    backoff: float = 0.2
    """First retry delay in seconds; doubles per retry."""


class Fill:
    def __init__(self, source: Source, stale: IndexEntry | None) -> None:
        self.key = source.key
        self.source = source
        self.stale = stale
        self.state = FillState.PENDING
        self.meta: ObjectMeta | None = None
        self.entry: IndexEntry | None = None
        self.blob: BlobInfo | None = None
        self.error: BaseException | None = None
        self.written = 0
        self.started = time.monotonic()
        self._changed = asyncio.Event()
        self._tmp_path: Path | None = None

    # -- state seen by readers -------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.state in (FillState.COMMITTED, FillState.NOT_MODIFIED, FillState.FAILED)

    @property
    def size(self) -> int | None:
        if self.state is FillState.COMMITTED:
            return self.written
        return self.meta.size if self.meta else None

    async def ready(self) -> None:
        """Wait until the upstream's metadata is known or the fill has ended."""
        while self.state is FillState.PENDING:
            await self._changed.wait()

    async def wait_finished(self) -> None:
        while not self.finished:
            await self._changed.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _readable(self, end: int | None) -> int:
        """How far a reader whose range ends at ``end`` (None: end of file) may read now."""
        if self.state is FillState.COMMITTED:
            return self.written if end is None else end
        size = self.meta.size if self.meta else None
        if end is not None and size is not None and end < size:
            return min(end, self.written)
        if size is not None:
            return min(self.written, size - 1)  # hold the final byte until verified
        return max(0, self.written - 1)

    async def _open(self) -> int:
        """A read descriptor on the bytes: the temp file while streaming, the blob once committed.

        Opens on the event loop thread, so ``state`` and ``blob`` cannot change under it; while
        the temp file is being renamed into ``blobs/`` it waits for the commit to be announced.
        """
        while True:
            changed = self._changed
            if self.blob is not None:
                return os.open(self.blob.path, os.O_RDONLY)
            if self.finished:
                raise FillFailed(f"fill of {self.key} has no bytes to read ({self.state.value}): {self.error}")
            if self._tmp_path is not None:
                try:
                    return os.open(self._tmp_path, os.O_RDONLY)
                except FileNotFoundError:
                    pass
            await changed.wait()

    async def read(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        """Bytes [start, end) as they land. Raises FillFailed if the fill fails meanwhile."""
        fd = await self._open()
        try:
            pos = start
            while True:
                changed = self._changed
                if self.state is FillState.FAILED:
                    raise FillFailed(f"fill of {self.key} failed: {self.error}") from self.error
                limit = self._readable(end)
                if pos < limit:
                    # Bytes this node has just written are in its page cache: a pread here is a
                    # memory copy, cheaper than an executor hop per chunk per reader.
                    data = os.pread(fd, min(READ_CHUNK, limit - pos), pos)
                    if not data:
                        raise FillFailed(f"fill of {self.key}: temp file shorter than reported")
                    pos += len(data)
                    yield data
                    continue
                if pos == end or (end is None and self.state is FillState.COMMITTED):
                    return  # the final byte of a file only becomes readable once it is committed
                await changed.wait()
        finally:
            os.close(fd)

    # -- the task --------------------------------------------------------------------------

    async def run(self, store: FsBlobStore, index: Index, metrics: Metrics, policy: FillPolicy,
                  clock: Callable[[], float]) -> None:
        writer: BlobWriter | None = None
        fetched: Fetched | None = None
        try:
            validators = self.stale.validators if self.stale else None
            result = await self.source.fetch(FetchRequest(if_none_match=validators or None))
            if isinstance(result, NotModified):
                assert self.stale is not None
                await self._finish_not_modified(index, clock())
                return
            fetched = result
            self.meta = fetched.meta
            writer = store.create(Expectation(size=self.meta.size, checksums=self.meta.checksums))
            self._tmp_path = writer.path
            self.state = FillState.STREAMING
            self._notify()
            await self._stream(writer, fetched, metrics, policy)
            self.blob = await writer.commit()
            self.entry = IndexEntry.of(self.key, self.blob, self.meta, clock())
            await asyncio.get_running_loop().run_in_executor(None, index.put, self.entry)
            self.state = FillState.COMMITTED
            metrics.fill_duration.observe(time.monotonic() - self.started)
            log.info("fill committed", extra={"key": self.key, "digest": str(self.blob.digest),
                                              "size": self.blob.size})
        except BaseException as exc:
            self.error = exc
            self.state = FillState.FAILED
            metrics.fills_failed.inc()
            if not isinstance(exc, asyncio.CancelledError):
                log.warning("fill failed", extra={"key": self.key, "error": repr(exc)})
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                raise
        finally:
            if writer is not None and self.state is not FillState.COMMITTED:
                await writer.cancel()
            if fetched is not None:
                await fetched.close()
            self._notify()

    async def _finish_not_modified(self, index: Index, now: float) -> None:
        assert self.stale is not None
        self.entry = self.stale.checked(now)
        await asyncio.get_running_loop().run_in_executor(None, index.put, self.entry)
        self.state = FillState.NOT_MODIFIED

    async def _stream(self, writer: BlobWriter, fetched: Fetched, metrics: Metrics, policy: FillPolicy) -> None:
        assert self.meta is not None
        attempt = 0
        while True:
            try:
                async for chunk in fetched.chunks():
                    await writer.write(chunk)
                    self.written = writer.written
                    metrics.upstream_bytes.inc(len(chunk))
                    self._notify()
                if self.meta.size is not None and self.written < self.meta.size:
                    raise UpstreamUnavailable(f"upstream body ended at {self.written} of {self.meta.size} bytes")
                return
            except UpstreamUnavailable as exc:
                attempt += 1
                if attempt > policy.retries or not self.meta.validators:
                    raise
                log.warning("upstream dropped, resuming", extra={
                    "key": self.key, "offset": self.written, "attempt": attempt, "error": str(exc)})
                await fetched.close()
                await asyncio.sleep(policy.backoff * 2 ** (attempt - 1))
                fetched = await self._resume(writer.written)
                metrics.upstream_resumes.inc()

    async def _resume(self, offset: int) -> Fetched:
        assert self.meta is not None
        result = await self.source.fetch(FetchRequest(offset=offset, if_range=self.meta.validators))
        if isinstance(result, NotModified) or result.meta.validators != self.meta.validators:
            raise UpstreamChanged(f"{self.key} changed upstream during the download")
        return result

class Fills:
    """This node's fills, one per key (single flight). Owns their tasks."""

    def __init__(self, store: FsBlobStore, index: Index, metrics: Metrics, policy: FillPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._index = index
        self._metrics = metrics
        self._policy = policy
        self._clock = clock
        self._fills: dict[str, Fill] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> Fill | None:
        return self._fills.get(key)

    def start(self, source: Source, stale: IndexEntry | None = None) -> Fill:
        """Start the fill for ``source.key``; the caller has checked that none is running."""
        if source.key in self._fills:
            raise RuntimeError(f"a fill for {source.key} is already running")
        fill = Fill(source, stale)
        self._fills[fill.key] = fill
        task = asyncio.create_task(self._own(fill), name=f"fill {fill.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return fill

    async def _own(self, fill: Fill) -> None:
        self._metrics.inflight_fills.inc()
        try:
            await fill.run(self._store, self._index, self._metrics, self._policy, self._clock)
        finally:
            self._metrics.inflight_fills.dec()
            if self._fills.get(fill.key) is fill:
                del self._fills[fill.key]

    def __len__(self) -> int:
        return len(self._fills)

    def running(self) -> list[Fill]:
        """The fills in progress now (a copy: safe to keep while fills start and end)."""
        return list(self._fills.values())

    async def close(self) -> None:
        """Cancel every running fill and wait for them to clean up."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
