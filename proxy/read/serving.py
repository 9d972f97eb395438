"""Answers for a committed blob or an in-progress fill, with ranges and conditionals on both.

What the answer is (``decide``) is pure; the outcomes without a body (304, 412, 416) are raised as
``proxy.errors.Answered`` for the adapter's error table to render as its protocol does. Bodies are
sent by ``proxy.read.send``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from aiohttp import web

from proxy.digest import Digest
from proxy.errors import PreconditionFailed, RangeNotSatisfiable, Unmodified
from proxy.fill.state import Fill
from proxy.observe.metrics import Metrics
from proxy.read import conditional
from proxy.read.conditional import Representation, evaluate
from proxy.read.driver import Hit, InFlight, Resolved
from proxy.read.ranges import ByteRange
from proxy.read.send import CACHE_HEADER, ServeOptions, hop, send_blob, send_fill
from proxy.storage.index import IndexEntry
from proxy.storage.layout import Layout
from proxy.upstream import ObjectMeta


def of_entry(entry: IndexEntry, size: int) -> Representation:
    """What the client is told about a committed blob: upstream validators, else our digest as ETag."""
    return Representation(size, entry.etag or f'"{entry.digest.hex}"', entry.last_modified, entry.content_type)


def of_meta(meta: ObjectMeta) -> Representation:
    """What the client is told about an object the upstream described (its size may be unknown)."""
    return Representation(meta.size, meta.validators.etag, meta.validators.last_modified, meta.content_type)


def of_fill(fill: Fill) -> Representation:
    assert fill.meta is not None
    fill_etag = fill.meta.validators.etag or (f'"{fill.blob.digest.hex}"' if fill.blob else None)
    return Representation(fill.size, fill_etag, fill.meta.validators.last_modified, fill.meta.content_type)


BLOB_DIGEST_HEADER = "X-MM-Blob-Digest"
"""``blake3:<hex>`` of a committed blob: clients that mount the cache volume verify what they read."""
BLOB_PATH_HEADER = "X-MM-Blob-Path"
"""The committed blob's path relative to the cache volume (``blobs/<aa>/<hex>``): path hand-off."""


def blob_headers(digest: Digest) -> dict[str, str]:
    """Where a committed blob lies on the cache volume, and its digest (for the client library)."""
    return {BLOB_DIGEST_HEADER: str(digest), BLOB_PATH_HEADER: Layout.blob_name(digest)}


def committed(resolved: Resolved) -> Digest | None:
    """The blob's digest once it is committed (a miss's headers go out before it is verified)."""
    if isinstance(resolved, Hit):
        return resolved.entry.digest
    return resolved.fill.blob.digest if resolved.fill.blob is not None else None


def representation(resolved: Resolved) -> Representation:
    return of_entry(resolved.entry, resolved.size) if isinstance(resolved, Hit) else of_fill(resolved.fill)


def decide(decision: conditional.Decision, rep: Representation, outcome: str,
           extra: Mapping[str, str]) -> tuple[int, dict[str, str], ByteRange | None]:
    """The status, headers and byte range of a full or partial answer; raises the outcomes that
    have no body (``Unmodified``, ``PreconditionFailed``, ``RangeNotSatisfiable``), with the headers."""
    headers = {"Accept-Ranges": "bytes", CACHE_HEADER: outcome}
    if rep.etag:
        headers["ETag"] = rep.etag
    if rep.last_modified:
        headers["Last-Modified"] = rep.last_modified
    headers.update(extra)
    chosen: ByteRange | None
    match decision:
        case conditional.NotModified():
            raise Unmodified(headers)
        case conditional.PreconditionFailed():
            raise PreconditionFailed(headers)
        case conditional.Unsatisfiable(size=size):
            headers["Content-Range"] = f"bytes */{size}"
            raise RangeNotSatisfiable(size, headers)
        case conditional.Partial(range=rng):
            headers["Content-Range"] = rng.content_range(rep.size or 0)
            status, chosen = 206, rng
        case conditional.Full():
            status, chosen = 200, None
        case conditional.NeedSize():
            raise AssertionError("a range is decided once the size is known")
        case _ as unreachable:
            assert_never(unreachable)
    headers["Content-Type"] = rep.content_type
    return status, headers, chosen


async def _evaluate(request: web.Request, resolved: Resolved) -> tuple[Representation, conditional.Decision]:
    """Evaluate the request's conditionals and range; a range on a fill of unknown size (a chunked
    upstream body) waits for the fill to finish, so the size is known."""
    rep = representation(resolved)
    decision = evaluate(request.method, request.headers, rep)
    if isinstance(decision, conditional.NeedSize) and isinstance(resolved, InFlight):
        await resolved.fill.done()
        rep = representation(resolved)
        decision = evaluate(request.method, request.headers, rep)
    return rep, decision


async def respond(request: web.Request, resolved: Resolved, metrics: Metrics, options: ServeOptions,
                  extra: Mapping[str, str] = {}, *, redirect_ok: bool = False) -> web.StreamResponse:
    """Answer ``request`` (GET or HEAD) from a resolved object.

    ``redirect_ok``: the adapter allows a peer hop by redirect (its requests are not signed over
    the URL); it has already checked the client's access.
    """
    rep, decision = await _evaluate(request, resolved)
    if (digest := committed(resolved)) is not None:
        extra = {**extra, **blob_headers(digest)}
    status, headers, chosen = decide(decision, rep, resolved.outcome, extra)
    if isinstance(resolved, Hit):
        hopped = await hop(request, resolved, status, headers, chosen, metrics, options, redirect_ok)
        if hopped is not None:
            return hopped
        return await send_blob(request, resolved, status, headers, chosen, metrics, options)
    return await send_fill(request, resolved.fill, status, headers, chosen, rep.size, metrics, options)


async def respond_head(request: web.Request, rep: Representation, outcome: str,
                       extra: Mapping[str, str] = {}) -> web.StreamResponse:
    """Answer a HEAD from what is known of the object, without reading or fetching its bytes."""
    status, headers, _ = decide(evaluate(request.method, request.headers, rep), rep, outcome, extra)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = rep.size
    await response.prepare(request)
    await response.write_eof()
    return response
