"""Responses for a committed blob (sendfile) or an in-progress fill (tailing), with ranges and
conditionals on both. Errors before the headers are raised for the adapter to render; a failure
after the headers aborts the connection, so a client never mistakes a cut body for a whole one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import ClientPayloadError, web
from prometheus_client import Counter

from proxy.cache import Hit, InFlight, Resolved
from proxy.conditional import (
    Full,
    NeedSize,
    NotModified,
    Partial,
    PreconditionFailed,
    Representation,
    Unsatisfiable,
    evaluate,
)
from proxy.digest import Digest
from proxy.errors import FillFailed
from proxy.fill import Fill
from proxy.metrics import Metrics
from proxy.peers import Peers
from proxy.ranges import ByteRange
from proxy.storage.layout import Layout

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


def representation(resolved: Resolved) -> Representation:
    """What the client is told about the object: upstream validators, else our digest as ETag."""
    if isinstance(resolved, Hit):
        e = resolved.entry
        etag = e.etag or f'"{e.digest.hex}"'
        return Representation(resolved.size, etag, e.last_modified, e.content_type)
    fill = resolved.fill
    assert fill.meta is not None
    fill_etag = fill.meta.validators.etag or (f'"{fill.blob.digest.hex}"' if fill.blob else None)
    return Representation(fill.size, fill_etag, fill.meta.validators.last_modified, fill.meta.content_type)


def blob_headers(digest: Digest) -> dict[str, str]:
    """Where a committed blob lies on the cache volume, and its digest (path hand-off to clients)."""
    return {BLOB_DIGEST_HEADER: str(digest), BLOB_PATH_HEADER: Layout.blob_name(digest)}


def _committed(resolved: Resolved) -> Digest | None:
    if isinstance(resolved, Hit):
        return resolved.entry.digest
    return resolved.fill.blob.digest if resolved.fill.blob is not None else None


def _headers(rep: Representation, outcome: str, extra: Mapping[str, str]) -> dict[str, str]:
    headers = {"Accept-Ranges": "bytes", CACHE_HEADER: outcome}
    if rep.etag:
        headers["ETag"] = rep.etag
    if rep.last_modified:
        headers["Last-Modified"] = rep.last_modified
    headers.update(extra)
    return headers


async def respond(request: web.Request, resolved: Resolved, metrics: Metrics, options: ServeOptions,
                  extra: Mapping[str, str] = {}, *, redirect_ok: bool = False) -> web.StreamResponse:
    """Answer ``request`` (GET or HEAD) from a resolved object.

    ``redirect_ok``: the adapter allows a peer hop by redirect (its requests are not signed over
    the URL); it has already checked the client's access.
    """
    try:
        rep = representation(resolved)
        decision = evaluate(request.method, request.headers, rep)
        if isinstance(decision, NeedSize):
            assert isinstance(resolved, InFlight)
            await resolved.fill.wait_finished()
            if resolved.fill.error is not None:
                raise resolved.fill.error
            rep = representation(resolved)
            decision = evaluate(request.method, request.headers, rep)
        headers = _headers(rep, resolved.outcome, extra)
        if (digest := _committed(resolved)) is not None:
            headers.update(blob_headers(digest))
        chosen: ByteRange | None
        match decision:
            case NotModified():
                return web.Response(status=304, headers=headers)
            case PreconditionFailed():
                return web.Response(status=412, headers=headers)
            case Unsatisfiable(size=size):
                headers["Content-Range"] = f"bytes */{size}"
                return web.Response(status=416, headers=headers)
            case Partial(range=rng):
                headers["Content-Range"] = rng.content_range(rep.size or 0)
                status, chosen = 206, rng
            case Full():
                status, chosen = 200, None
            case NeedSize():
                raise AssertionError("size is known once the fill has finished")
        headers["Content-Type"] = rep.content_type
        if isinstance(resolved, Hit):
            hopped = await _hop(request, resolved, status, headers, chosen, metrics, options, redirect_ok)
            if hopped is not None:
                return hopped
            return await _send_blob(request, resolved, status, headers, chosen, metrics, options)
        return await _send_fill(request, resolved.fill, status, headers, chosen, rep.size, metrics, options)
    finally:
        resolved.close()


async def _hop(request: web.Request, hit: Hit, status: int, headers: dict[str, str], rng: ByteRange | None,
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


async def _send_blob(request: web.Request, hit: Hit, status: int, headers: dict[str, str],
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


async def _send_fill(request: web.Request, fill: Fill, status: int, headers: dict[str, str],
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
        if options.sendfile and end is not None and await _sendfile_spans(request, fill, start, end, served):
            await response.write_eof()
            return response
        async for chunk in fill.read(start, end):
            await response.write(chunk)
            served.inc(len(chunk))
    except FillFailed as exc:
        return _abort(request, response, str(exc))
    await response.write_eof()
    return response


async def _sendfile_spans(request: web.Request, fill: Fill, start: int, end: int, served: Counter) -> bool:
    """Send [start, end) of a fill with the loop's sendfile, span by span as the bytes land.
    False when the loop has no sendfile (nothing was sent: the caller falls back)."""
    loop = asyncio.get_running_loop()
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    async for fd, offset, count in fill.spans(start, end):
        with os.fdopen(fd, "rb", closefd=False) as file:
            try:
                sent = await loop.sendfile(transport, file, offset, count)
            except NotImplementedError:
                if offset == start:
                    return False
                raise
        served.inc(sent)
        if sent != count:
            raise FillFailed(f"{fill.key}: file shorter than announced at byte {offset + sent}")
    return True


def _abort(request: web.Request, response: web.StreamResponse, why: str) -> web.StreamResponse:
    """Cut the connection mid-body: the client sees an incomplete response, never a clean end.

    aiohttp's own ``write_eof`` then fails on the closed transport, so no chunked terminator
    can be sent after this.
    """
    log.error("aborting response mid-body", extra={"path": request.path, "error": why})
    if request.transport is not None:
        request.transport.abort()
    return response
