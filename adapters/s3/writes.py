"""Write-through PutObject: the body is streamed to the upstream and, at the same time, into a
blob on the cache volume; when the upstream accepts the object, the blob is indexed under the key
so the next read is a hit.

Writes happen only with ``--s3-allow-writes`` and client keys (``routes``). The upstream is the
authority: the proxy answers with the upstream's status and ETag, and the blob is committed only
after the upstream said 200 *and* what it stored is what the proxy received: a plain-MD5 ETag
(``"<32 hex>"``, i.e. not SSE-KMS/SSE-C) must be the MD5 of the bytes received, and a HEAD of the
object must show the same ETag and the same size. A mismatch caches nothing and answers
``InternalError`` (the client retries, which rewrites the object). The upstream verifies the payload: a hex
``x-amz-content-sha256`` from the client is signed into the upstream request as the payload hash,
and ``Content-MD5`` / ``x-amz-checksum-*`` headers are forwarded. ``aws-chunked`` bodies are refused
with ``NotImplemented``. Multipart uploads are ``adapters.s3.multipart`` (which shares
``plain_body`` and ``forwarded_headers``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from adapters.s3 import sigv4, wire
from adapters.s3.listing import ListingCache
from adapters.s3.upstream import S3Upstream, cache_key, object_meta, rejection
from proxy.read.core import Core, Upload

log = logging.getLogger(__name__)

WRITE_CHUNK = 1 << 20
FORWARDED = ("content-type", "content-md5", "cache-control", "content-disposition", "content-language",
             "expires", "x-amz-storage-class", "x-amz-sdk-checksum-algorithm")
FORWARDED_PREFIXES = ("x-amz-meta-", "x-amz-checksum-")
_PLAIN_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')
_NOT_MD5_SSE = ("aws:kms", "aws:kms:dsse")


@dataclass
class Received:
    """What the proxy received of a body, counted and hashed as it streamed through."""

    size: int = 0
    md5: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))


def check_stored(etag: str, headers: Mapping[str, str], received: Received) -> None:
    """Raise unless the upstream's answer to a PutObject is consistent with the bytes received:
    its ETag, when it is a plain MD5 (not SSE-KMS or SSE-C, which use other ETags), is their MD5."""
    plain = _PLAIN_MD5_ETAG.fullmatch(etag.strip())
    sse = headers.get("x-amz-server-side-encryption", "").lower()
    if plain is None or sse in _NOT_MD5_SSE or "x-amz-server-side-encryption-customer-algorithm" in headers:
        return
    if plain[1] != received.md5.hexdigest():
        raise wire.S3Fault(wire.INTERNAL_ERROR, "the upstream stored other bytes than this proxy sent it "
                           "(its ETag is not their MD5); nothing was cached: retry the upload")


async def put_object(request: web.Request, upstream: S3Upstream, core: Core, bucket: str, key: str,
                     listings: ListingCache) -> web.StreamResponse:
    length, payload_hash = plain_body(request)
    headers = forwarded_headers(request)
    headers["Content-Length"] = str(length)
    received = Received()
    async with core.write_through(length) as upload:
        body = upload.tee(_counted(request, received))
        response = await upstream.request("PUT", bucket, key, headers=headers, data=body, payload_hash=payload_hash)
        if response.status != 200:
            raise await rejection(response)
        etag = response.headers.get("ETag", "")
        check_stored(etag, response.headers, received)
        reply = {k: v for k, v in response.headers.items()
                 if k.lower() == "etag" or k.lower().startswith(("x-amz-checksum-", "x-amz-version-id",
                                                                "x-amz-server-side-encryption"))}
        response.close()
        listings.forget(bucket)
        await _admit(upstream, upload, bucket, key, etag, received)
        return web.Response(status=200, headers=reply)


def plain_body(request: web.Request) -> tuple[int, str]:
    """The length of a request body sent plainly (not ``aws-chunked``), and the payload hash to sign
    upstream: the client's hex ``x-amz-content-sha256`` (the upstream then verifies the bytes), else
    ``UNSIGNED-PAYLOAD`` (the body is streamed, never held whole)."""
    length = request.content_length
    claimed = request.headers.get("x-amz-content-sha256", sigv4.UNSIGNED_PAYLOAD)
    if "aws-chunked" in request.headers.get("Content-Encoding", "") or claimed.startswith("STREAMING-"):
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, "aws-chunked uploads are not supported: send a plain body")
    if length is None:
        raise wire.S3Fault(wire.MISSING_CONTENT_LENGTH)
    return length, claimed if len(claimed) == 64 else sigv4.UNSIGNED_PAYLOAD


def forwarded_headers(request: web.Request, extra: frozenset[str] = frozenset()) -> dict[str, str]:
    """The client's headers that describe the object or the payload (never its signature)."""
    return {k: v for k, v in request.headers.items()
            if k.lower() in FORWARDED or k.lower() in extra or k.lower().startswith(FORWARDED_PREFIXES)}


async def _counted(request: web.Request, received: Received) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(WRITE_CHUNK):
        received.size += len(chunk)
        received.md5.update(chunk)
        yield chunk


async def _admit(upstream: S3Upstream, upload: Upload, bucket: str, key: str, etag: str, received: Received) -> None:
    """Index the bytes under the version the upstream now has (HEAD gives Last-Modified and the
    content type as stored). If the object already changed again, nothing is indexed; if the
    upstream holds this version at another size than was sent, the write failed."""
    head = await upstream.request("HEAD", bucket, key)
    head.close()
    if head.status != 200 or head.headers.get("ETag") != etag:
        log.warning("write-through not cached: upstream HEAD disagrees", extra={"bucket": bucket, "key": key})
        return
    if head.headers.get("Content-Length") != str(received.size):
        raise wire.S3Fault(wire.INTERNAL_ERROR, f"the upstream stored {head.headers.get('Content-Length')} bytes "
                           f"where this proxy sent {received.size}; nothing was cached: retry the upload")
    await upload.admit(cache_key(bucket, key), object_meta(head.headers, 200))
