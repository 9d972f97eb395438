"""Sending a response body: a committed blob (sendfile, or pread and write), a fill as its bytes
land (sendfile spans, or pread and write for chunked bodies), or a peer's copy (``proxy.cluster.peers``).
A failure after the headers aborts the connection, so a client never mistakes a cut body for a whole one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from aiohttp import ClientPayloadError, web

from proxy.cluster.peers import Peers
from proxy.errors import FillFailed
from proxy.fill.sendfile import send_spans
from proxy.fill.state import Fill
from proxy.observe.metrics import Metrics
from proxy.read.driver import Hit
from proxy.read.ranges import ByteRange

log = logging.getLogger(__name__)

CACHE_HEADER = "X-Cache"
BLOB_DIGEST_HEADER = "X-MM-Blob-Digest"
"""``blake3:<hex>`` of a committed blob: clients that mount the cache volume verify what they read."""
BLOB_PATH_HEADER = "X-MM-Blob-Path"
"""The committed blob's path relative to the cache volume (``blobs/<aa>/<hex>``)."""
SEND_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ServeOptions:
    sendfile: bool = True
    """Use the kernel's sendfile for committed blobs (falls back when the loop lacks it)."""
    peers: Peers | None = None
    """Peer hops for hits this node does not hold in memory (None: never)."""


async def hop(request: web.Request, hit: Hit, status: int, headers: dict[str, str], rng: ByteRange | None,
               metrics: Metrics, options: ServeOptions, redirect_ok: bool) -> web.StreamResponse | None:
    """Send the client on to a peer holding the blob in memory, or fetch it from there; None:
    serve it here."""
    peers = options.peers
    if peers is None or hit.memory is not None or hit.size == 0:
        return None
    node = await peers.locate(request, hit.entry.digest)
    if node is None:
        return None
    if peers.mode == "redirect":
        if not (redirect_ok and peers.may_redirect(request)):
            return None
        metrics.peer_hops.labels("redirect").inc()
        return web.Response(status=307, headers={"Location": peers.redirect_url(request, node), CACHE_HEADER: "peer"})
    rng = rng or ByteRange(0, hit.size)
    upstream = await peers.open(node, hit.entry.digest, rng)
    if upstream is None:
        return None
    metrics.peer_hops.labels("proxy").inc()
    try:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = rng.length
        await response.prepare(request)
        sent = 0
        try:
            async for chunk in upstream.content.iter_chunked(SEND_CHUNK):
                await response.write(chunk)
                sent += len(chunk)
        except ClientPayloadError as exc:
            return _abort(request, response, f"peer {node.node_id} dropped: {exc}")
        if sent != rng.length:
            return _abort(request, response, f"peer {node.node_id} sent {sent} of {rng.length} bytes")
        metrics.served_bytes.labels("peer").inc(sent)
        await response.write_eof()
        return response
    finally:
        upstream.release()


async def send_blob(request: web.Request, hit: Hit, status: int, headers: dict[str, str],
                     rng: ByteRange | None, metrics: Metrics, options: ServeOptions) -> web.StreamResponse:
    rng = rng or ByteRange(0, hit.size)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = rng.length
    writer = await response.prepare(request)
    if request.method == "HEAD" or rng.length == 0:
        await response.write_eof()
        return response
    assert writer is not None
    if hit.memory is not None:
        await writer.write(hit.memory[rng.start:rng.end])
        metrics.served_bytes.labels("memory").inc(rng.length)
        await response.write_eof()
        return response
    loop = asyncio.get_running_loop()
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    sent = False
    if options.sendfile:
        try:
            await loop.sendfile(transport, hit.file, rng.start, rng.length)
            sent = True
        except NotImplementedError:
            pass
    if not sent:
        fd, pos = hit.file.fileno(), rng.start
        while pos < rng.end:
            data = await loop.run_in_executor(None, os.pread, fd, min(SEND_CHUNK, rng.end - pos), pos)
            if not data:
                return _abort(request, response, f"blob {hit.entry.digest} shorter than its index entry")
            await writer.write(data)
            pos += len(data)
    metrics.served_bytes.labels("blob").inc(rng.length)
    await response.write_eof()
    return response


async def send_fill(request: web.Request, fill: Fill, status: int, headers: dict[str, str],
                     rng: ByteRange | None, size: int | None, metrics: Metrics,
                     options: ServeOptions) -> web.StreamResponse:
    start, end = (rng.start, rng.end) if rng else (0, size)
    response = web.StreamResponse(status=status, headers=headers)
    if end is not None:
        response.content_length = end - start
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    served = metrics.served_bytes.labels("fill")
    try:
        # With a known length the landed bytes go from the file to the socket by sendfile: no
        # copy through Python and no per-reader buffer. Chunked bodies need framing: pread + write.
        if options.sendfile and end is not None and await send_spans(request.transport, fill, start, end, served):
            await response.write_eof()
            return response
        async for chunk in fill.read(start, end):
            await response.write(chunk)
            served.inc(len(chunk))
    except FillFailed as exc:
        return _abort(request, response, str(exc))
    await response.write_eof()
    return response


def _abort(request: web.Request, response: web.StreamResponse, why: str) -> web.StreamResponse:
    """Cut the connection mid-body: the client sees an incomplete response, never a clean end.

    aiohttp's own ``write_eof`` then fails on the closed transport, so no chunked terminator
    can be sent after this.
    """
    log.error("aborting response mid-body", extra={"path": request.path, "error": why})
    if request.transport is not None:
        request.transport.abort()
    return response
