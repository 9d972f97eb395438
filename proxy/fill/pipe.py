"""WritePipe: the fill pipeline between the network and the disk.

Chunks arrive from an upstream body on the event loop; ``put`` only appends them to a list.
One writer task hands what was gathered so far (up to one batch) to the sink (a write in a worker
thread): whatever arrived while the previous batch was being written. A slow upstream is thus
written chunk by chunk (readers see each chunk at once), a fast one in large batches (one
executor hop per several MiB). The body is not read further while a full batch waits behind the
one being written (back-pressure: at most two batches of memory per pipe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

BATCH = 1 << 20
"""Bytes gathered at most while a batch is written."""


class WritePipe:
    def __init__(self, sink: Callable[[list[bytes]], Awaitable[None]], batch: int = BATCH) -> None:
        self._sink = sink
        self._batch = batch
        self._chunks: list[bytes] = []
        self._size = 0
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WritePipe:
        self._task = asyncio.create_task(self._run(), name="fill write pipe")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Write what was gathered (also when the body broke off: those bytes are good), and wait
        for it; when cancelled, stop at once."""
        assert self._task is not None
        if kind is not None and issubclass(kind, asyncio.CancelledError):
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            return
        self._closing = True
        self._wake.set()
        if kind is None:
            await self._task
        else:
            await asyncio.gather(self._task, return_exceptions=True)  # the body's error wins

    async def put(self, chunk: bytes) -> None:
        """Queue a chunk; waits while a full batch is already queued behind the one being written."""
        task = self._task
        assert task is not None
        self._chunks.append(chunk)
        self._size += len(chunk)
        self._wake.set()
        while self._size >= self._batch and not task.done():
            self._space.clear()
            space = asyncio.ensure_future(self._space.wait())
            try:
                await asyncio.wait({space, task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                space.cancel()
        if task.done():
            task.result()  # the sink failed: raise its error
            raise RuntimeError("write pipe closed")

    def _take(self) -> list[bytes]:
        """The oldest chunks, about one batch of them (at least one chunk)."""
        count, size = 0, 0
        while count < len(self._chunks) and (count == 0 or size + len(self._chunks[count]) <= self._batch):
            size += len(self._chunks[count])
            count += 1
        chunks, self._chunks = self._chunks[:count], self._chunks[count:]
        self._size -= size
        if self._size < self._batch:
            self._space.set()
        return chunks

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._chunks:
                await self._sink(self._take())
            elif self._closing:
                return
            if self._chunks or self._closing:
                self._wake.set()
