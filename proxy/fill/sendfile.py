"""Sending a fill's bytes to a socket with the kernel's sendfile, span by span as they land: no
copy through Python and no per-reader buffer. Used for clients tailing a fill
(``proxy.read.send``) and for follower pods streaming it from the leader (``proxy.fill.feed``)."""

from __future__ import annotations

import asyncio
import os
import time

from prometheus_client import Counter

from proxy.fill.state import Fill


async def send_spans(transport: asyncio.BaseTransport | None, fill: Fill, start: int, end: int, sent: Counter,
                     *, landed: bool = False) -> bool:
    """Send [start, end) of ``fill`` to ``transport`` (``landed``: every landed byte, the final one
    too, before verification). False when the loop has no sendfile (nothing was sent: the caller
    falls back to reading and writing); raises FillFailed when the fill fails meanwhile."""
    loop = asyncio.get_running_loop()
    if transport is None:
        raise ConnectionResetError("client went away")
    async for fd, offset, count in fill.spans(start, end, landed=landed):
        pos, stop, since = offset, offset + count, 0.0
        while pos < stop:
            with os.fdopen(fd, "rb", closefd=False) as file:
                try:
                    done = await loop.sendfile(transport, file, pos, stop - pos)  # type: ignore[arg-type]
                except NotImplementedError:
                    if pos == start:
                        return False
                    raise
            sent.inc(done)
            pos += done
            if pos < stop:  # a view of the shared volume that lags the leader: wait for it
                since = since or time.monotonic()
                await fill.lagged(pos, since)
            else:
                since = 0.0
    return True
