"""Bytes a client writes through the proxy to the upstream, kept as a blob on the way.

The adapter streams the client's body to the upstream through ``tee``, which writes each chunk
to a temp blob as it passes; once the upstream has accepted the object, ``admit`` commits the blob
(verifying its size) and indexes it under the object's key, so the next read is a hit.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from proxy.read.driver import Cache
from proxy.storage.writer import BlobWriter
from proxy.upstream import ObjectMeta


class Upload:
    def __init__(self, writer: BlobWriter, cache: Cache) -> None:
        self._writer = writer
        self._cache = cache

    async def tee(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Each chunk, after it was written to the blob."""
        async for chunk in chunks:
            await self._writer.write(chunk)
            yield chunk

    async def admit(self, key: str, meta: ObjectMeta) -> None:
        """Commit the bytes and index them under ``key``, as the version ``meta`` describes."""
        blob = await self._writer.commit()
        await self._cache.admit(key, blob, meta)
